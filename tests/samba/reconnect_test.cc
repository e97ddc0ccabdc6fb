// Sessions that survive the network (ClientOptions::reconnect), against a real Samba smbd on
// loopback: the connection is cut under the client by tests/samba/cutting_proxy.h, in the
// middle of 1 GiB reads and writes, several times; the bytes must come out equal (SHA-256, and
// the file on the server's disk), durable handles must come back (DH2C), the rest must fail
// clearly. The "durable" share has durable handles on and POSIX locking off (samba-server).
#include <openssl/sha.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "capi/smbd.h"
#include "connect/connect.h"
#include "gtest/gtest.h"
#include "smb2/client/client.h"
#include "tests/samba/cutting_proxy.h"
#include "tests/samba/samba_env.h"
#include "tests/samba/stream_sha.h"

namespace smbd {
namespace {

using testing_samba::CuttingProxy;
using testing_samba::Env;
using testing_samba::FileSha;
using testing_samba::Fill;
using testing_samba::SambaEnv;
using testing_samba::Sha256;
using testing_samba::StreamSha;

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;

// Cuts the proxy's connections each time `counter()` passes the next threshold.
class Cutter {
 public:
  Cutter(CuttingProxy* proxy, std::function<uint64_t()> counter, std::vector<uint64_t> at)
      : thread_([this, proxy, counter, at] {
          for (uint64_t threshold : at) {
            while (!stop_ && counter() < threshold) absl::SleepFor(absl::Microseconds(200));
            if (stop_) return;
            proxy->Cut();
            cuts_++;
          }
        }) {}
  ~Cutter() { Join(); }
  int Join() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return cuts_.load();
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> cuts_{0};
  std::thread thread_;
};

struct Mounted {
  std::unique_ptr<Client> client;
  std::unique_ptr<Session> session;
  std::unique_ptr<Tree> tree;
};

class ReconnectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!env_.ok()) GTEST_SKIP() << "no Samba server in the environment (run tests/samba/run-suite)";
    share_dir_ = Env("SAMBA_SHARE_DIR_DURABLE");
    ASSERT_FALSE(share_dir_.empty());
    proxy_ = std::make_unique<CuttingProxy>(env_.port);
  }

  static ClientOptions Resilient(absl::Duration outage = absl::Seconds(30)) {
    ClientOptions o;
    o.reconnect.max_outage = outage;
    o.server_name = "127.0.0.1";
    return o;
  }
  Credentials User() const {
    Credentials c;
    c.user = env_.user;
    c.password = SecretBytes::FromString(env_.password);
    c.kerberos = KerberosUse::kNever;
    return c;
  }
  // Through the proxy (the default) or straight to Samba.
  Mounted Mount(const ClientOptions& o, bool direct = false) {
    Mounted m;
    auto c = ConnectTcp("127.0.0.1", direct ? env_.port : proxy_->port(), o);
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return m;
    m.client = *std::move(c);
    auto s = m.client->Login(User());
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) return m;
    m.session = *std::move(s);
    auto t = m.session->TreeConnect("durable");
    EXPECT_TRUE(t.ok()) << t.status();
    if (t.ok()) m.tree = *std::move(t);
    return m;
  }
  static OpenOptions Durable(bool write) {
    OpenOptions o;
    o.write = write;
    o.disposition = write ? 5 : 1;  // overwrite-if / open
    o.durable_timeout = absl::Seconds(60);
    o.lease = lease::kRead | lease::kHandle | (write ? lease::kWrite : 0);
    return o;
  }
  std::string MakeSource(const std::string& name, uint64_t size) {
    return testing_samba::MakeSourceFile(share_dir_, name, size);
  }

  SambaEnv env_;
  std::string share_dir_;
  std::unique_ptr<CuttingProxy> proxy_;
};

TEST_F(ReconnectTest, OneGibibyteWriteSurvivesThreeCuts) {
  Mounted m = Mount(Resilient());
  ASSERT_NE(m.tree, nullptr);
  auto f = m.tree->Open("reconnect-write.bin", Durable(true));
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE((*f)->durable());
  const uint64_t base = proxy_->bytes_up();
  Cutter cutter(proxy_.get(), [&] { return proxy_->bytes_up() - base; },
                {200 * kMiB, 500 * kMiB, 800 * kMiB});
  std::vector<uint8_t> piece(64 * kMiB);
  for (uint64_t at = 0; at < kGiB; at += piece.size()) {
    Fill(at, absl::MakeSpan(piece));
    absl::Status s = (*f)->Write(at, piece);
    ASSERT_TRUE(s.ok()) << "at " << at << ": " << s;
  }
  EXPECT_EQ(cutter.Join(), 3);
  ASSERT_TRUE((*f)->Close().ok());
  const ClientStats st = m.client->stats();
  EXPECT_EQ(st.reconnects, 3u);
  EXPECT_EQ(st.handles_reopened, 3u);
  EXPECT_EQ(st.handles_lost, 0u);
  EXPECT_GT(st.requests_replayed, 0u);
  EXPECT_EQ((*f)->reopens(), 3u);
  EXPECT_EQ(proxy_->connections(), 4);
  // What the server wrote to its disk is the source, byte for byte.
  uint64_t size = 0;
  EXPECT_EQ(FileSha(absl::StrCat(share_dir_, "/reconnect-write.bin"), &size), StreamSha(kGiB));
  EXPECT_EQ(size, kGiB);
  std::cout << "1 GiB write, 3 cuts: " << st.requests_replayed << " WRITEs replayed, "
            << st.reconnect_attempts_failed << " failed attempts, re-established in "
            << st.reconnect_us_total / 3 << " us on average, " << st.reconnect_us_max
            << " us at most\n";
  unlink(absl::StrCat(share_dir_, "/reconnect-write.bin").c_str());
}

// Two readers share the client: one streams the whole GiB (ReadTo), the other reads a 256 MiB
// range into one buffer (Read); the cuts land in both. Each gets the source's bytes.
TEST_F(ReconnectTest, OneGibibyteReadSurvivesThreeCutsWithTwoReaders) {
  MakeSource("reconnect-read.bin", kGiB);
  const std::string want = StreamSha(kGiB);
  Mounted m = Mount(Resilient());
  ASSERT_NE(m.tree, nullptr);
  auto f = m.tree->Open("reconnect-read.bin", Durable(false));
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE((*f)->durable());
  const uint64_t base = proxy_->bytes_down();
  Cutter cutter(proxy_.get(), [&] { return proxy_->bytes_down() - base; },
                {200 * kMiB, 500 * kMiB, 800 * kMiB});
  std::vector<uint8_t> range(256 * kMiB);
  absl::StatusOr<uint64_t> ranged = absl::UnknownError("not run");
  std::thread second([&] {
    for (int i = 0; i < 3; ++i) {  // again, so that it is still reading when a cut comes
      ranged = (*f)->Read(512 * kMiB, absl::MakeSpan(range));
      if (!ranged.ok()) return;
    }
  });
  Sha256 sha;
  auto n = (*f)->ReadTo(0, UINT64_MAX, [&](absl::Span<const uint8_t> b) {
    sha.Update(b);
    return absl::OkStatus();
  });
  second.join();
  EXPECT_EQ(cutter.Join(), 3);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, kGiB);
  EXPECT_EQ(sha.Hex(), want);
  ASSERT_TRUE(ranged.ok()) << ranged.status();
  EXPECT_EQ(*ranged, range.size());
  std::vector<uint8_t> expect(range.size());
  Fill(512 * kMiB, absl::MakeSpan(expect));
  EXPECT_TRUE(range == expect);
  const ClientStats st = m.client->stats();
  EXPECT_EQ(st.reconnects, 3u);
  EXPECT_EQ(st.handles_reopened, 3u);
  EXPECT_GT(st.requests_replayed, 0u);
  ASSERT_TRUE((*f)->Close().ok());
  std::cout << "1 GiB read, 3 cuts: " << st.requests_replayed << " READs replayed, "
            << "re-established in " << st.reconnect_us_total / 3 << " us on average, "
            << st.reconnect_us_max << " us at most\n";
  unlink(absl::StrCat(share_dir_, "/reconnect-read.bin").c_str());
}

TEST_F(ReconnectTest, HandleThatIsNotDurableIsLostClearlyTheDurableOneGoesOn) {
  MakeSource("reconnect-small.bin", kMiB);
  Mounted m = Mount(Resilient());
  ASSERT_NE(m.tree, nullptr);
  auto durable = m.tree->Open("reconnect-small.bin", Durable(false));
  ASSERT_TRUE(durable.ok()) << durable.status();
  OpenOptions plain;
  auto other = m.tree->Open("reconnect-small.bin", plain);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_FALSE((*other)->durable());
  proxy_->Cut();
  std::vector<uint8_t> buf(kMiB), expect(kMiB);
  Fill(0, absl::MakeSpan(expect));
  auto n = (*durable)->Read(0, absl::MakeSpan(buf));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(buf == expect);
  auto lost = (*other)->Read(0, absl::MakeSpan(buf));
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kAborted) << lost.status();
  EXPECT_TRUE(absl::StrContains(lost.status().message(), "not durable")) << lost.status();
  EXPECT_EQ((*other)->lost().code(), absl::StatusCode::kAborted);
  EXPECT_TRUE((*durable)->lost().ok());
  // Closing a lost handle is not an error: nothing is left open at the server.
  EXPECT_TRUE((*other)->Close().ok());
  const ClientStats st = m.client->stats();
  EXPECT_EQ(st.reconnects, 1u);
  EXPECT_EQ(st.handles_reopened, 1u);
  EXPECT_EQ(st.handles_lost, 1u);
  // The tree and session work as before: path operations, new opens.
  EXPECT_TRUE(m.tree->Stat("reconnect-small.bin").ok());
  EXPECT_TRUE(m.tree->Open("reconnect-small.bin", plain).ok());
}

TEST_F(ReconnectTest, OutageLongerThanTheLimitIsAClearErrorAndTheNextCallReconnects) {
  MakeSource("reconnect-outage.bin", kMiB);
  ClientOptions o = Resilient(absl::Seconds(1));
  Mounted m = Mount(o);
  ASSERT_NE(m.tree, nullptr);
  auto f = m.tree->Open("reconnect-outage.bin", Durable(false));
  ASSERT_TRUE(f.ok()) << f.status();
  proxy_->Refuse(true);
  // From the cut: the client's reconnection thread may start before the call below does.
  const absl::Time start = absl::Now();
  proxy_->Cut();
  std::vector<uint8_t> buf(kMiB);
  auto n = (*f)->Read(0, absl::MakeSpan(buf));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(n.status().code(), absl::StatusCode::kUnavailable) << n.status();
  EXPECT_TRUE(absl::StrContains(n.status().message(), "not re-established within 1s"))
      << n.status();
  EXPECT_GE(took, absl::Seconds(1));
  EXPECT_LT(took, absl::Seconds(5));
  EXPECT_GT(m.client->stats().reconnect_attempts_failed, 0u);
  // The network is back: the next call re-establishes the client (Samba kept the durable handle
  // for its timeout) and goes on.
  proxy_->Refuse(false);
  n = (*f)->Read(0, absl::MakeSpan(buf));
  ASSERT_TRUE(n.ok()) << n.status();
  std::vector<uint8_t> expect(kMiB);
  Fill(0, absl::MakeSpan(expect));
  EXPECT_TRUE(buf == expect);
  EXPECT_EQ(m.client->stats().reconnects, 1u);
}

// A link that goes silent (no FIN, no RST: a pulled cable, a hung server) is noticed by the
// request timeout: the connection is then presumed dead and re-established.
TEST_F(ReconnectTest, SilentLinkIsPresumedDeadAfterTheRequestTimeout) {
  MakeSource("reconnect-silent.bin", kMiB);
  ClientOptions o = Resilient();
  o.request_timeout = absl::Seconds(2);
  Mounted m = Mount(o);
  ASSERT_NE(m.tree, nullptr);
  auto f = m.tree->Open("reconnect-silent.bin", Durable(false));
  ASSERT_TRUE(f.ok()) << f.status();
  std::vector<uint8_t> buf(kMiB), expect(kMiB);
  Fill(0, absl::MakeSpan(expect));
  proxy_->Freeze();
  const absl::Time start = absl::Now();
  auto n = (*f)->Read(0, absl::MakeSpan(buf));
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(buf == expect);
  EXPECT_GE(took, absl::Seconds(2));
  EXPECT_LT(took, absl::Seconds(15));
  // The server never saw the old connection end: PreviousSessionId made it let go.
  EXPECT_EQ(m.client->stats().reconnects, 1u);
  EXPECT_EQ(m.client->stats().handles_reopened, 1u);
  std::cout << "silent link: read done after " << absl::FormatDuration(took) << "\n";
}

// The same on an idle client: its keepalive ECHO goes unanswered, the connection is presumed
// dead, and the client is re-established before anyone calls.
TEST_F(ReconnectTest, SilentLinkUnderAnIdleClientIsNoticedByTheKeepalive) {
  ClientOptions o = Resilient();
  o.request_timeout = absl::Seconds(1);
  o.reconnect.keepalive = absl::Milliseconds(300);
  Mounted m = Mount(o);
  ASSERT_NE(m.tree, nullptr);
  auto f = m.tree->Open("reconnect-keepalive.bin", Durable(true));
  ASSERT_TRUE(f.ok()) << f.status();
  const uint64_t frames = m.client->stats().round_trips;
  absl::SleepFor(absl::Milliseconds(700));
  EXPECT_GT(m.client->stats().round_trips, frames);  // ECHOs went out, answered
  EXPECT_EQ(m.client->stats().reconnects, 0u);
  proxy_->Freeze();
  const absl::Time start = absl::Now();
  for (int i = 0; i < 1000 && m.client->stats().reconnects == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(m.client->stats().reconnects, 1u);  // no call was made
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(m.client->stats().handles_reopened, 1u);
  EXPECT_TRUE((*f)->Stat().ok());
}

// An idle client is re-established in the background as soon as its connection drops (so that
// the server's durable-handle timeout does not run out while nobody calls); a call made after
// the drop then just works, even one that is never sent twice (mkdir).
TEST_F(ReconnectTest, IdleClientIsReestablishedInTheBackground) {
  Mounted m = Mount(Resilient());
  ASSERT_NE(m.tree, nullptr);
  (void)m.tree->Rmdir("reconnect-dir");
  proxy_->Cut();
  for (int i = 0; i < 200 && m.client->stats().reconnects == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(m.client->stats().reconnects, 1u);  // no call was made
  EXPECT_TRUE(m.tree->Mkdir("reconnect-dir").ok());
  EXPECT_EQ(m.client->stats().reconnects, 1u);
  EXPECT_TRUE(m.tree->Rmdir("reconnect-dir").ok());
}

// Byte-range locks belong to the open; a durable handle brings its locks back with it (the
// server kept them while it waited): a second client still conflicts after the reconnect.
TEST_F(ReconnectTest, LocksOfADurableHandleSurviveTheReconnect) {
  MakeSource("reconnect-lock.bin", kMiB);
  Mounted a = Mount(Resilient());
  ASSERT_NE(a.tree, nullptr);
  auto fa = a.tree->Open("reconnect-lock.bin", Durable(false));
  ASSERT_TRUE(fa.ok()) << fa.status();
  ASSERT_TRUE((*fa)->durable());
  ASSERT_TRUE((*fa)->Lock(0, 4096).ok());
  proxy_->Cut();
  ASSERT_TRUE((*fa)->Stat().ok());  // reconnects
  EXPECT_EQ(a.client->stats().handles_reopened, 1u);
  Mounted b = Mount(ClientOptions(), /*direct=*/true);
  ASSERT_NE(b.tree, nullptr);
  OpenOptions plain;
  auto fb = b.tree->Open("reconnect-lock.bin", plain);
  ASSERT_TRUE(fb.ok()) << fb.status();
  EXPECT_EQ((*fb)->Lock(0, 4096).code(), absl::StatusCode::kFailedPrecondition);
  // The reopened handle still owns the lock: it releases it, and then the other can take it.
  ASSERT_TRUE((*fa)->Unlock(0, 4096).ok());
  EXPECT_TRUE((*fb)->Lock(0, 4096).ok());
}

// After a reconnect the lease has the new session's ids: a break that a second client causes is
// acknowledged on the new connection.
TEST_F(ReconnectTest, LeaseBreakAfterAReconnectIsAcknowledged) {
  MakeSource("reconnect-lease.bin", kMiB);
  Mounted a = Mount(Resilient());
  ASSERT_NE(a.tree, nullptr);
  auto fa = a.tree->Open("reconnect-lease.bin", Durable(true));
  ASSERT_TRUE(fa.ok()) << fa.status();
  ASSERT_NE((*fa)->lease_state() & lease::kWrite, 0u);
  proxy_->Cut();
  ASSERT_TRUE((*fa)->Stat().ok());
  EXPECT_NE((*fa)->lease_state() & lease::kWrite, 0u);  // given back by the DH2C answer
  Mounted b = Mount(ClientOptions(), /*direct=*/true);
  ASSERT_NE(b.tree, nullptr);
  OpenOptions w;
  w.write = true;
  auto fb = b.tree->Open("reconnect-lease.bin", w);
  ASSERT_TRUE(fb.ok()) << fb.status();
  for (int i = 0; i < 100 && a.client->stats().lease_break_acks == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  const ClientStats st = a.client->stats();
  EXPECT_GE(st.lease_breaks, 1u);
  EXPECT_GE(st.lease_break_acks, 1u);
  EXPECT_EQ(st.lease_break_ack_failures, 0u);
  EXPECT_EQ((*fa)->lease_state() & lease::kWrite, 0u);
}

// A sealed session comes back sealed: its new keys encrypt what follows.
TEST_F(ReconnectTest, SealedSessionIsSealedAgainAfterTheReconnect) {
  ClientOptions o = Resilient();
  o.require_encryption = true;
  Mounted m = Mount(o);
  ASSERT_NE(m.tree, nullptr);
  ASSERT_TRUE(m.session->seals());
  const uint64_t first_id = m.session->id();
  auto f = m.tree->Open("reconnect-sealed.bin", Durable(true));
  ASSERT_TRUE(f.ok()) << f.status();
  std::vector<uint8_t> data(8 * kMiB), got(8 * kMiB);
  Fill(0, absl::MakeSpan(data));
  ASSERT_TRUE((*f)->Write(0, data).ok());
  proxy_->Cut();
  auto n = (*f)->Read(0, absl::MakeSpan(got));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(got == data);
  EXPECT_TRUE(m.session->seals());
  EXPECT_NE(m.session->id(), first_id);
  EXPECT_EQ(m.client->stats().reconnects, 1u);
}

// A server that answers the reconnect's NEGOTIATE with another identity (here: its GUID
// changed by the proxy) is refused, for good: the client does not log in to it.
TEST_F(ReconnectTest, ServerThatChangedIsRefusedForGood) {
  Mounted m = Mount(Resilient());
  ASSERT_NE(m.tree, nullptr);
  ASSERT_TRUE(m.tree->Stat("").ok());
  proxy_->TamperNextFirstFrame([](std::vector<uint8_t>* frame) {
    // 4-byte Direct TCP header, 64-byte SMB2 header, then the NEGOTIATE response: ServerGuid
    // at body offset 8 ([MS-SMB2] 2.2.4).
    if (frame->size() > 4 + 64 + 24) (*frame)[4 + 64 + 8] ^= 0xFF;
  });
  proxy_->Cut();
  absl::Status s = m.tree->Stat("").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "server GUID")) << s;
  EXPECT_EQ(m.tree->Stat("").status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(m.client->stats().reconnects, 0u);
  EXPECT_EQ(proxy_->connections(), 2);  // no attempt after the refusal
}

std::string SmbdCatPath() {
  // The binary is a data dependency: beside the test in its runfiles tree.
  const char* srcdir = std::getenv("TEST_SRCDIR");
  if (srcdir != nullptr) return std::string(srcdir) + "/smbd/tools/smbd-cat";
  return std::string(program_invocation_name) + ".runfiles/smbd/tools/smbd-cat";
}

// The doors users come through: smbd-cat --reconnect and the C API's reconnect_ms read a file
// across a cut and get every byte.
TEST_F(ReconnectTest, SmbdCatReconnectReadsAcrossACut) {
  MakeSource("reconnect-cat.bin", 256 * kMiB);
  const std::string want = StreamSha(256 * kMiB);
  const std::string cat = SmbdCatPath();
  ASSERT_EQ(access(cat.c_str(), X_OK), 0) << cat;
  const uint64_t base = proxy_->bytes_down();
  Cutter cutter(proxy_.get(), [&] { return proxy_->bytes_down() - base; }, {100 * kMiB});
  const std::string cmd = absl::StrCat(
      "SMBD_PASSWORD='", env_.password, "' ", cat,
      " --transport tcp --no-kerberos --stats --reconnect 30",
      " --verify-sha256 ", want, " -o /dev/null smb://", env_.user, "@127.0.0.1:", proxy_->port(),
      "/durable/reconnect-cat.bin 2>&1");
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  EXPECT_EQ(cutter.Join(), 1);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << ": " << out;
  EXPECT_EQ(proxy_->connections(), 2);
  EXPECT_TRUE(absl::StrContains(out, "smbd-cat: reconnected 1 time(s)")) << out;
  std::cout << out;
  // Without --reconnect the same cut ends the read with exit 7 (I/O).
  Cutter again(proxy_.get(), [&] { return proxy_->bytes_down() - base; },
               {proxy_->bytes_down() - base + 100 * kMiB});
  std::string cmd2 = cmd;
  cmd2.replace(cmd2.find(" --reconnect 30"), std::strlen(" --reconnect 30"), "");
  p = popen(cmd2.c_str(), "r");
  ASSERT_NE(p, nullptr);
  out.clear();
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int status2 = pclose(p);
  EXPECT_EQ(again.Join(), 1);
  EXPECT_TRUE(WIFEXITED(status2) && WEXITSTATUS(status2) == 7) << status2 << ": " << out;
  unlink(absl::StrCat(share_dir_, "/reconnect-cat.bin").c_str());
}

TEST_F(ReconnectTest, CApiReconnectReadsAcrossACut) {
  MakeSource("reconnect-capi.bin", 128 * kMiB);
  smbd_options o;
  smbd_options_init(&o);
  o.transport = SMBD_TRANSPORT_TCP;
  o.user = env_.user.c_str();
  o.password = env_.password.c_str();
  o.kerberos = SMBD_KERBEROS_NEVER;
  o.reconnect_ms = 30000;
  smbd_client* client = nullptr;
  smbd_error err;
  ASSERT_EQ(smbd_connect_host("127.0.0.1", proxy_->port(), "durable", &o, &client, &err), SMBD_OK)
      << err.message;
  smbd_file* file = nullptr;
  ASSERT_EQ(smbd_open(client, "reconnect-capi.bin", SMBD_O_READ, &file, &err), SMBD_OK)
      << err.message;
  const uint64_t base = proxy_->bytes_down();
  Cutter cutter(proxy_.get(), [&] { return proxy_->bytes_down() - base; }, {50 * kMiB});
  std::vector<uint8_t> got(128 * kMiB), want(128 * kMiB);
  size_t done = 0;
  ASSERT_EQ(smbd_read(file, 0, got.data(), got.size(), &done, &err), SMBD_OK) << err.message;
  EXPECT_EQ(cutter.Join(), 1);
  EXPECT_EQ(done, got.size());
  Fill(0, absl::MakeSpan(want));
  EXPECT_TRUE(got == want);
  EXPECT_EQ(proxy_->connections(), 2);
  EXPECT_EQ(smbd_close(file, &err), SMBD_OK) << err.message;
  EXPECT_EQ(smbd_disconnect(client, &err), SMBD_OK) << err.message;
  unlink(absl::StrCat(share_dir_, "/reconnect-capi.bin").c_str());
}

// Without ClientOptions::reconnect a drop fails the call (the first milestone's behaviour).
TEST_F(ReconnectTest, WithoutReconnectADropIsAnError) {
  Mounted m = Mount(ClientOptions());
  ASSERT_NE(m.tree, nullptr);
  proxy_->Cut();
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(m.tree->Stat("").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(proxy_->connections(), 1);
}

}  // namespace
}  // namespace smbd
