// Heap allocations per steady-state request through the whole client: File::ReadAsync /
// WriteAsync -> Connection::Submit -> transport -> receive thread -> completion callback, over
// Direct TCP (a socketpair) and SMB Direct (the fake verbs), counted by a replaced operator new
// on every thread of the client. The scripted server and the fake device stand in for a peer
// and hardware: their allocations are left out (buffers/alloc_scope.h).
//
// Counted as assertions: 0 per request, inline (TCP, SMB Direct's sends and receives) and over
// SMB Direct's RDMA channel, whose per-I/O registration objects are recycled.
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <vector>

#include "buffers/alloc_counter.h"
#include "gtest/gtest.h"
#include "smb2/client/client.h"
#include "smb2/client/file.h"
#include "smb2/client/session.h"
#include "smb2/client/testing/harness.h"
#include "smb2/client/tree.h"
#include "smb2/pdu/create.h"
#include "smb2/tcp_transport.h"
#include "smbdirect/fake_verbs.h"
#include "smbdirect/smbdirect_transport.h"

namespace smbd {
namespace {

using scripted::ConnectRig;
using scripted::Rig;
using scripted::RigOptions;
using scripted::TransportKind;

// Completion state for one request at a time; no allocation in the callbacks.
struct Done {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  bool ok = false;
  uint32_t bytes = 0;

  void Reset() {
    std::lock_guard<std::mutex> l(mu);
    done = false;
    ok = false;
    bytes = 0;
  }
  bool Wait() {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, std::chrono::seconds(10), [&] { return done; }) && ok;
  }
  static void OnRead(void* arg, absl::StatusOr<uint32_t> r) {
    auto* d = static_cast<Done*>(arg);
    std::lock_guard<std::mutex> l(d->mu);
    d->ok = r.ok();
    d->bytes = r.ok() ? *r : 0;
    d->done = true;
    d->cv.notify_all();
  }
  static void OnWrite(void* arg, absl::Status s) {
    auto* d = static_cast<Done*>(arg);
    std::lock_guard<std::mutex> l(d->mu);
    d->ok = s.ok();
    d->done = true;
    d->cv.notify_all();
  }
};

class NoAllocTest : public ::testing::TestWithParam<TransportKind> {
 protected:
  void SetUp() override {
    RigOptions options;
    options.client.request_timeout = absl::Seconds(10);
    // 4 KiB outside a registered buffer stays inline over SMB Direct: below
    // rdma_threshold_per_io (64 KiB, the default); in one it goes by a window (4 KiB on).
    options.client.rdma_threshold_per_io = 64 << 10;
    ASSERT_TRUE(ConnectRig(GetParam(), &net_, options, &rig_).ok());
    Credentials anonymous;
    anonymous.anonymous = true;
    session_ = rig_.client->Login(anonymous).value();
    tree_ = session_->TreeConnect("share").value();
    OpenOptions o;
    o.write = true;
    o.disposition = kFileOverwriteIf;
    file_ = tree_->Open("steady.bin", o).value();
    std::vector<uint8_t> data(4 << 20, 0x3c);
    ASSERT_TRUE(file_->Write(0, data).ok());
  }
  void TearDown() override {
    file_.reset();
    tree_.reset();
    session_.reset();
    rig_.client.reset();
    rig_.server.reset();
  }

  // Allocations per request over `n` ReadAsync calls of `size` bytes, after a warm-up.
  // With `memory`, the reads land in it (a registered buffer) instead of a vector of their own.
  double ReadAllocs(size_t size, int n, absl::Span<uint8_t> memory = {}) {
    std::vector<uint8_t> own(memory.empty() ? size : 0);
    absl::Span<uint8_t> dst = memory.empty() ? absl::MakeSpan(own) : memory.subspan(0, size);
    Done d;
    auto one = [&](int i) {
      d.Reset();
      const uint64_t offset = (static_cast<uint64_t>(i) * size) % (3 << 20);
      EXPECT_TRUE(file_->ReadAsync(offset, dst, &Done::OnRead, &d).ok());
      EXPECT_TRUE(d.Wait());
      EXPECT_EQ(d.bytes, size);
    };
    for (int i = 0; i < 64; ++i) one(i);  // warm: caches filled, credits granted
    const uint64_t before = HeapAllocations();
    for (int i = 0; i < n; ++i) one(i);
    return static_cast<double>(HeapAllocations() - before) / n;
  }

  double WriteAllocs(size_t size, int n, absl::Span<const uint8_t> memory = {}) {
    std::vector<uint8_t> own(memory.empty() ? size : 0, 0x7e);
    absl::Span<const uint8_t> src =
        memory.empty() ? absl::MakeConstSpan(own) : memory.subspan(0, size);
    Done d;
    auto one = [&](int i) {
      d.Reset();
      const uint64_t offset = (static_cast<uint64_t>(i) * size) % (3 << 20);
      EXPECT_TRUE(file_->WriteAsync(offset, src, &Done::OnWrite, &d).ok());
      EXPECT_TRUE(d.Wait());
    };
    for (int i = 0; i < 64; ++i) one(i);
    const uint64_t before = HeapAllocations();
    for (int i = 0; i < n; ++i) one(i);
    return static_cast<double>(HeapAllocations() - before) / n;
  }

  bool rdma() const { return GetParam() == TransportKind::kSmbDirect; }

  FakeRdmaNetwork net_;
  Rig rig_;
  std::unique_ptr<Session> session_;
  std::unique_ptr<Tree> tree_;
  std::unique_ptr<File> file_;
};

TEST_P(NoAllocTest, CounterSeesTheClientThreads) {
  // The counter is not blind: a request that must allocate (a CREATE with its name) is seen.
  const uint64_t before = HeapAllocations();
  OpenOptions o;
  auto f = tree_->Open("steady.bin", o);
  ASSERT_TRUE(f.ok());
  EXPECT_GT(HeapAllocations(), before);
}

TEST_P(NoAllocTest, InlineReadsAndWritesAllocateNothing) {
  // 4 KiB goes inline on both transports (below the RDMA channel's threshold, set above).
  const double reads = ReadAllocs(4096, 500);
  const double writes = WriteAllocs(4096, 500);
  printf("%s 4 KiB: %.3f allocations per read, %.3f per write\n", rdma() ? "rdma" : "tcp", reads,
         writes);
  EXPECT_EQ(reads, 0.0);
  EXPECT_EQ(writes, 0.0);
}

TEST_P(NoAllocTest, LargeReadsAndWrites) {
  // 1 MiB: inline over TCP; over SMB Direct the RDMA channel with a registration per request.
  const double reads = ReadAllocs(1 << 20, 100);
  const double writes = WriteAllocs(1 << 20, 100);
  printf("%s 1 MiB: %.3f allocations per read, %.3f per write\n", rdma() ? "rdma" : "tcp", reads,
         writes);
  // Over SMB Direct the per-I/O registration's objects are recycled. (The fake device's own
  // bookkeeping is not counted; a real device's ibv_reg_mr allocates with malloc and makes
  // system calls, which issue #15 takes off the per-I/O path.)
  EXPECT_EQ(reads, 0.0);
  EXPECT_EQ(writes, 0.0);
}

// In a registered buffer over SMB Direct every size goes by a memory window (a bind per I/O,
// no ibv_reg_mr): nothing is allocated per request either. Over TCP registration is a no-op.
TEST_P(NoAllocTest, RegisteredBufferReadsAndWritesAllocateNothing) {
  std::vector<uint8_t> memory(2 << 20, 0x5c);
  auto reg = rig_.client->RegisterBuffer(absl::MakeSpan(memory));
  ASSERT_TRUE(reg.ok()) << reg.status();
  auto* smbd = dynamic_cast<SmbDirectTransport*>(rig_.client->connection()->transport());
  const uint64_t registrations_before = smbd != nullptr ? smbd->stats().registrations : 0;
  for (const size_t size : {size_t{4096}, size_t{1} << 20}) {
    const double reads = ReadAllocs(size, 100, absl::MakeSpan(memory));
    const double writes = WriteAllocs(size, 100, absl::MakeConstSpan(memory));
    printf("%s %zu B in a registered buffer: %.3f allocations per read, %.3f per write\n",
           rdma() ? "rdma" : "tcp", size, reads, writes);
    EXPECT_EQ(reads, 0.0);
    EXPECT_EQ(writes, 0.0);
  }
  if (smbd != nullptr) {
    const SmbDirectStats st = smbd->stats();
    EXPECT_EQ(st.window_binds, 2u * 2u * (64 + 100)) << "every I/O got a window";
    EXPECT_EQ(st.registrations - registrations_before, st.window_binds);
  }
}

// Pool pages taken per MiB moved by 4 KiB requests (BENCHMARKS.md 2d): every page is a 4 KiB
// registration-backed allocation, so headers that take a page each cost memory and cache.
TEST_P(NoAllocTest, PoolPagesPerMiB) {
  PagePool* pool = rig_.client->pool();
  // What a connection holds while idle (SMB Direct: its posted receive buffers and the send
  // slots' headers; both: the fragment allocators' current pages).
  printf("%s: an idle connection holds %llu pool pages\n", rdma() ? "rdma" : "tcp",
         static_cast<unsigned long long>(pool->stats().pages_in_use));
  std::vector<uint8_t> buf(4096, 0x11);
  Done d;
  const int n = 256;  // 1 MiB
  const uint64_t before_w = pool->stats().allocations;
  for (int i = 0; i < n; ++i) {
    d.Reset();
    ASSERT_TRUE(file_->WriteAsync(static_cast<uint64_t>(i) * 4096, buf, &Done::OnWrite, &d).ok());
    ASSERT_TRUE(d.Wait());
  }
  const uint64_t writes = pool->stats().allocations - before_w;
  const uint64_t before_r = pool->stats().allocations;
  for (int i = 0; i < n; ++i) {
    d.Reset();
    ASSERT_TRUE(file_->ReadAsync(static_cast<uint64_t>(i) * 4096, absl::MakeSpan(buf),
                                 &Done::OnRead, &d).ok());
    ASSERT_TRUE(d.Wait());
  }
  const uint64_t reads = pool->stats().allocations - before_r;
  printf("%s: pool pages per MiB of 4 KiB writes %llu, of 4 KiB reads %llu\n",
         rdma() ? "rdma" : "tcp", static_cast<unsigned long long>(writes),
         static_cast<unsigned long long>(reads));
}

// Payload bytes copied per request on each path (BENCHMARKS.md 2d), from the counters: the
// client's user-space READ copies (ClientStats::bytes_copied), SMB Direct's bounce of a caller's
// WRITE source into registered pages (SmbDirectStats::bounced_bytes) and the bytes TCP's
// sendmsg copied into the kernel (TcpStats::bytes_copied; no zero-copy on a socketpair).
TEST_P(NoAllocTest, CopiesPerRequest) {
  Transport* transport = rig_.client->connection()->transport();
  auto* tcp = dynamic_cast<TcpTransport*>(transport);
  auto* smbd = dynamic_cast<SmbDirectTransport*>(transport);
  ASSERT_TRUE(tcp != nullptr || smbd != nullptr);
  auto transport_copies = [&]() -> uint64_t {
    return tcp != nullptr ? tcp->stats().bytes_copied : smbd->stats().bounced_bytes;
  };
  for (const size_t size : {size_t{4096}, size_t{1} << 20}) {
    const int n = 16;
    const ClientStats r0 = rig_.client->stats();
    ReadAllocs(size, n);  // 64 warm-up requests and n measured, all counted here
    const ClientStats r1 = rig_.client->stats();
    const uint64_t t0 = transport_copies();
    WriteAllocs(size, n);
    const uint64_t t1 = transport_copies();
    const double per = static_cast<double>(size) * (64 + n);
    const double read_copied = (r1.bytes_copied - r0.bytes_copied) / per;
    const double read_placed = (r1.bytes_placed - r0.bytes_placed) / per;
    const double read_rdma = (r1.rdma_bytes_read - r0.rdma_bytes_read) / per;
    const double write_copied = (t1 - t0) / per;
    printf("%s %zu B: READ data copied in user space %.2fx (placed by the transport %.2fx, "
           "by RDMA %.2fx); WRITE data copied by the transport %.2fx\n",
           rdma() ? "rdma" : "tcp", size, read_copied, read_placed, read_rdma, write_copied);
    EXPECT_DOUBLE_EQ(read_copied + read_placed + read_rdma, 1.0);
    if (!rdma()) {
      EXPECT_EQ(read_copied, 0.0);  // straight from the socket into the caller's buffer
      EXPECT_GE(write_copied, 1.0);  // sendmsg copies (headers included)
      EXPECT_LT(write_copied, 1.1);
    } else if (size == 4096) {
      EXPECT_EQ(read_copied, 1.0);  // inline: out of the receive buffers
      EXPECT_EQ(write_copied, 1.0);  // inline: the caller's buffer bounced into pool pages
    } else {
      EXPECT_EQ(read_rdma, 1.0);  // the RDMA channel: no copy either way
      EXPECT_EQ(write_copied, 0.0);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Transports, NoAllocTest,
                         ::testing::Values(TransportKind::kTcp, TransportKind::kSmbDirect),
                         [](const auto& info) { return scripted::TransportName(info.param); });

}  // namespace
}  // namespace smbd
