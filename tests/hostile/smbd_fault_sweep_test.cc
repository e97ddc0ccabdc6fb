// Whole-session fault sweep over SMB Direct on the fake verbs. For N = 1, 2,
// 3, ... the Nth verbs operation of the client's endpoint fails (FakeRdmaNetwork::
// FailNthOperation), and a whole session runs against the scripted server's in-memory share:
// connect (SmbDirectTransport over the fake), Client::Create, anonymous Login, TreeConnect,
// CREATE for write, an 8 MiB WRITE on the RDMA channel plus a 3000-byte inline one, FLUSH, the
// whole file read back (RDMA and inline), CLOSE, TREE_DISCONNECT, LOGOFF. Every run must end in
// success (and then the data read back is exactly what was written) or a clear error (non-OK,
// with a message), never hang (each run is bounded), never crash or leak (ASan/LSan and TSan run
// this too; the fake's registrations and endpoints are counted after each run). The sweep stops
// at the first N that the session never reaches. A second sweep does the same with the Nth
// completion turned into an error (InjectCompletionErrorAt), which breaks the connection as a
// failed work request does on hardware.
//
// Every N is tried in every build: a run takes milliseconds (a few hundred at most under TSan);
// each sweep takes about 1 s plain or under ASan, about 25 s under TSan. No sampling needed.
#include <algorithm>
#include <cstdint>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "gtest/gtest.h"
#include "smb2/client/client.h"
#include "smb2/client/testing/harness.h"
#include "smb2/pdu/create.h"
#include "smbdirect/fake_verbs.h"

namespace smbd {
namespace scripted {
namespace {

constexpr size_t kBigWrite = 8 << 20;  // 8 x 1 MiB WRITEs on the RDMA channel
constexpr size_t kTail = 3000;         // below rdma_threshold: inline, in three SMBD fragments
constexpr size_t kTotal = kBigWrite + kTail;
constexpr size_t kGuard = 64;
constexpr absl::Duration kRunBound = absl::Seconds(15);

// A pattern with no period a misplaced chunk or page could hide in.
const std::vector<uint8_t>& Pattern() {
  static const std::vector<uint8_t>* p = [] {
    auto* v = new std::vector<uint8_t>(kTotal);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < v->size(); ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      (*v)[i] = static_cast<uint8_t>(x);
    }
    return v;
  }();
  return *p;
}

enum class FaultKind { kOperation, kCompletion };

struct RunResult {
  absl::Status status;    // the session's first error; OK when every step worked
  const char* step = "";  // the step that ended it (or the last one)
  bool wrong_data = false;
  bool wrote_past = false;
  bool hit = false;  // the injected fault happened
  absl::Duration took;
};

// The session itself. Session, tree and file are destroyed (in that reverse order) before the
// rig, which the caller owns.
absl::Status RunSteps(FakeRdmaNetwork* net, Rig* rig, RunResult* result) {
  result->step = "connect";
  SMBD_RETURN_IF_ERROR(ConnectRig(TransportKind::kSmbDirect, net, RigOptions(), rig));
  Credentials anon;
  anon.anonymous = true;
  result->step = "login";
  SMBD_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, rig->client->Login(anon));
  result->step = "tree connect";
  SMBD_ASSIGN_OR_RETURN(std::unique_ptr<Tree> tree, session->TreeConnect("share"));
  OpenOptions oo;
  oo.read = true;
  oo.write = true;
  oo.disposition = kFileCreate;
  result->step = "create";
  SMBD_ASSIGN_OR_RETURN(std::unique_ptr<File> file, tree->Open("sweep.bin", oo));
  const std::vector<uint8_t>& data = Pattern();
  result->step = "write";
  SMBD_RETURN_IF_ERROR(file->Write(0, absl::MakeConstSpan(data).subspan(0, kBigWrite)));
  SMBD_RETURN_IF_ERROR(file->Write(kBigWrite, absl::MakeConstSpan(data).subspan(kBigWrite)));
  result->step = "flush";
  SMBD_RETURN_IF_ERROR(file->Flush());
  std::vector<uint8_t> back(kTotal + kGuard, 0x5A);
  result->step = "read";
  absl::StatusOr<uint64_t> got = file->Read(0, absl::MakeSpan(back).subspan(0, kTotal));
  for (size_t i = kTotal; i < back.size(); ++i) result->wrote_past |= back[i] != 0x5A;
  SMBD_RETURN_IF_ERROR(got.status());
  if (*got != kTotal || !std::equal(data.begin(), data.end(), back.begin())) {
    result->wrong_data = true;
  }
  result->step = "close";
  SMBD_RETURN_IF_ERROR(file->Close());
  result->step = "tree disconnect";
  SMBD_RETURN_IF_ERROR(tree->Disconnect());
  result->step = "logoff";
  SMBD_RETURN_IF_ERROR(session->Logoff());
  return absl::OkStatus();
}

RunResult RunSession(FaultKind kind, int64_t n) {
  FakeRdmaNetwork net;
  // Faults apply to the client's endpoint (FaultSide::kClient); armed before the connect, which
  // is the first operation counted.
  if (kind == FaultKind::kOperation) {
    net.FailNthOperation(n);
  } else {
    net.InjectCompletionErrorAt(n, WcStatus::kRetryExceeded);
  }
  RunResult r;
  const absl::Time start = absl::Now();
  {
    Rig rig;
    r.status = RunSteps(&net, &rig, &r);
    // Counted before the teardown: the flushes of the receives still posted then (255 of them)
    // are completions too, but a fault there can no longer change the session's outcome.
    r.hit = (kind == FaultKind::kOperation ? net.operation_count() : net.completion_count()) >= n;
  }
  r.took = absl::Now() - start;
  // Everything the session made is gone with it.
  EXPECT_EQ(net.live_memory_regions(), 0) << "n=" << n << ": leaked registrations";
  EXPECT_EQ(net.live_endpoints(), 0) << "n=" << n << ": leaked endpoints";
  EXPECT_EQ(net.outstanding_work_requests(), 0) << "n=" << n;
  return r;
}

struct Tally {
  int points = 0;
  int clean_errors = 0;
  int successes = 0;
  int wrong_data = 0;
  int wrote_past = 0;
  absl::Duration slowest;
  absl::Duration total;
  std::map<std::string, int> codes;            // of the clean errors
  std::map<std::string, int> steps;            // where the clean errors ended the session
  std::vector<int64_t> success_at;             // the N of the successes
  std::map<std::string, std::string> example;  // a clean error's message, by step
};

Tally Sweep(FaultKind kind) {
  Tally t;
  for (int64_t n = 1; n < 100000; ++n) {
    RunResult r = RunSession(kind, n);
    t.total += r.took;
    t.slowest = std::max(t.slowest, r.took);
    EXPECT_LT(r.took, kRunBound) << "n=" << n << ": " << r.status;
    EXPECT_FALSE(r.wrote_past) << "n=" << n << ": wrote past the caller's buffer";
    t.wrote_past += r.wrote_past;
    if (!r.hit) {
      // The session ended before the Nth operation: it ran without a fault and must succeed.
      EXPECT_TRUE(r.status.ok()) << "n=" << n << " (not reached): " << r.status;
      EXPECT_FALSE(r.wrong_data) << "n=" << n << " (not reached)";
      break;
    }
    ++t.points;
    if (r.wrong_data) {
      ++t.wrong_data;
      ADD_FAILURE() << "n=" << n << ": wrong data read back (status " << r.status << ")";
    } else if (r.status.ok()) {
      // The fault came after the last step's answer (e.g. the receive reposted after the
      // LOGOFF response), or was one the session could do without.
      ++t.successes;
      t.success_at.push_back(n);
    } else {
      ++t.clean_errors;
      EXPECT_FALSE(r.status.message().empty()) << "n=" << n;
      // A local verbs failure must not be reported as corrupt data from the server.
      EXPECT_NE(r.status.code(), absl::StatusCode::kDataLoss) << "n=" << n << ": " << r.status;
      t.codes[absl::StatusCodeToString(r.status.code())]++;
      t.steps[r.step]++;
      t.example.emplace(r.step, r.status.ToString());
    }
  }
  return t;
}

void Report(const char* what, const Tally& t) {
  std::vector<std::string> codes, steps;
  for (const auto& [code, count] : t.codes) codes.push_back(absl::StrCat(code, " ", count));
  for (const auto& [step, count] : t.steps) steps.push_back(absl::StrCat(step, " ", count));
  std::cout << "SMB Direct whole-session sweep, " << what << ": " << t.points
            << " injection points, clean errors " << t.clean_errors << ", successes " << t.successes
            << " (at N = " << absl::StrJoin(t.success_at, ", ") << "), wrong data " << t.wrong_data
            << ", writes past the buffer " << t.wrote_past
            << "; error codes: " << absl::StrJoin(codes, ", ")
            << "; failed steps: " << absl::StrJoin(steps, ", ") << "; slowest run "
            << absl::FormatDuration(t.slowest) << ", all runs " << absl::FormatDuration(t.total)
            << std::endl;
  for (const auto& [step, message] : t.example) {
    std::cout << "  e.g. " << step << ": " << message << "\n";
  }
}

TEST(SmbDirectFaultSweep, FailEveryVerbsOperationOfAWholeSession) {
  const Tally t = Sweep(FaultKind::kOperation);
  Report("Nth verbs operation fails", t);
  EXPECT_EQ(t.wrong_data, 0);
  EXPECT_GE(t.points, 50);
  EXPECT_EQ(t.points, t.clean_errors + t.successes + t.wrong_data);
}

TEST(SmbDirectFaultSweep, FailEveryCompletionOfAWholeSession) {
  const Tally t = Sweep(FaultKind::kCompletion);
  Report("Nth completion is an error", t);
  EXPECT_EQ(t.wrong_data, 0);
  // A session has about 60 completions before its teardown (sends and receives; RDMA
  // operations are the server's).
  EXPECT_GE(t.points, 40);
  EXPECT_EQ(t.points, t.clean_errors + t.successes + t.wrong_data);
}

}  // namespace
}  // namespace scripted
}  // namespace smbd
