// Interop tests against a real Samba smbd on loopback (tests/samba/run-suite starts it and
// exports its address and credentials; see samba-server).
#include <openssl/sha.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <cstdio>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <functional>
#include <mutex>
#include <thread>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "connect/connect.h"
#include "gtest/gtest.h"
#include "smb2/client/client.h"
#include "smb2/ntstatus.h"
#include "smb2/tcp_transport.h"
#include "tests/samba/samba_env.h"

namespace smbd {

absl::StatusOr<std::vector<uint8_t>> QuickStart(const std::string& host, uint16_t port,
                                                const std::string& user,
                                                const std::string& password);
namespace {

using testing_samba::Pattern;
using testing_samba::SambaEnv;

class SambaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!env_.ok()) GTEST_SKIP() << "no Samba server in the environment (run tests/samba/run-suite)";
  }

  absl::StatusOr<std::unique_ptr<Client>> Connect(ClientOptions o = {}, uint16_t port = 0) {
    return ConnectTcp(env_.host, port ? port : env_.port, o);
  }
  Credentials User() const {
    Credentials c;
    c.user = env_.user;
    c.password = SecretBytes::FromString(env_.password);
    return c;
  }

 public:
  // For helpers outside the fixture (MountAndOpen).
  absl::StatusOr<std::unique_ptr<Client>> ConnectForTest() { return Connect(); }
  Credentials UserForTest() const { return User(); }

 protected:
  SambaEnv env_;
};


TEST_F(SambaTest, NegotiatesSmb311AndLogsIn) {
  auto c = Connect();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->negotiated().dialect, kDialect311);
  EXPECT_GE((*c)->negotiated().max_read_size, 65536u);
  auto s = (*c)->Login(User());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_NE((*s)->id(), 0u);
  EXPECT_FALSE((*s)->is_guest());
  auto t = (*s)->TreeConnect("share");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_NE((*t)->id(), 0u);
}

TEST_F(SambaTest, ReadmeQuickStartRuns) {
  ::mkdir((env_.share_dir + "/dir").c_str(), 0777);
  {
    std::ofstream out(env_.share_dir + "/dir/results.bin", std::ios::binary);
    out << "quick start bytes";
  }
  auto got = QuickStart(env_.host, env_.port, env_.user, env_.password);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(std::string(got->begin(), got->end()), "quick start bytes");
}

TEST_F(SambaTest, WrongPasswordIsAClearAuthenticationError) {
  auto c = Connect();
  ASSERT_TRUE(c.ok()) << c.status();
  Credentials bad = User();
  bad.password = SecretBytes::FromString("not-the-password");
  auto s = (*c)->Login(bad);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(s.status().message().find("STATUS_LOGON_FAILURE"), absl::string_view::npos)
      << s.status();
  EXPECT_EQ(s.status().message().find("not-the-password"), absl::string_view::npos);
}

TEST_F(SambaTest, WriteThenReadBackAndStat) {
  auto c = Connect();
  ASSERT_TRUE(c.ok()) << c.status();
  auto s = (*c)->Login(User());
  ASSERT_TRUE(s.ok()) << s.status();
  auto t = (*s)->TreeConnect("share");
  ASSERT_TRUE(t.ok()) << t.status();
  OpenOptions w;
  w.write = true;
  w.disposition = 5;  // overwrite-if
  auto f = (*t)->Open("interop/../wr.bin", w);
  if (!f.ok()) f = (*t)->Open("wr.bin", w);
  ASSERT_TRUE(f.ok()) << f.status();
  std::vector<uint8_t> data = Pattern(3 * 1048576 + 12345, 1);
  ASSERT_TRUE((*f)->Write(0, data).ok());
  std::vector<uint8_t> back(data.size() + 100);
  auto n = (*f)->Read(0, absl::MakeSpan(back));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, data.size());
  back.resize(*n);
  EXPECT_TRUE(back == data);
  auto st = (*f)->Stat();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->size, data.size());
  ASSERT_TRUE((*f)->Close().ok());
  // The bytes on the server's disk are ours.
  std::ifstream disk(env_.share_dir + "/wr.bin", std::ios::binary);
  std::vector<uint8_t> on_disk((std::istreambuf_iterator<char>(disk)), {});
  EXPECT_TRUE(on_disk == data);
  auto st2 = (*t)->Stat("wr.bin");
  ASSERT_TRUE(st2.ok()) << st2.status();
  EXPECT_EQ(st2->size, data.size());
  EXPECT_FALSE(st2->is_directory());
}

// Byte-range locks between two clients ([MS-SMB2] 3.2.4.19, 3.3.5.14): Samba enforces them
// on reads and writes of other handles ("strict locking = auto").
// One client of the tests below that need two (locks, leases): its own connection, session
// and tree, and the file it opened.
struct Locker {
  std::unique_ptr<Client> client;
  std::unique_ptr<Session> session;
  std::unique_ptr<Tree> tree;
  std::unique_ptr<File> file;
};

// Connects `l` to the share and, with a name, opens that file read/write (open-if).
void MountAndOpen(SambaTest* test, Locker* l, const char* name) {
  auto c = test->ConnectForTest();
  ASSERT_TRUE(c.ok()) << c.status();
  l->client = *std::move(c);
  auto s = l->client->Login(test->UserForTest());
  ASSERT_TRUE(s.ok()) << s.status();
  l->session = *std::move(s);
  auto t = l->session->TreeConnect("share");
  ASSERT_TRUE(t.ok()) << t.status();
  l->tree = *std::move(t);
  if (name == nullptr) return;
  OpenOptions rw;
  rw.write = true;
  rw.disposition = 3;  // open-if
  auto f = l->tree->Open(name, rw);
  ASSERT_TRUE(f.ok()) << f.status();
  l->file = *std::move(f);
}

TEST_F(SambaTest, ByteRangeLocksConflictBetweenTwoClients) {
  Locker a, b;
  ASSERT_NO_FATAL_FAILURE(MountAndOpen(this, &a, "locks.bin"));
  ASSERT_NO_FATAL_FAILURE(MountAndOpen(this, &b, "locks.bin"));
  const std::vector<uint8_t> data = Pattern(65536, 11);
  ASSERT_TRUE(a.file->Write(0, data).ok());

  ASSERT_TRUE(a.file->Lock(0, 4096).ok());
  absl::Status s = b.file->Lock(1000, 10);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_EQ(NtStatusOf(s), ntstatus::kLockNotGranted) << s;
  LockOptions shared;
  shared.exclusive = false;
  EXPECT_EQ(NtStatusOf(b.file->Lock(4095, 1, shared)), ntstatus::kLockNotGranted);
  // Outside the range: granted, and released.
  EXPECT_TRUE(b.file->Lock(4096, 100).ok());
  EXPECT_TRUE(b.file->Unlock(4096, 100).ok());
  // The other handle can neither write nor read the locked bytes; the holder can.
  const std::vector<uint8_t> other = Pattern(100, 12);
  s = b.file->Write(100, other);
  EXPECT_EQ(NtStatusOf(s), ntstatus::kFileLockConflict) << s;
  std::vector<uint8_t> got(10);
  auto n = b.file->Read(0, absl::MakeSpan(got));
  EXPECT_EQ(NtStatusOf(n.status()), ntstatus::kFileLockConflict) << n.status();
  EXPECT_TRUE(a.file->Write(100, other).ok());
  n = a.file->Read(100, absl::MakeSpan(got));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(std::equal(got.begin(), got.end(), other.begin()));

  // Unlock: once; a second time there is no such lock.
  EXPECT_TRUE(a.file->Unlock(0, 4096).ok());
  s = a.file->Unlock(0, 4096);
  EXPECT_EQ(NtStatusOf(s), ntstatus::kRangeNotLocked) << s;
  EXPECT_TRUE(b.file->Lock(1000, 10).ok());

  // Shared locks coexist; an exclusive one over them does not.
  EXPECT_TRUE(a.file->Lock(20000, 100, shared).ok());
  EXPECT_TRUE(b.file->Lock(20000, 100, shared).ok());
  EXPECT_EQ(NtStatusOf(a.file->Lock(20050, 10)), ntstatus::kLockNotGranted);

  // Closing a handle releases its locks (a's own shared lock must go too before a can lock
  // those bytes exclusively: a handle's locks conflict with each other as well).
  ASSERT_TRUE(b.file->Close().ok());
  EXPECT_TRUE(a.file->Lock(1000, 10).ok());
  EXPECT_EQ(NtStatusOf(a.file->Lock(20050, 10)), ntstatus::kLockNotGranted);
  EXPECT_TRUE(a.file->Unlock(20000, 100).ok());
  EXPECT_TRUE(a.file->Lock(20050, 10).ok());
}

TEST_F(SambaTest, WaitingLockIsGrantedOnReleaseAndCancelledPastItsTimeout) {
  Locker a, b;
  ASSERT_NO_FATAL_FAILURE(MountAndOpen(this, &a, "waitlock.bin"));
  ASSERT_NO_FATAL_FAILURE(MountAndOpen(this, &b, "waitlock.bin"));
  File* f1 = a.file.get();
  File* f2 = b.file.get();
  ASSERT_TRUE(f1->Lock(0, 100).ok());

  // Past its wait the request is cancelled at the server, and no lock is held afterwards: once
  // the first handle lets go, a fail-immediately lock of the same range by the same handle is
  // granted (a second exclusive lock by one handle would conflict with the first).
  LockOptions wait;
  wait.wait = true;
  wait.wait_timeout = absl::Milliseconds(300);
  absl::Time start = absl::Now();
  absl::Status s = f2->Lock(0, 100, wait);
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(250));
  ASSERT_TRUE(f1->Unlock(0, 100).ok());
  ASSERT_TRUE(f2->Lock(0, 100).ok());
  ASSERT_TRUE(f2->Unlock(0, 100).ok());

  // A waiting lock is granted when the holder releases the range.
  ASSERT_TRUE(f1->Lock(0, 100).ok());
  std::thread releaser([&] {
    absl::SleepFor(absl::Milliseconds(400));
    EXPECT_TRUE(f1->Unlock(0, 100).ok());
  });
  wait.wait_timeout = absl::Seconds(20);
  start = absl::Now();
  s = f2->Lock(0, 100, wait);
  const absl::Duration took = absl::Now() - start;
  releaser.join();
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_GE(took, absl::Milliseconds(300));
  EXPECT_LT(took, absl::Seconds(15));
  EXPECT_EQ(NtStatusOf(f1->Lock(50, 1)), ntstatus::kLockNotGranted);
}

// Leases ([MS-SMB2] 3.2.4.3.8, 3.2.5.19.2): a second client's open breaks the first one's
// write-caching lease; the break is acknowledged by the client's worker at once, so the second
// open completes without waiting out the server's break timeout (35 s in Samba).
TEST_F(SambaTest, LeaseIsBrokenByASecondOpenAndTheBreakAcknowledged) {
  Locker a, b;
  ASSERT_NO_FATAL_FAILURE(MountAndOpen(this, &a, nullptr));
  ASSERT_NO_FATAL_FAILURE(MountAndOpen(this, &b, nullptr));
  Client* c1 = a.client.get();
  Tree* t1 = a.tree.get();
  Tree* t2 = b.tree.get();
  OpenOptions o;
  o.write = true;
  o.disposition = 5;  // overwrite-if
  o.lease = lease::kRead | lease::kHandle | lease::kWrite;
  auto f1 = t1->Open("leased.bin", o);
  ASSERT_TRUE(f1.ok()) << f1.status();
  EXPECT_EQ((*f1)->lease_state(), lease::kRead | lease::kHandle | lease::kWrite);
  const std::vector<uint8_t> data = Pattern(100000, 21);
  ASSERT_TRUE((*f1)->Write(0, data).ok());

  OpenOptions o2;
  o2.write = true;
  o2.disposition = 1;
  const absl::Time start = absl::Now();
  auto f2 = t2->Open("leased.bin", o2);
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(f2.ok()) << f2.status();
  EXPECT_LT(took, absl::Seconds(10)) << "the break was not acknowledged";
  // Write caching is gone; the acknowledgement is in (the second open waited for it).
  EXPECT_EQ((*f1)->lease_state() & lease::kWrite, 0u);
  EXPECT_GE((*f1)->lease_breaks(), 1u);
  // The acknowledgement's own answer comes to the first client, and may come after the second
  // client's open answer: it is counted when it does.
  const absl::Time ack_deadline = absl::Now() + absl::Seconds(5);
  while (c1->stats().lease_break_acks == 0 && absl::Now() < ack_deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  const ClientStats st = c1->stats();
  EXPECT_GE(st.lease_breaks, 1u);
  EXPECT_GE(st.lease_break_acks, 1u);
  EXPECT_EQ(st.lease_break_ack_failures, 0u);
  // Both handles see the same bytes.
  std::vector<uint8_t> got(data.size());
  auto n = (*f2)->Read(0, absl::MakeSpan(got));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(got == data);
  const std::vector<uint8_t> more = Pattern(1000, 22);
  ASSERT_TRUE((*f2)->Write(0, more).ok());
  n = (*f1)->Read(0, absl::MakeSpan(got).subspan(0, 1000));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(std::equal(more.begin(), more.end(), got.begin()));
}

TEST_F(SambaTest, DurableHandleIsGrantedWithAHandleCachingLease) {
  auto c = Connect();
  ASSERT_TRUE(c.ok()) << c.status();
  auto s = (*c)->Login(User());
  ASSERT_TRUE(s.ok()) << s.status();
  auto t = (*s)->TreeConnect("durable");
  ASSERT_TRUE(t.ok()) << t.status();
  OpenOptions o;
  o.write = true;
  o.disposition = 5;
  o.durable_timeout = absl::Seconds(60);
  o.lease = lease::kRead | lease::kHandle | lease::kWrite;
  auto f = (*t)->Open("durable.bin", o);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_NE((*f)->lease_state() & lease::kHandle, 0u);
  EXPECT_TRUE((*f)->durable());
  EXPECT_GT((*f)->durable_timeout_ms(), 0u);
  // Without a lease that caches handles the server does not make the handle durable.
  o.lease = 0;
  auto g = (*t)->Open("durable2.bin", o);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_FALSE((*g)->durable());
  EXPECT_EQ((*g)->lease_state(), 0u);
  // Leases and durable handles are refused before anything is sent on dialects without them.
  ClientOptions old;
  old.max_dialect = kDialect202;
  auto c2 = Connect(old);
  ASSERT_TRUE(c2.ok()) << c2.status();
  auto s2 = (*c2)->Login(User());
  ASSERT_TRUE(s2.ok()) << s2.status();
  auto t2 = (*s2)->TreeConnect("durable");
  ASSERT_TRUE(t2.ok()) << t2.status();
  OpenOptions l;
  l.lease = lease::kRead;
  EXPECT_EQ((*t2)->Open("durable.bin", l).status().code(), absl::StatusCode::kFailedPrecondition);
}

// Multichannel's first step ([MS-SMB2] 3.2.4.20.10): the server lists its interfaces. The test
// Samba listens on loopback only ("interfaces = lo"), so that is what it reports.
TEST_F(SambaTest, QueryNetworkInterfacesListsTheServersAddresses) {
  auto c = Connect();
  ASSERT_TRUE(c.ok()) << c.status();
  // (The client does not offer SMB2_GLOBAL_CAP_MULTI_CHANNEL yet, as it binds no channels, so
  // Samba does not echo it; the FSCTL is answered all the same.)
  auto s = (*c)->Login(User());
  ASSERT_TRUE(s.ok()) << s.status();
  auto t = (*s)->TreeConnect("share");
  ASSERT_TRUE(t.ok()) << t.status();
  auto list = (*t)->QueryNetworkInterfaces();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_FALSE(list->empty());
  bool loopback = false;
  for (const ServerInterface& i : *list) {
    std::cout << "interface " << i.if_index << " " << i.address << " " << i.link_speed_bps
              << " bit/s" << (i.rss ? " RSS" : "") << (i.rdma ? " RDMA" : "") << "\n";
    loopback |= i.address == "127.0.0.1" || i.address == "::1";
    EXPECT_FALSE(i.rdma) << "Samba has no SMB Direct";
  }
  EXPECT_TRUE(loopback);
}

TEST_F(SambaTest, MissingFileIsNotFound) {
  auto c = Connect();
  ASSERT_TRUE(c.ok());
  auto s = (*c)->Login(User());
  ASSERT_TRUE(s.ok());
  auto t = (*s)->TreeConnect("share");
  ASSERT_TRUE(t.ok()) << t.status();
  auto f = (*t)->Open("no/such/file.txt", OpenOptions());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound) << f.status();
  auto st = (*t)->Stat("nope.txt");
  EXPECT_EQ(st.status().code(), absl::StatusCode::kNotFound) << st.status();
  EXPECT_EQ(NtStatusOf(st.status()), ntstatus::kObjectNameNotFound);
}

TEST_F(SambaTest, ReadOnlyShareRefusesWrites) {
  auto c = Connect();
  ASSERT_TRUE(c.ok());
  auto s = (*c)->Login(User());
  ASSERT_TRUE(s.ok());
  auto t = (*s)->TreeConnect("readonly");
  ASSERT_TRUE(t.ok()) << t.status();
  OpenOptions w;
  w.write = true;
  w.disposition = 5;
  auto f = (*t)->Open("x.txt", w);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kPermissionDenied) << f.status();
}

TEST_F(SambaTest, SmallFileInOneCompoundRoundTrip) {
  auto c = Connect();
  ASSERT_TRUE(c.ok());
  auto s = (*c)->Login(User());
  ASSERT_TRUE(s.ok());
  auto t = (*s)->TreeConnect("share");
  ASSERT_TRUE(t.ok()) << t.status();
  {
    std::ofstream out(env_.share_dir + "/small.txt");
    out << "hello from the server's disk\n";
  }
  const uint64_t before = (*c)->stats().round_trips;
  auto got = (*t)->ReadSmallFile("small.txt", 65536);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "hello from the server's disk\n");
  EXPECT_EQ((*c)->stats().round_trips - before, 1u);  // CREATE+READ+CLOSE in one frame
  // Into the caller's buffer: the bytes, their count; a buffer smaller than the file is
  // refused (OutOfRange), never overrun.
  std::vector<uint8_t> buf(64, 0xEE);
  auto n = (*t)->ReadSmallFile("small.txt", absl::MakeSpan(buf));
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_EQ(*n, 29u);
  EXPECT_EQ(std::string(buf.begin(), buf.begin() + 29), "hello from the server's disk\n");
  EXPECT_EQ(buf[29], 0xEE);
  std::vector<uint8_t> tiny(8, 0xEE);
  EXPECT_EQ((*t)->ReadSmallFile("small.txt", absl::MakeSpan(tiny)).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(std::string(tiny.begin(), tiny.end()), "hello fr");
  auto st0 = (*c)->stats().round_trips;
  auto st = (*t)->Stat("small.txt");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->size, 29u);
  EXPECT_EQ((*c)->stats().round_trips - st0, 1u);
}

// Logs in and connects `share` in one go.
struct Mounted {
  std::unique_ptr<Client> client;
  std::unique_ptr<Session> session;
  std::unique_ptr<Tree> tree;
};

class SambaApiTest : public SambaTest {
 protected:
  Mounted Mount(const std::string& share = "share", ClientOptions o = {}, uint16_t port = 0) {
    Mounted m;
    auto c = Connect(o, port);
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return m;
    m.client = *std::move(c);
    auto s = m.client->Login(User());
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) return m;
    m.session = *std::move(s);
    auto t = m.session->TreeConnect(share);
    EXPECT_TRUE(t.ok()) << t.status();
    if (t.ok()) m.tree = *std::move(t);
    return m;
  }
};

TEST_F(SambaApiTest, DirectoryOperations) {
  Mounted m = Mount();
  ASSERT_NE(m.tree, nullptr);
  (void)m.tree->Rmdir("apidir/sub");
  (void)m.tree->Delete("apidir/a.txt");
  (void)m.tree->Delete("apidir/b.txt");
  (void)m.tree->Rmdir("apidir");
  ASSERT_TRUE(m.tree->Mkdir("apidir").ok());
  EXPECT_EQ(m.tree->Mkdir("apidir").code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(m.tree->Mkdir("apidir/sub").ok());
  OpenOptions w;
  w.write = true;
  w.disposition = 5;
  {
    auto f = m.tree->Open("apidir/a.txt", w);
    ASSERT_TRUE(f.ok()) << f.status();
    const std::string text = "0123456789";
    ASSERT_TRUE((*f)->Write(0, absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(text.data()),
                                                    text.size())).ok());
    ASSERT_TRUE((*f)->Flush().ok());
    ASSERT_TRUE((*f)->Truncate(4).ok());
    auto st = (*f)->Stat();
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->size, 4u);
  }
  auto list = m.tree->List("apidir");
  ASSERT_TRUE(list.ok()) << list.status();
  std::vector<std::string> names;
  for (const FileInfo& fi : *list) names.push_back(fi.name + (fi.is_directory() ? "/" : ""));
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"a.txt", "sub/"}));
  ASSERT_TRUE(m.tree->Rename("apidir/a.txt", "apidir/b.txt").ok());
  auto st = m.tree->Stat("apidir/b.txt");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->size, 4u);
  EXPECT_EQ(m.tree->Stat("apidir/a.txt").status().code(), absl::StatusCode::kNotFound);
  // A non-empty directory cannot go.
  EXPECT_EQ(m.tree->Rmdir("apidir").code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(m.tree->Delete("apidir/b.txt").ok());
  ASSERT_TRUE(m.tree->Rmdir("apidir/sub").ok());
  ASSERT_TRUE(m.tree->Rmdir("apidir").ok());
  EXPECT_EQ(m.tree->List("apidir").status().code(), absl::StatusCode::kNotFound);
  // The root lists too, with many entries across several QUERY_DIRECTORY rounds.
  (void)m.tree->Mkdir("many");  // may exist from an earlier run
  for (int i = 0; i < 300; ++i) {
    auto f = m.tree->Open(absl::StrCat("many/file-with-a-longish-name-", i), w);
    ASSERT_TRUE(f.ok()) << f.status();
  }
  auto many = m.tree->List("many");
  ASSERT_TRUE(many.ok()) << many.status();
  EXPECT_EQ(many->size(), 300u);
}

TEST_F(SambaApiTest, AsyncReadsCompleteThroughCallbacks) {
  Mounted m = Mount();
  ASSERT_NE(m.tree, nullptr);
  OpenOptions w;
  w.write = true;
  w.disposition = 5;
  auto f = m.tree->Open("async.bin", w);
  ASSERT_TRUE(f.ok());
  std::vector<uint8_t> data = Pattern(8 * 65536, 5);
  ASSERT_TRUE((*f)->Write(0, data).ok());
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    int done = 0;
    int errors = 0;
  } st;
  std::vector<uint8_t> back(data.size());
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE((*f)->ReadAsync(i * 65536, absl::MakeSpan(back).subspan(i * 65536, 65536),
                                [](void* arg, absl::StatusOr<uint32_t> r) {
                                  auto* s = static_cast<State*>(arg);
                                  std::lock_guard<std::mutex> l(s->mu);
                                  if (!r.ok() || *r != 65536) s->errors++;
                                  s->done++;
                                  s->cv.notify_all();
                                },
                                &st)
                    .ok());
  }
  std::unique_lock<std::mutex> l(st.mu);
  ASSERT_TRUE(st.cv.wait_for(l, std::chrono::seconds(30), [&] { return st.done == 8; }));
  EXPECT_EQ(st.errors, 0);
  EXPECT_TRUE(back == data);
}

TEST_F(SambaApiTest, GuestAndAnonymousSessions) {
  auto c = Connect();
  ASSERT_TRUE(c.ok());
  Credentials anon;
  anon.anonymous = true;
  auto s = (*c)->Login(anon);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE((*s)->is_anonymous());
  EXPECT_FALSE((*s)->signs());
  auto t = (*s)->TreeConnect("guest");
  ASSERT_TRUE(t.ok()) << t.status();
  auto l = (*t)->List("");
  EXPECT_TRUE(l.ok()) << l.status();

  auto c2 = Connect();
  ASSERT_TRUE(c2.ok());
  Credentials guest;
  guest.user = "no-such-user";
  guest.password = SecretBytes::FromString("whatever");
  guest.guest = true;
  auto g = (*c2)->Login(guest);  // "map to guest = bad user"
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE((*g)->is_guest());
  EXPECT_TRUE((*g)->TreeConnect("guest").ok());
  // A guest session can never satisfy a signing requirement: refused, not downgraded.
  ClientOptions strict;
  strict.require_signing = true;
  auto c3 = Connect(strict);
  ASSERT_TRUE(c3.ok());
  auto g3 = (*c3)->Login(guest);
  EXPECT_EQ(g3.status().code(), absl::StatusCode::kPermissionDenied) << g3.status();

  // The same logon without asking for guest. Samba maps the unknown user to guest
  // ("map to guest = bad user"); a client that gave a password must not take that session as
  // the user's.
  Credentials not_guest;
  not_guest.user = "no-such-user";
  not_guest.password = SecretBytes::FromString("whatever");
  auto c4 = Connect();
  ASSERT_TRUE(c4.ok());
  auto g4 = (*c4)->Login(not_guest);
  ASSERT_FALSE(g4.ok()) << "a guest session was taken for a user with a password";
  EXPECT_EQ(g4.status().code(), absl::StatusCode::kUnauthenticated) << g4.status();
  EXPECT_NE(g4.status().message().find("guest"), absl::string_view::npos) << g4.status();
}

TEST_F(SambaApiTest, SealedShareForcesEncryption) {
  Mounted m = Mount("sealed");
  ASSERT_NE(m.tree, nullptr);
  EXPECT_TRUE(m.tree->encrypted());
  EXPECT_TRUE(m.session->seals());
  OpenOptions w;
  w.write = true;
  w.disposition = 5;
  auto f = m.tree->Open("s.bin", w);
  ASSERT_TRUE(f.ok()) << f.status();
  std::vector<uint8_t> data = Pattern(200000, 9);
  ASSERT_TRUE((*f)->Write(0, data).ok());
  std::vector<uint8_t> back(data.size());
  ASSERT_TRUE((*f)->Read(0, absl::MakeSpan(back)).ok());
  EXPECT_TRUE(back == data);
  // The READ data was decrypted straight into `back`, not into pool pages and copied.
  EXPECT_EQ(m.client->connection()->stats().sealed_bytes_placed, data.size());
}

// CHANGE_NOTIFY against Samba: a file created in the watched directory is reported.
TEST_F(SambaApiTest, WaitForChangesReportsACreatedFile) {
  Mounted m = Mount();
  ASSERT_NE(m.tree, nullptr);
  (void)m.tree->Delete("watched/new.txt");
  (void)m.tree->Mkdir("watched");
  OpenOptions d;
  d.directory = true;
  auto dir = m.tree->Open("watched", d);
  ASSERT_TRUE(dir.ok()) << dir.status();
  absl::StatusOr<std::vector<FileNotification>> changes;
  std::thread watcher([&] {
    ChangeNotifyOptions o;
    o.timeout = absl::Seconds(20);
    changes = (*dir)->WaitForChanges(o);
  });
  // The request must be at the server before the change happens: wait for its interim answer.
  for (int i = 0; i < 500 && m.client->connection()->stats().interim_responses == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_GE(m.client->connection()->stats().interim_responses, 1u);
  OpenOptions w;
  w.write = true;
  w.disposition = 5;
  ASSERT_TRUE(m.tree->Open("watched/new.txt", w).ok());
  watcher.join();
  ASSERT_TRUE(changes.ok()) << changes.status();
  ASSERT_FALSE(changes->empty());
  EXPECT_EQ((*changes)[0].action, notify_action::kAdded);
  EXPECT_EQ((*changes)[0].name, "new.txt");
}

// A watch that sees no change is cancelled with SMB2 CANCEL when its timeout passes; Samba must
// accept the CANCEL (on a signing-required server only if it is correctly signed, on a sealed
// share only if it is encrypted) and end the request with STATUS_CANCELLED, long before the
// request timeout. Then the connection goes on as before.
TEST_F(SambaApiTest, UnansweredWatchIsCancelledOnTimeoutPlainSignedSealed) {
  struct Variant {
    const char* name;
    const char* share;
    bool signed_port;
  };
  for (const Variant& v : {Variant{"plain", "share", false}, Variant{"signed", "signed", true},
                           Variant{"sealed", "sealed", false}}) {
    SCOPED_TRACE(v.name);
    ClientOptions o;
    o.request_timeout = absl::Seconds(8);
    Mounted m = Mount(v.share, o, v.signed_port ? env_.signed_port : 0);
    ASSERT_NE(m.tree, nullptr);
    if (v.signed_port) {
      ASSERT_TRUE(m.session->signs());
    }
    (void)m.tree->Mkdir("quiet");
    OpenOptions d;
    d.directory = true;
    auto dir = m.tree->Open("quiet", d);
    ASSERT_TRUE(dir.ok()) << dir.status();
    const uint32_t credits = m.client->connection()->credits().stats().available;
    ChangeNotifyOptions co;
    co.timeout = absl::Milliseconds(300);
    const absl::Time start = absl::Now();
    auto r = (*dir)->WaitForChanges(co);
    const absl::Duration took = absl::Now() - start;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
    EXPECT_NE(r.status().message().find("no change"), absl::string_view::npos) << r.status();
    EXPECT_LT(took, absl::Seconds(4)) << "the server did not honour the CANCEL";
    const ConnectionStats st = m.client->connection()->stats();
    EXPECT_EQ(st.cancels_sent, 1u);
    EXPECT_GE(st.interim_responses, 1u);
    EXPECT_EQ(st.bad_signatures, 0u);
    EXPECT_TRUE(m.client->connection()->status().ok());
    EXPECT_GE(m.client->connection()->credits().stats().available, credits);
    auto info = (*dir)->Stat();
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_TRUE(info->is_directory());
  }
}

// Client::Cancel from another thread ends a watch and stops a pipelined read; the connection
// keeps working afterwards.
TEST_F(SambaApiTest, ClientCancelEndsAWatchAndAPipelinedRead) {
  ClientOptions o;
  o.request_timeout = absl::Seconds(10);
  o.window_bytes = 4 << 20;
  Mounted m = Mount("share", o);
  ASSERT_NE(m.tree, nullptr);
  (void)m.tree->Mkdir("quiet2");
  OpenOptions d;
  d.directory = true;
  auto dir = m.tree->Open("quiet2", d);
  ASSERT_TRUE(dir.ok()) << dir.status();
  absl::Status watch;
  std::thread watcher([&] {
    ChangeNotifyOptions co;
    co.timeout = absl::Seconds(30);
    watch = (*dir)->WaitForChanges(co).status();
  });
  for (int i = 0; i < 500 && m.client->connection()->stats().interim_responses == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  const absl::Time start = absl::Now();
  EXPECT_EQ(m.client->Cancel(), 1);
  watcher.join();
  EXPECT_EQ(watch.code(), absl::StatusCode::kCancelled) << watch;
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));

  // A 64 MiB read whose consumer is slow: cancelled after a few chunks.
  OpenOptions w;
  w.write = true;
  w.disposition = 5;
  auto f = m.tree->Open("cancel.bin", w);
  ASSERT_TRUE(f.ok()) << f.status();
  const std::vector<uint8_t> data = Pattern(64 << 20, 21);
  ASSERT_TRUE((*f)->Write(0, data).ok());
  std::atomic<uint64_t> seen{0};
  absl::StatusOr<uint64_t> got;
  std::thread reader([&] {
    got = (*f)->ReadTo(0, data.size(), [&](absl::Span<const uint8_t> b) {
      if (std::memcmp(b.data(), data.data() + seen.load(), b.size()) != 0) {
        return absl::DataLossError("wrong bytes");
      }
      seen += b.size();
      absl::SleepFor(absl::Milliseconds(20));
      return absl::OkStatus();
    });
  });
  while (seen.load() < (2u << 20)) absl::SleepFor(absl::Milliseconds(5));
  m.client->Cancel();
  reader.join();
  EXPECT_EQ(got.status().code(), absl::StatusCode::kCancelled) << got.status();
  EXPECT_LT(seen.load(), data.size());
  // Afterwards: everything works, credits are back.
  std::vector<uint8_t> back(1 << 20);
  auto n = (*f)->Read(5 << 20, absl::MakeSpan(back));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(0, std::memcmp(back.data(), data.data() + (5 << 20), back.size()));
  EXPECT_TRUE(m.client->connection()->status().ok());
}

std::string Sha256Hex(absl::Span<const uint8_t> b) {
  unsigned char md[32];
  SHA256(b.data(), b.size(), md);
  std::string s;
  for (unsigned char c : md) absl::StrAppend(&s, absl::Hex(c, absl::kZeroPad2));
  return s;
}

TEST_F(SambaApiTest, OneGibibyteWriteThenReadBack) {
  Mounted m = Mount();
  ASSERT_NE(m.tree, nullptr);
  OpenOptions w;
  w.write = true;
  w.disposition = 5;
  auto f = m.tree->Open("gib.bin", w);
  ASSERT_TRUE(f.ok()) << f.status();
  std::vector<uint8_t> data = Pattern(size_t{1} << 30, 77);
  const std::string want = Sha256Hex(data);
  ASSERT_TRUE((*f)->Write(0, data).ok());
  std::fill(data.begin(), data.end(), 0);
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  auto n = (*f)->ReadTo(0, UINT64_MAX, [&](absl::Span<const uint8_t> b) {
    SHA256_Update(&ctx, b.data(), b.size());
    return absl::OkStatus();
  });
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, size_t{1} << 30);
  unsigned char md[32];
  SHA256_Final(md, &ctx);
  std::string got;
  for (unsigned char c : md) absl::StrAppend(&got, absl::Hex(c, absl::kZeroPad2));
  EXPECT_EQ(got, want);
  ASSERT_TRUE((*f)->Close().ok());
  (void)m.tree->Delete("gib.bin");
}

// Runs last: kills the smbd process serving this client in the middle of a large read.
TEST_F(SambaApiTest, ZzServerKilledMidReadFailsEveryWaiter) {
  Mounted m = Mount();
  ASSERT_NE(m.tree, nullptr);
  OpenOptions w;
  w.write = true;
  w.disposition = 5;
  auto f = m.tree->Open("kill.bin", w);
  ASSERT_TRUE(f.ok());
  std::vector<uint8_t> data = Pattern(64 << 20, 3);
  ASSERT_TRUE((*f)->Write(0, data).ok());
  std::atomic<bool> killed{false};
  std::thread killer([&] {
    // The connection's smbd is a child of the main smbd; kill every child.
    const std::string cmd = absl::StrCat("sleep 0.05; pkill -KILL -P ", env_.pids.substr(0, env_.pids.find(' ')));
    killed = std::system(cmd.c_str()) == 0;
  });
  absl::Time start = absl::Now();
  absl::Status s;
  for (int i = 0; i < 100 && s.ok(); ++i) {
    auto n = (*f)->ReadTo(0, UINT64_MAX, [](absl::Span<const uint8_t>) { return absl::OkStatus(); });
    s = n.status();
  }
  killer.join();
  EXPECT_TRUE(killed.load());
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  // Later calls fail fast with the same error; nothing hangs.
  EXPECT_EQ(m.tree->Stat("kill.bin").status().code(), absl::StatusCode::kUnavailable);
}

// The whole session (connect, authenticate, open, 8 MiB write, read back, close) with the Nth
// socket operation failing, for every N: each run ends in success or a clear error, never a
// hang, and never with wrong data.
TEST_F(SambaTest, TcpFaultSweepOverAWholeSession) {
  std::vector<uint8_t> data = Pattern(8 << 20, 11);
  auto session = [&](uint64_t fail_at, uint64_t* ops) -> absl::Status {
    PagePoolOptions po;
    po.max_bytes = 64 << 20;
    po.huge_pages = false;
    std::shared_ptr<PagePool> pool(PagePool::Create(po).value().release());
    TcpOptions to;
    to.fail_operation = fail_at;
    to.max_receive_frame = 2 << 20;
    to.stall_timeout = absl::Seconds(10);
    auto t = TcpTransport::Connect(env_.host, env_.port, pool.get(), to);
    if (!t.ok()) return t.status();
    TcpTransport* raw = t->get();
    ClientOptions o;
    o.request_timeout = absl::Seconds(10);
    o.server_name = env_.host;
    auto c = Client::Create(*std::move(t), pool, o);
    if (!c.ok()) return c.status();
    absl::Status result = [&]() -> absl::Status {
      auto s = (*c)->Login(User());
      if (!s.ok()) return s.status();
      auto tr = (*s)->TreeConnect("share");
      if (!tr.ok()) return tr.status();
      OpenOptions w;
      w.write = true;
      w.disposition = 5;
      auto f = (*tr)->Open("sweep.bin", w);
      if (!f.ok()) return f.status();
      absl::Status ws = (*f)->Write(0, data);
      if (!ws.ok()) return ws;
      std::vector<uint8_t> back(data.size());
      auto n = (*f)->Read(0, absl::MakeSpan(back));
      if (!n.ok()) return n.status();
      if (*n != data.size() || back != data) return absl::DataLossError("data differs");
      return (*f)->Close();
    }();
    if (ops != nullptr) *ops = raw->stats().operations;
    return result;
  };
  uint64_t total = 0;
  ASSERT_TRUE(session(0, &total).ok());
  ASSERT_GT(total, 20u);
  int ok = 0, failed = 0;
  // Every operation up to the last one of a clean session (capped to keep the suite short).
  const uint64_t last = std::min<uint64_t>(total, 400);
  for (uint64_t n = 1; n <= last; ++n) {
    const absl::Time start = absl::Now();
    absl::Status s = session(n, nullptr);
    EXPECT_LT(absl::Now() - start, absl::Seconds(30)) << "n=" << n;
    if (s.ok()) {
      ++ok;
    } else {
      ++failed;
      EXPECT_NE(s.code(), absl::StatusCode::kDataLoss) << "n=" << n << ": " << s;
      EXPECT_FALSE(s.message().empty());
    }
  }
  std::printf("TCP fault sweep: %llu operations in a clean session, %d injected runs failed "
              "cleanly, %d succeeded\n",
              static_cast<unsigned long long>(total), failed, ok);
  EXPECT_GT(failed, 0);
}

// smbd-cat as a user runs it: exit codes, SIGPIPE, SHA-256 verification (documented in --help).
std::string SmbdCatPath() {
  // The binary is a data dependency: beside the test in its runfiles tree.
  const char* srcdir = std::getenv("TEST_SRCDIR");
  if (srcdir != nullptr) return std::string(srcdir) + "/smbd/tools/smbd-cat";
  return std::string(program_invocation_name) + ".runfiles/smbd/tools/smbd-cat";
}

int RunShell(const std::string& cmd, std::string* out) {
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  out->clear();
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out->append(buf, n);
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(SambaTest, SmbdCatExitCodesAndPipes) {
  const std::string cat = SmbdCatPath();
  ASSERT_EQ(access(cat.c_str(), X_OK), 0) << cat;
  {
    std::ofstream out(env_.share_dir + "/cat.bin", std::ios::binary);
    for (int i = 0; i < 300000; ++i) out << "line " << i << "\n";
  }
  const std::string url = absl::StrCat("smb://", env_.user, "@", env_.host, ":", env_.port,
                                       "/share/");
  const std::string env = absl::StrCat("SMBD_PASSWORD='", env_.password, "' ");
  std::string out;
  // The whole file, in order.
  EXPECT_EQ(RunShell(env + cat + " --transport tcp -q " + url + "cat.bin | tail -1", &out), 0);
  EXPECT_EQ(out, "line 299999\n");
  // A reader that goes away early: quiet, exit 0.
  {
    const std::string script = ::testing::TempDir() + "/pipe.sh";
    std::ofstream(script) << "set -o pipefail\n"
                          << env << cat << " --transport tcp " << url << "cat.bin 2>&1 | head -2\n";
    EXPECT_EQ(RunShell("bash " + script, &out), 0);
  }
  EXPECT_EQ(out, "line 0\nline 1\n");
  EXPECT_EQ(RunShell(env + cat + " --transport tcp -q " + url + "missing.bin 2>&1", &out), 5);
  EXPECT_NE(out.find("STATUS_OBJECT_NAME_NOT_FOUND"), std::string::npos) << out;
  EXPECT_EQ(RunShell("SMBD_PASSWORD=wrong " + cat + " --transport tcp -q " + url +
                         "cat.bin 2>&1",
                     &out),
            4);
  EXPECT_NE(out.find("LOGON_FAILURE"), std::string::npos) << out;
  EXPECT_EQ(out.find("wrong"), std::string::npos) << "password leaked into a message: " << out;
  EXPECT_EQ(RunShell(cat + " --no-such-flag 2>&1", &out), 2);
  EXPECT_EQ(RunShell(cat + " --rdma-registration sometimes 2>&1", &out), 2);
  EXPECT_NE(out.find("auto, per-io or windows"), std::string::npos) << out;
  // -v: the transport, and whether the RDMA channel is used (or why not), one line each.
  EXPECT_EQ(RunShell(env + cat + " --transport tcp -v " + url + "cat.bin 2>&1 >/dev/null", &out),
            0);
  EXPECT_NE(out.find(absl::StrCat("smbd-cat: connected to ", env_.host, " over tcp")),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("smbd-cat: RDMA channel off: connected over tcp\n"), std::string::npos)
      << out;
  EXPECT_EQ(RunShell(env + cat + " --transport tcp -q --verify-sha256 " + std::string(64, '0') +
                         " " + url + "cat.bin >/dev/null 2>&1",
                     &out),
            7);
  EXPECT_EQ(RunShell(env + cat + " --transport tcp --stat " + url + "cat.bin", &out), 0);
  EXPECT_NE(out.find("size: "), std::string::npos) << out;
  EXPECT_EQ(RunShell(env + cat + " --transport tcp --list " + url, &out), 0);
  EXPECT_NE(out.find("cat.bin\n"), std::string::npos) << out;
  // Byte ranges and resuming into a file.
  const std::string part = ::testing::TempDir() + "/part.bin";
  std::remove(part.c_str());
  EXPECT_EQ(RunShell(env + cat + " --transport tcp -q --offset 5 --length 7 -o " + part + " " +
                         url + "cat.bin && cat " + part,
                     &out),
            0);
  EXPECT_EQ(out, "0\nline ");
}

// Runs smbd-cat with a pseudo-terminal as its controlling terminal, stdin and stderr (stdout
// goes to -o), as a user at a shell would. `during(master_fd)` runs while it does. Returns the
// exit status and everything it wrote to the terminal.
struct TtyRun {
  int exit_code = -1;
  std::string terminal;
  absl::Time exited_at;
};
TtyRun RunOnATerminal(const std::vector<std::string>& args,
                      const std::function<void(int master, const std::string& seen, pid_t pid)>&
                          during) {
  TtyRun r;
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int master = -1;
  const absl::Time start = absl::Now();
  const pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
  if (pid == 0) {
    execv(argv[0], argv.data());
    _exit(127);
  }
  if (pid < 0) return r;
  fcntl(master, F_SETFL, O_NONBLOCK);
  bool exited = false;
  int status = 0;
  while (absl::Now() - start < absl::Seconds(60)) {
    char buf[4096];
    const ssize_t n = read(master, buf, sizeof(buf));
    if (n > 0) r.terminal.append(buf, n);
    if (during) during(master, r.terminal, pid);
    if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      r.exited_at = absl::Now();
    }
    if (exited && n <= 0) break;
    if (n <= 0) absl::SleepFor(absl::Milliseconds(10));
  }
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  close(master);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST_F(SambaTest, SmbdCatOnATerminalShowsProgressAndCtrlCCancelsCleanly) {
  const std::string cat = SmbdCatPath();
  ASSERT_EQ(access(cat.c_str(), X_OK), 0) << cat;
  // 1 GiB, sparse: Samba reads it fast, but at --depth 1 with 4 KiB requests it takes many
  // seconds, so the Ctrl-C lands mid-transfer.
  const std::string big = env_.share_dir + "/tty-big.bin";
  {
    std::ofstream(big, std::ios::binary).close();
    ASSERT_EQ(truncate(big.c_str(), int64_t{1} << 30), 0);
    std::ofstream(env_.share_dir + "/tty-small.bin", std::ios::binary)
        << std::string(8 << 20, 'x');
  }
  const std::string url = absl::StrCat("smb://", env_.user, "@", env_.host, ":", env_.port,
                                       "/share/");
  setenv("SMBD_PASSWORD", env_.password.c_str(), 1);

  // A whole file: the progress line is drawn on the terminal and erased at the end.
  TtyRun ok = RunOnATerminal({cat, "--transport", "tcp", "--depth", "4", "--io-size", "64K",
                              "-o", "/dev/null", url + "tty-small.bin"},
                             nullptr);
  EXPECT_EQ(ok.exit_code, 0) << ok.terminal;
  EXPECT_NE(ok.terminal.find("MiB/s"), std::string::npos) << ok.terminal;
  EXPECT_TRUE(absl::EndsWith(ok.terminal, "\r\033[K")) << absl::CHexEscape(ok.terminal);

  // Ctrl-C (the terminal's interrupt character) mid-transfer: exit 130 promptly, one clear
  // line, the progress line erased first.
  bool sent = false;
  absl::Time sent_at;
  TtyRun intr = RunOnATerminal(
      {cat, "--transport", "tcp", "--depth", "1", "--io-size", "4K", "-o", "/dev/null",
       url + "tty-big.bin"},
      [&](int master, const std::string& seen, pid_t) {
        if (!sent && seen.find("MiB/s") != std::string::npos) {
          absl::SleepFor(absl::Milliseconds(300));
          (void)!write(master, "\x03", 1);
          sent = true;
          sent_at = absl::Now();
        }
      });
  ASSERT_TRUE(sent) << intr.terminal;
  EXPECT_EQ(intr.exit_code, 130) << intr.terminal;
  EXPECT_LT(intr.exited_at - sent_at, absl::Seconds(3));
  std::cout << "smbd-cat on a terminal after Ctrl-C: " << absl::CHexEscape(intr.terminal) << "\n";
  EXPECT_NE(intr.terminal.find("\r\033[Ksmbd-cat: interrupted after "), std::string::npos)
      << absl::CHexEscape(intr.terminal);
  EXPECT_NE(intr.terminal.find("requests in flight cancelled; closing "), std::string::npos)
      << intr.terminal;
  // Not the 5-second forced exit: the cleanup (drain, close, logoff) finished by itself.
  EXPECT_EQ(intr.terminal.find("\nsmbd-cat: interrupted\n"), std::string::npos) << intr.terminal;

  // SIGTERM (a job scheduler stopping us): the same clean path, exit 128 + 15.
  bool termed = false;
  TtyRun term = RunOnATerminal(
      {cat, "--transport", "tcp", "--depth", "1", "--io-size", "4K", "-o", "/dev/null",
       url + "tty-big.bin"},
      [&](int, const std::string& seen, pid_t pid) {
        if (!termed && seen.find("MiB/s") != std::string::npos) {
          kill(pid, SIGTERM);
          termed = true;
        }
      });
  ASSERT_TRUE(termed) << term.terminal;
  EXPECT_EQ(term.exit_code, 143) << term.terminal;
  EXPECT_NE(term.terminal.find("smbd-cat: interrupted after "), std::string::npos)
      << term.terminal;
  unsetenv("SMBD_PASSWORD");
}

struct Mode {
  uint16_t dialect;
  bool sign;
  bool seal;
  Cipher cipher;
};

class SambaModeTest : public SambaTest, public ::testing::WithParamInterface<Mode> {};

TEST_P(SambaModeTest, ReadWriteRoundTrip) {
  const Mode m = GetParam();
  ClientOptions o;
  o.min_dialect = o.max_dialect = m.dialect;
  o.require_signing = m.sign;
  o.require_encryption = m.seal;
  o.ciphers = {m.cipher};
  auto c = Connect(o, m.sign && !m.seal ? env_.signed_port : 0);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->negotiated().dialect, m.dialect);
  auto s = (*c)->Login(User());
  ASSERT_TRUE(s.ok()) << s.status();
  // 2.x sessions with a key are signed even when not required (sign_unproven_sessions).
  EXPECT_EQ((*s)->signs(), m.sign || (m.dialect < kDialect300 && !m.seal));
  EXPECT_EQ((*s)->seals(), m.seal);
  auto t = (*s)->TreeConnect(m.sign && !m.seal ? "signed" : "share");
  ASSERT_TRUE(t.ok()) << t.status();
  OpenOptions w;
  w.write = true;
  w.disposition = 5;
  const std::string name = absl::StrCat("mode-", m.dialect, "-", m.sign, m.seal,
                                        static_cast<int>(m.cipher), ".bin");
  auto f = (*t)->Open(name, w);
  ASSERT_TRUE(f.ok()) << f.status();
  std::vector<uint8_t> data = Pattern(700001, m.dialect);
  ASSERT_TRUE((*f)->Write(0, data).ok());
  std::vector<uint8_t> back(data.size());
  auto n = (*f)->Read(0, absl::MakeSpan(back));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, data.size());
  EXPECT_TRUE(back == data);
}

std::vector<Mode> AllModes() {
  std::vector<Mode> v;
  for (uint16_t d : {kDialect202, kDialect210, kDialect300, kDialect302, kDialect311}) {
    v.push_back({d, false, false, Cipher::kAes128Gcm});
    v.push_back({d, true, false, Cipher::kAes128Gcm});
    if (d >= kDialect300) {
      if (d == kDialect311) {
        for (Cipher c : {Cipher::kAes128Ccm, Cipher::kAes128Gcm, Cipher::kAes256Ccm,
                         Cipher::kAes256Gcm}) {
          v.push_back({d, false, true, c});
        }
      } else {
        v.push_back({d, false, true, Cipher::kAes128Ccm});
      }
    }
  }
  return v;
}

std::string ModeName(const ::testing::TestParamInfo<Mode>& info) {
  const Mode& m = info.param;
  std::string cipher = CipherName(m.cipher);
  cipher.erase(std::remove(cipher.begin(), cipher.end(), '-'), cipher.end());
  return absl::StrCat("d", absl::Hex(m.dialect), m.sign ? "_signed" : "",
                      m.seal ? absl::StrCat("_sealed_", cipher) : "",
                      !m.sign && !m.seal ? "_plain" : "");
}

INSTANTIATE_TEST_SUITE_P(Dialects, SambaModeTest, ::testing::ValuesIn(AllModes()), ModeName);

}  // namespace
}  // namespace smbd
