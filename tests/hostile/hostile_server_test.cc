// A hostile, scripted SMB2 server (smb2/client/testing/scripted_server.h) against the real Client,
// over Direct TCP and over SMB Direct on the fake verbs. It takes the client to a READ and then
// misbehaves on purpose. For each scenario the client must give a clear error (the specific
// absl code below) within a bounded time, not crash, not leak (ASan/LSan run this too), not
// write outside the caller's buffer nor into an earlier READ's buffer, and another connection
// of the process must keep working.
#include <algorithm>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "smb2/client/client.h"
#include "smbdirect/fake_verbs.h"
#include "smbdirect/smbdirect_transport.h"
#include "smb2/client/testing/harness.h"
#include "smb2/client/testing/scripted_server.h"

namespace smbd {
namespace scripted {
namespace {

constexpr size_t kReadSize = 4096;  // the RDMA channel on SMBD (rdma_threshold_per_io set to it)
constexpr size_t kGuard = 64;
constexpr absl::Duration kBound = absl::Seconds(10);

// Declared right after the network and before the connections, so that it runs after they are
// gone: every registration and endpoint the SMB Direct connections made is released.
struct NoLeaksOn {
  FakeRdmaNetwork* net;
  ~NoLeaksOn() {
    EXPECT_EQ(net->live_memory_regions(), 0) << "leaked registrations";
    EXPECT_EQ(net->live_endpoints(), 0) << "leaked endpoints";
  }
};

// A connection taken to an open file.
struct Opened {
  Rig rig;
  std::unique_ptr<Session> session;
  std::unique_ptr<Tree> tree;
  std::unique_ptr<File> file;  // destroyed first
};

void OpenFile(TransportKind kind, FakeRdmaNetwork* net, const RigOptions& given, Opened* o) {
  // The scenarios' 4 KiB reads go by the RDMA channel over SMB Direct (by default, I/O below
  // 64 KiB that must be registered per I/O goes inline: ClientOptions::rdma_threshold_per_io).
  RigOptions options = given;
  options.client.rdma_threshold_per_io = kReadSize;
  absl::Status s = ConnectRig(kind, net, options, &o->rig);
  ASSERT_TRUE(s.ok()) << s;
  Credentials anon;
  anon.anonymous = true;
  auto session = o->rig.client->Login(anon);
  ASSERT_TRUE(session.ok()) << session.status();
  o->session = *std::move(session);
  auto tree = o->session->TreeConnect("share");
  ASSERT_TRUE(tree.ok()) << tree.status();
  o->tree = *std::move(tree);
  auto file = o->tree->Open("file", OpenOptions());
  ASSERT_TRUE(file.ok()) << file.status();
  o->file = *std::move(file);
}

// Over SMB Direct: the client's registrations for the peer still alive (0 over TCP). Once a READ
// has returned, none may be: the peer reaches only the bytes of I/O in progress.
uint64_t LiveRegistrations(const Opened& o) {
  auto* t = dynamic_cast<SmbDirectTransport*>(o.rig.client->connection()->transport());
  return t == nullptr ? 0 : t->stats().live_registrations;
}

// What one transport must do with a scenario.
struct Expect {
  bool applies = false;
  // The first READ: kOk (then its first `data_bytes` bytes are the file's and the rest is what
  // the caller's buffer held before) or this error.
  absl::StatusCode first = absl::StatusCode::kOk;
  // The second READ, into another buffer: this code, or std::nullopt for "ends in bounded time".
  std::optional<absl::StatusCode> second;
  size_t data_bytes = kReadSize;
  // The fake verbs refused one of the server's RDMA operations (it reached outside what the
  // client exposed).
  bool rdma_refused = false;
};
Expect Ok() {
  Expect e;
  e.applies = true;
  return e;
}
Expect Err(absl::StatusCode code) {
  Expect e = Ok();
  e.first = code;
  return e;
}
Expect NotApplicable() { return Expect(); }

struct Case {
  Misbehavior m;
  Expect tcp;
  Expect smbd;
};

struct Param {
  TransportKind kind;
  Case c;
  const Expect& expect() const { return kind == TransportKind::kTcp ? c.tcp : c.smbd; }
};

void PrintTo(const Param& p, std::ostream* os) {
  *os << TransportName(p.kind) << "/" << MisbehaviorName(p.c.m);
}

std::vector<Case> Cases() {
  using C = absl::StatusCode;
  std::vector<Case> cases = {
      {Misbehavior::kNone, Ok(), Ok()},
      {Misbehavior::kGrantZeroForever, Ok(), Ok()},
      {Misbehavior::kGrantHuge, Ok(), Ok()},
      {Misbehavior::kWrongMessageId, Err(C::kDeadlineExceeded), Err(C::kDeadlineExceeded)},
      {Misbehavior::kDuplicateAnswer, Ok(), Ok()},
      {Misbehavior::kDataPastTheFrame, Err(C::kDataLoss), Err(C::kDataLoss)},
      // Over SMB Direct the READ asked for the RDMA channel; 8 KiB inline is refused the same.
      {Misbehavior::kMoreDataThanAsked, Err(C::kDataLoss), Err(C::kDataLoss)},
      {Misbehavior::kTruncatedCompound, Err(C::kDataLoss), Err(C::kDataLoss)},
      {Misbehavior::kPendingForever, Err(C::kDeadlineExceeded), Err(C::kDeadlineExceeded)},
      {Misbehavior::kOplockBreakUnknown, Ok(), Ok()},
      // Breaks for leases never granted: counted and dropped, nothing queued or acknowledged.
      {Misbehavior::kLeaseBreakUnknown, Ok(), Ok()},
      {Misbehavior::kDisconnect, Err(C::kUnavailable), Err(C::kUnavailable)},
      {Misbehavior::kGarbageFrame, Err(C::kDataLoss), Err(C::kDataLoss)},
      // TCP: 16 MiB - 1 is a legal frame length; the request times out while the transport waits
      // (its stall timeout then ends the connection). SMB Direct: a first fragment whose
      // RemainingDataLength announces 16 MiB - 1 in all, above the MaxFragmentedSize the client
      // negotiated: refused at once ([MS-SMBD] 3.1.5.8).
      {Misbehavior::kHugeFrameLength, Err(C::kDeadlineExceeded), Err(C::kDataLoss)},
  };
  // The RDMA channel exists only on SMB Direct.
  Expect e;
  // (a) 64 bytes past the descriptor: the registration covers exactly the READ's bytes, so the
  // fake verbs refuse the write (a remote access error, which breaks the RC connection as on
  // hardware), and the client's READ fails with the connection.
  e = Err(C::kUnavailable);
  e.rdma_refused = true;
  cases.push_back({Misbehavior::kRdmaWritePastDescriptor, NotApplicable(), e});
  // (b) A token from the first (completed) READ: deregistered when that READ finished, so the
  // write is refused and the connection breaks; the first buffer stays as the READ left it.
  e = Ok();
  e.second = C::kUnavailable;
  e.rdma_refused = true;
  cases.push_back({Misbehavior::kRdmaStaleToken, NotApplicable(), e});
  // (d) DataRemaining above what was written but within the READ: the client cannot tell (the
  // data never crosses it); it returns 4096 bytes, of which the server wrote 2048 and the rest is
  // what the caller's buffer held. Nothing outside the buffer, nothing from anywhere else.
  e = Ok();
  e.data_bytes = kReadSize / 2;
  cases.push_back({Misbehavior::kRdmaRemainingMoreThanWritten, NotApplicable(), e});
  // (d) DataRemaining above the READ's Length: refused.
  cases.push_back({Misbehavior::kRdmaRemainingMoreThanAsked, NotApplicable(), Err(C::kDataLoss)});
  // (e) The peer disconnects in the middle of the RDMA transfer.
  cases.push_back({Misbehavior::kDisconnectMidRdma, NotApplicable(), Err(C::kUnavailable)});
  // The READ's destination is registered REMOTE_WRITE only: the server cannot read what the
  // caller's buffer held ([MS-SMB2] 3.2.4.6 exposes the buffer for the data to be written).
  e = Err(C::kUnavailable);
  e.rdma_refused = true;
  cases.push_back({Misbehavior::kRdmaReadReadDestination, NotApplicable(), e});
  return cases;
}

std::vector<Param> Params() {
  std::vector<Param> out;
  for (TransportKind kind : {TransportKind::kTcp, TransportKind::kSmbDirect}) {
    for (const Case& c : Cases()) {
      Param p{kind, c};
      if (p.expect().applies) out.push_back(p);
    }
  }
  return out;
}

// Waits (bounded) for the server to record an RDMA operation that failed: it records after its
// operation completes, and the client may notice the broken connection first.
bool ServerSawRefusedRdma(ScriptedSmb2Server& script, std::string* ops) {
  for (int i = 0; i < 500; ++i) {
    for (const RdmaOp& op : script.rdma_ops()) {
      if (!op.status.ok()) {
        *ops = op.status.ToString();
        return true;
      }
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

class HostileTest : public ::testing::TestWithParam<Param> {};

TEST_P(HostileTest, ClearErrorInBoundedTimeAndNothingOutsideTheBuffer) {
  const Param p = GetParam();
  const Expect& e = p.expect();
  const std::string name = absl::StrCat(TransportName(p.kind), "/", MisbehaviorName(p.c.m));
  FakeRdmaNetwork net;  // both SMB Direct connections of the test share it
  NoLeaksOn leaks{&net};
  RigOptions hostile_options;
  hostile_options.script.misbehavior = p.c.m;
  Opened conn;
  ASSERT_NO_FATAL_FAILURE(OpenFile(p.kind, &net, hostile_options, &conn));
  // A well-behaved connection in the same process (and on the same fake network).
  Opened good;
  ASSERT_NO_FATAL_FAILURE(OpenFile(p.kind, &net, RigOptions(), &good));

  // The first READ, into `a`, followed by guard bytes.
  std::vector<uint8_t> a(kReadSize + kGuard, 0x11);
  const absl::Time start = absl::Now();
  auto n = conn.file->Read(0, absl::MakeSpan(a).subspan(0, kReadSize));
  EXPECT_LT(absl::Now() - start, kBound) << name;
  if (e.first == absl::StatusCode::kOk) {
    ASSERT_TRUE(n.ok()) << name << ": " << n.status();
    EXPECT_EQ(*n, kReadSize);
    for (size_t i = 0; i < kReadSize; ++i) {
      ASSERT_EQ(a[i], i < e.data_bytes ? ScriptedSmb2Server::kFileByte : 0x11)
          << name << " byte " << i;
    }
  } else {
    ASSERT_FALSE(n.ok()) << name;
    EXPECT_EQ(n.status().code(), e.first) << name << ": " << n.status();
    EXPECT_FALSE(n.status().message().empty());
  }
  for (size_t i = kReadSize; i < a.size(); ++i) ASSERT_EQ(a[i], 0x11) << name << " wrote past";
  const std::vector<uint8_t> a_after = a;
  EXPECT_EQ(LiveRegistrations(conn), 0u) << name << ": memory still exposed after the READ";

  std::cout << name << ": first READ "
            << (n.ok() ? absl::StrCat("OK, ", *n, " bytes") : n.status().ToString()) << "\n";

  // A second request on the hostile connection, into another buffer, also ends promptly.
  std::vector<uint8_t> b(kReadSize + kGuard, 0x22);
  const absl::Time start2 = absl::Now();
  auto n2 = conn.file->Read(0, absl::MakeSpan(b).subspan(0, kReadSize));
  EXPECT_LT(absl::Now() - start2, kBound) << name;
  std::cout << name << ": second READ "
            << (n2.ok() ? absl::StrCat("OK, ", *n2, " bytes") : n2.status().ToString()) << "\n";
  if (e.second.has_value()) {
    if (*e.second == absl::StatusCode::kOk) {
      EXPECT_TRUE(n2.ok()) << name << ": " << n2.status();
    } else {
      ASSERT_FALSE(n2.ok()) << name;
      EXPECT_EQ(n2.status().code(), *e.second) << name << ": " << n2.status();
      EXPECT_FALSE(n2.status().message().empty());
    }
  }
  for (size_t i = kReadSize; i < b.size(); ++i) ASSERT_EQ(b[i], 0x22) << name << " wrote past";
  EXPECT_EQ(LiveRegistrations(conn), 0u) << name << ": memory still exposed after the READ";
  // Nothing reached the first READ's buffer after that READ returned.
  EXPECT_TRUE(a == a_after) << name << ": the first buffer changed after its READ returned";

  if (e.rdma_refused) {
    std::string what;
    EXPECT_TRUE(ServerSawRefusedRdma(conn.rig.server->script(), &what))
        << name << ": the fake verbs let the server's RDMA access through";
    EXPECT_NE(what.find("remote access"), std::string::npos) << what;
    std::cout << name << ": the server's RDMA operation: " << what << "\n";
  } else {
    for (const RdmaOp& op : conn.rig.server->script().rdma_ops()) {
      EXPECT_TRUE(op.status.ok()) << name << ": " << op.status;
    }
  }
  if (p.kind == TransportKind::kSmbDirect && e.first == absl::StatusCode::kOk) {
    EXPECT_GT(conn.rig.client->stats().rdma_reads, 0u) << name << ": the RDMA channel unused";
  }
  if (p.c.m == Misbehavior::kLeaseBreakUnknown) {
    // Both READs drew 50 breaks for leases this client never held: each counted, none
    // acknowledged (no request went out for them).
    const ClientStats st = conn.rig.client->stats();
    EXPECT_EQ(st.unknown_lease_breaks, 100u) << name;
    EXPECT_EQ(st.lease_breaks, 0u) << name;
    EXPECT_EQ(st.lease_break_acks + st.lease_break_ack_failures, 0u) << name;
  }

  // The other connection is unaffected.
  std::vector<uint8_t> other(kReadSize);
  auto g = good.file->Read(0, absl::MakeSpan(other));
  ASSERT_TRUE(g.ok()) << name << ": " << g.status();
  EXPECT_EQ(*g, kReadSize);
  EXPECT_EQ(std::count(other.begin(), other.end(), ScriptedSmb2Server::kFileByte),
            static_cast<long>(kReadSize));
}

INSTANTIATE_TEST_SUITE_P(Scenarios, HostileTest, ::testing::ValuesIn(Params()),
                         [](const ::testing::TestParamInfo<Param>& i) {
                           return absl::StrCat(TransportName(i.param.kind), "_",
                                               MisbehaviorName(i.param.c.m));
                         });

// (c) A peer that stops granting SMB Direct send credits after the negotiate: the client spends
// the credits the negotiate gave, then its next send waits SmbDirectOptions::send_timeout for a
// credit and fails the connection ([MS-SMBD] 3.1.5.1: never send without a credit).
TEST(HostileSmbDirectTest, PeerStopsGrantingCreditsAfterTheNegotiate) {
  FakeRdmaNetwork net;
  NoLeaksOn leaks{&net};
  RigOptions options;
  options.smbd_server.response.credits_granted = 16;  // the connection setup takes 5 of them
  options.smbd_server.grant_per_message = 0;
  options.smbd_client.send_timeout = absl::Seconds(1);
  Opened conn;
  ASSERT_NO_FATAL_FAILURE(OpenFile(TransportKind::kSmbDirect, &net, options, &conn));
  Opened good;
  ASSERT_NO_FATAL_FAILURE(OpenFile(TransportKind::kSmbDirect, &net, RigOptions(), &good));

  int ok_reads = 0;
  absl::Status failure;
  absl::Duration failed_after;
  for (int i = 0; i < 64 && failure.ok(); ++i) {
    std::vector<uint8_t> buf(kReadSize + kGuard, 0x33);
    const absl::Time start = absl::Now();
    auto n = conn.file->Read(0, absl::MakeSpan(buf).subspan(0, kReadSize));
    failed_after = absl::Now() - start;
    ASSERT_LT(failed_after, kBound) << i;
    for (size_t j = kReadSize; j < buf.size(); ++j) ASSERT_EQ(buf[j], 0x33) << "wrote past";
    if (n.ok()) {
      ++ok_reads;
      EXPECT_EQ(buf[0], ScriptedSmb2Server::kFileByte);
    } else {
      failure = n.status();
    }
  }
  ASSERT_FALSE(failure.ok()) << "64 READs went on " << 16 << " credits";
  std::cout << "credit starvation: " << ok_reads << " READs, then after "
            << absl::FormatDuration(failed_after) << ": " << failure << "\n";
  EXPECT_LE(ok_reads, 16 - 5);
  EXPECT_EQ(failure.code(), absl::StatusCode::kDeadlineExceeded) << failure;
  EXPECT_NE(failure.message().find("credit"), absl::string_view::npos) << failure;
  EXPECT_GE(failed_after, absl::Seconds(1));
  // The connection is failed for everyone: the next request fails at once.
  std::vector<uint8_t> buf(kReadSize);
  const absl::Time start = absl::Now();
  EXPECT_FALSE(conn.file->Read(0, absl::MakeSpan(buf)).ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));

  std::vector<uint8_t> other(kReadSize);
  auto g = good.file->Read(0, absl::MakeSpan(other));
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(other[100], ScriptedSmb2Server::kFileByte);
}

// A WRITE's source is registered REMOTE_READ only ([MS-SMB2] 3.2.4.7): a server that RDMA-writes
// into it is refused, the caller's data stays as it was, and the WRITE fails.
TEST(HostileSmbDirectTest, ServerCannotWriteIntoAWritesSource) {
  FakeRdmaNetwork net;
  NoLeaksOn leaks{&net};
  RigOptions options;
  options.script.misbehavior = Misbehavior::kRdmaWriteIntoWriteSource;
  Opened conn;
  ASSERT_NO_FATAL_FAILURE(OpenFile(TransportKind::kSmbDirect, &net, options, &conn));
  Opened good;
  ASSERT_NO_FATAL_FAILURE(OpenFile(TransportKind::kSmbDirect, &net, RigOptions(), &good));

  std::vector<uint8_t> src(kReadSize + kGuard, 0x44);
  const absl::Time start = absl::Now();
  absl::Status s = conn.file->Write(0, absl::MakeConstSpan(src).subspan(0, kReadSize));
  EXPECT_LT(absl::Now() - start, kBound);
  std::cout << "write into a WRITE's source: " << s << "\n";
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(std::count(src.begin(), src.end(), 0x44), static_cast<long>(src.size()));
  std::string what;
  EXPECT_TRUE(ServerSawRefusedRdma(conn.rig.server->script(), &what));
  EXPECT_NE(what.find("remote access"), std::string::npos) << what;

  std::vector<uint8_t> other(kReadSize);
  auto g = good.file->Read(0, absl::MakeSpan(other));
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(other[100], ScriptedSmb2Server::kFileByte);
}

}  // namespace
// A server that streams directory entries forever. Tree::List stops at
// ClientOptions::max_list_entries with a clear error (before: 100,001 rounds of whatever the
// server sent, all kept in memory); Tree::ListEach hands entries over as they come and stops
// when the visitor says so.
TEST(HostileListTest, EndlessDirectoryIsCutOffWithAClearError) {
  FakeRdmaNetwork net;
  RigOptions options;
  options.script.directory_ends = false;
  options.script.directory_batch = 500;
  options.client.max_list_entries = 2000;
  Opened conn;
  ASSERT_NO_FATAL_FAILURE(OpenFile(TransportKind::kTcp, &net, options, &conn));
  const absl::Time start = absl::Now();
  auto list = conn.tree->List("dir");
  EXPECT_LT(absl::Now() - start, kBound);
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.status().code(), absl::StatusCode::kResourceExhausted) << list.status();
  EXPECT_NE(list.status().message().find("max_list_entries"), absl::string_view::npos);

  int seen = 0;
  absl::Status s = conn.tree->ListEach("dir", [&](const FileInfo& fi) {
    EXPECT_EQ(fi.name, absl::StrCat("f", seen));
    return ++seen == 1234 ? absl::CancelledError("enough") : absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  EXPECT_EQ(seen, 1234);

  // Nothing but "." forever: no progress, refused after a few rounds.
  RigOptions dots;
  dots.script.directory_ends = false;
  dots.script.directory_dots_only = true;
  Opened d;
  ASSERT_NO_FATAL_FAILURE(OpenFile(TransportKind::kTcp, &net, dots, &d));
  const absl::Time dots_start = absl::Now();
  auto none = d.tree->List("dir");
  EXPECT_LT(absl::Now() - dots_start, kBound);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kDataLoss) << none.status();

  // A directory that ends is listed whole.
  RigOptions finite;
  finite.script.directory_batch = 300;
  Opened ok;
  ASSERT_NO_FATAL_FAILURE(OpenFile(TransportKind::kTcp, &net, finite, &ok));
  auto all = ok.tree->List("dir");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), 300u);
  EXPECT_EQ((*all)[299].name, "f299");
}

}  // namespace scripted
}  // namespace smbd
