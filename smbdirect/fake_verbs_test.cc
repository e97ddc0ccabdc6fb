#include "smbdirect/fake_verbs.h"

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <numeric>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "buffers/page_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "smbdirect/verbs.h"

namespace smbd {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(5);

// A registered byte buffer.
struct Buf {
  std::vector<uint8_t> bytes;
  std::unique_ptr<MemoryRegion> mr;

  Sge sge(size_t offset, size_t len) const {
    return mr->SgeFor(bytes.data() + offset, static_cast<uint32_t>(len));
  }
  Sge all() const { return sge(0, bytes.size()); }
  uint64_t addr(size_t offset = 0) const {
    return reinterpret_cast<uint64_t>(bytes.data() + offset);
  }
};

Buf MakeBuf(RdmaEndpoint& ep, size_t n, MemoryAccess access = MemoryAccess::kLocalWrite,
            uint8_t fill = 0) {
  Buf b;
  b.bytes.assign(n, fill);
  auto mr = ep.RegisterMemory(b.bytes.data(), n, access);
  EXPECT_TRUE(mr.ok()) << mr.status();
  if (mr.ok()) b.mr = *std::move(mr);
  return b;
}

void FillPattern(std::vector<uint8_t>& v, uint8_t seed) {
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
}

// Waits for and returns exactly `want` completions (fewer if the wait fails).
std::vector<WorkCompletion> Collect(RdmaEndpoint& ep, size_t want,
                                    absl::Duration timeout = kWait) {
  std::vector<WorkCompletion> out;
  const absl::Time deadline = absl::Now() + timeout;
  while (out.size() < want) {
    WorkCompletion wc[16];
    int n = ep.PollCompletions(absl::MakeSpan(wc, std::min<size_t>(16, want - out.size())));
    out.insert(out.end(), wc, wc + n);
    if (n > 0) continue;
    if (!ep.WaitForCompletions(deadline - absl::Now()).ok()) break;
  }
  return out;
}

int PollAll(RdmaEndpoint& ep, std::vector<WorkCompletion>* out) {
  WorkCompletion wc[64];
  int total = 0;
  for (int n; (n = ep.PollCompletions(absl::MakeSpan(wc))) > 0;) {
    out->insert(out->end(), wc, wc + n);
    total += n;
  }
  return total;
}

class FakeVerbsTest : public ::testing::Test {
 protected:
  void SetUp() override { Reset(FakeNetworkOptions()); }
  void Reset(FakeNetworkOptions options) {
    pair_ = FakeEndpointPair();
    net_ = std::make_unique<FakeRdmaNetwork>(std::move(options));
    pair_ = net_->CreatePair(/*credits=*/8, /*sge=*/4);
    client_ = pair_.client.get();
    peer_ = pair_.peer.get();
  }
  void TearDown() override {
    pair_ = FakeEndpointPair();
    EXPECT_EQ(net_->live_endpoints(), 0);
    EXPECT_EQ(net_->outstanding_work_requests(), 0);
    EXPECT_EQ(net_->live_memory_regions(), 0);
    EXPECT_EQ(net_->live_memory_windows(), 0);
  }

  std::unique_ptr<FakeRdmaNetwork> net_;
  FakeEndpointPair pair_;
  FakeRdmaEndpoint* client_ = nullptr;
  FakeRdmaEndpoint* peer_ = nullptr;
};

TEST_F(FakeVerbsTest, SendGathersAndReceiveScatters) {
  Buf a = MakeBuf(*client_, 10), b = MakeBuf(*client_, 20), c = MakeBuf(*client_, 5);
  FillPattern(a.bytes, 1);
  FillPattern(b.bytes, 50);
  FillPattern(c.bytes, 200);
  Buf r1 = MakeBuf(*peer_, 12), r2 = MakeBuf(*peer_, 64);
  Sge recv_sges[] = {r1.all(), r2.all()};
  ASSERT_TRUE(peer_->PostRecv(77, recv_sges).ok());
  Sge send_sges[] = {a.all(), b.sge(5, 15), c.all()};
  ASSERT_TRUE(client_->PostSend(11, send_sges, /*signaled=*/true).ok());

  std::vector<WorkCompletion> sent = Collect(*client_, 1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].wr_id, 11u);
  EXPECT_EQ(sent[0].status, WcStatus::kSuccess);
  EXPECT_EQ(sent[0].opcode, WcOpcode::kSend);
  std::vector<WorkCompletion> got = Collect(*peer_, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].wr_id, 77u);
  EXPECT_EQ(got[0].status, WcStatus::kSuccess);
  EXPECT_EQ(got[0].opcode, WcOpcode::kRecv);
  EXPECT_EQ(got[0].byte_len, 30u);
  EXPECT_FALSE(got[0].with_invalidate);

  std::vector<uint8_t> expected(a.bytes);
  expected.insert(expected.end(), b.bytes.begin() + 5, b.bytes.end());
  expected.insert(expected.end(), c.bytes.begin(), c.bytes.end());
  std::vector<uint8_t> received(r1.bytes);
  received.insert(received.end(), r2.bytes.begin(), r2.bytes.begin() + 18);
  EXPECT_EQ(received, expected);
  EXPECT_EQ(r2.bytes[18], 0);  // nothing beyond the message was touched
}

TEST_F(FakeVerbsTest, ZeroLengthSendCompletesWithZeroBytes) {
  Buf r = MakeBuf(*peer_, 8);
  Sge rs[] = {r.all()};
  ASSERT_TRUE(peer_->PostRecv(1, rs).ok());
  ASSERT_TRUE(client_->PostSend(2, {}, true).ok());
  auto got = Collect(*peer_, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].byte_len, 0u);
  EXPECT_EQ(Collect(*client_, 1).size(), 1u);
}

TEST_F(FakeVerbsTest, UnsignaledSendHasNoCompletionAndHoldsItsSlot) {
  Buf s = MakeBuf(*client_, 4);
  Buf r = MakeBuf(*peer_, 4 * 64);
  const uint32_t depth = client_->queue_sizes().send_wr;
  for (uint32_t i = 0; i < depth; ++i) {
    Sge rs[] = {r.sge(0, 4)};
    ASSERT_TRUE(peer_->PostRecv(i, rs).ok()) << i;
    if (peer_->outstanding_work_requests() >= static_cast<int>(peer_->queue_sizes().recv_wr)) {
      break;
    }
  }
  // Fill the send queue with unsignaled sends but the last.
  Sge ss[] = {s.all()};
  for (uint32_t i = 0; i + 1 < depth; ++i) {
    ASSERT_TRUE(client_->PostSend(100 + i, ss, /*signaled=*/false).ok()) << i;
  }
  std::vector<WorkCompletion> wcs;
  EXPECT_EQ(PollAll(*client_, &wcs), 0);
  ASSERT_TRUE(client_->PostSend(999, ss, /*signaled=*/true).ok());
  // Every slot is taken until the signaled completion is polled.
  absl::Status full = client_->PostSend(1000, ss, true);
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  // Give the peer receives for the sends still waiting.
  std::vector<WorkCompletion> peer_wcs;
  PollAll(*peer_, &peer_wcs);
  EXPECT_EQ(peer_wcs.size(), peer_->queue_sizes().recv_wr);
  for (uint32_t i = 0; i < depth - peer_->queue_sizes().recv_wr; ++i) {
    Sge rs[] = {r.sge(0, 4)};
    ASSERT_TRUE(peer_->PostRecv(500 + i, rs).ok());
  }
  wcs = Collect(*client_, 1);
  ASSERT_EQ(wcs.size(), 1u);
  EXPECT_EQ(wcs[0].wr_id, 999u);
  EXPECT_EQ(wcs[0].status, WcStatus::kSuccess);
  EXPECT_TRUE(client_->PostSend(1001, ss, false).ok());
  client_->Disconnect();
}

TEST_F(FakeVerbsTest, SendWaitsForAReceiveInOrder) {
  Buf s = MakeBuf(*client_, 8);
  Buf r = MakeBuf(*peer_, 16);
  s.bytes[0] = 'A';
  Sge ss[] = {s.sge(0, 1)};
  ASSERT_TRUE(client_->PostSend(1, ss, true).ok());
  s.bytes[1] = 'B';
  Sge ss2[] = {s.sge(1, 1)};
  ASSERT_TRUE(client_->PostSend(2, ss2, true).ok());
  // Receiver not ready: nothing completes yet.
  EXPECT_EQ(client_->WaitForCompletions(absl::Milliseconds(20)).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(client_->outstanding_work_requests(), 2);
  Sge r1[] = {r.sge(0, 8)};
  Sge r2[] = {r.sge(8, 8)};
  ASSERT_TRUE(peer_->PostRecv(10, r1).ok());
  auto sent = Collect(*client_, 1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].wr_id, 1u);
  ASSERT_TRUE(peer_->PostRecv(20, r2).ok());
  sent = Collect(*client_, 1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].wr_id, 2u);
  auto got = Collect(*peer_, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].wr_id, 10u);
  EXPECT_EQ(got[1].wr_id, 20u);
  EXPECT_EQ(r.bytes[0], 'A');
  EXPECT_EQ(r.bytes[8], 'B');
}

TEST_F(FakeVerbsTest, RdmaWriteBehindABlockedSendWaits) {
  Buf s = MakeBuf(*peer_, 8, MemoryAccess::kLocalWrite, 0x5a);
  Buf dst = MakeBuf(*client_, 8, MemoryAccess::kRemoteWrite);
  Sge ss[] = {s.all()};
  ASSERT_TRUE(peer_->PostSend(1, ss, true).ok());  // blocked: no receive at the client
  ASSERT_TRUE(peer_->PostRdmaWrite(2, ss, dst.addr(), dst.mr->rkey(), true).ok());
  EXPECT_EQ(dst.bytes[0], 0);  // RC executes in order
  Buf r = MakeBuf(*client_, 8);
  Sge rs[] = {r.all()};
  ASSERT_TRUE(client_->PostRecv(3, rs).ok());
  auto done = Collect(*peer_, 2);
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[1].opcode, WcOpcode::kRdmaWrite);
  EXPECT_EQ(dst.bytes[0], 0x5a);
}

TEST_F(FakeVerbsTest, RnrRetryExceededWhenConfigured) {
  FakeNetworkOptions options;
  options.rnr_retry_count = 0;
  Reset(options);
  Buf s = MakeBuf(*client_, 8);
  Buf r = MakeBuf(*peer_, 8);
  Sge rs[] = {r.all()};
  ASSERT_TRUE(peer_->PostRecv(5, rs).ok());
  Sge ss[] = {s.all()};
  ASSERT_TRUE(client_->PostSend(1, ss, true).ok());  // consumes the one receive
  ASSERT_TRUE(client_->PostSend(2, ss, false).ok());  // finds none
  auto wcs = Collect(*client_, 2);
  ASSERT_EQ(wcs.size(), 2u);
  EXPECT_EQ(wcs[0].status, WcStatus::kSuccess);
  EXPECT_EQ(wcs[1].wr_id, 2u);
  EXPECT_EQ(wcs[1].status, WcStatus::kRnrRetryExceeded);
  EXPECT_FALSE(client_->connected());
  EXPECT_THAT(std::string(client_->error().message()), HasSubstr("RNR_RETRY_EXC_ERR"));
}

TEST_F(FakeVerbsTest, SendLargerThanReceiveFailsBothSides) {
  Buf s = MakeBuf(*client_, 100);
  Buf r = MakeBuf(*peer_, 100);
  Sge small[] = {r.sge(0, 50)};
  Sge other[] = {r.sge(50, 50)};
  ASSERT_TRUE(peer_->PostRecv(1, small).ok());
  ASSERT_TRUE(peer_->PostRecv(2, other).ok());
  Buf client_r = MakeBuf(*client_, 16);
  Sge crs[] = {client_r.all()};
  ASSERT_TRUE(client_->PostRecv(3, crs).ok());
  Sge ss[] = {s.all()};
  ASSERT_TRUE(client_->PostSend(9, ss, false).ok());

  auto peer_wcs = Collect(*peer_, 2);
  ASSERT_EQ(peer_wcs.size(), 2u);
  EXPECT_EQ(peer_wcs[0].wr_id, 1u);
  EXPECT_EQ(peer_wcs[0].status, WcStatus::kLocalLength);
  EXPECT_EQ(peer_wcs[1].wr_id, 2u);
  EXPECT_EQ(peer_wcs[1].status, WcStatus::kFlushed);
  auto client_wcs = Collect(*client_, 2);
  ASSERT_EQ(client_wcs.size(), 2u);
  // The failed send reports its error even though it was unsignaled; the receive is flushed.
  EXPECT_EQ(client_wcs[0].wr_id, 9u);
  EXPECT_EQ(client_wcs[0].status, WcStatus::kRemoteInvalidRequest);
  EXPECT_EQ(client_wcs[1].wr_id, 3u);
  EXPECT_EQ(client_wcs[1].status, WcStatus::kFlushed);
  EXPECT_FALSE(peer_->connected());
  EXPECT_FALSE(client_->connected());
  EXPECT_EQ(client_->PostSend(10, ss, true).code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(client_->PostRecv(11, crs).message()), HasSubstr("not connected"));
}

TEST_F(FakeVerbsTest, BadLocalKeyIsALocalProtectionError) {
  Buf s = MakeBuf(*client_, 16);
  Sge bad[] = {Sge{s.addr(), 16, s.mr->lkey() + 1}};
  ASSERT_TRUE(client_->PostSend(1, bad, true).ok());
  auto wcs = Collect(*client_, 1);
  ASSERT_EQ(wcs.size(), 1u);
  EXPECT_EQ(wcs[0].status, WcStatus::kLocalProtection);
  EXPECT_FALSE(client_->connected());
}

TEST_F(FakeVerbsTest, LocalSgeOutsideItsRegionIsALocalProtectionError) {
  Buf s = MakeBuf(*client_, 16);
  Sge beyond[] = {s.sge(8, 9)};
  Buf r = MakeBuf(*peer_, 64);
  Sge rs[] = {r.all()};
  ASSERT_TRUE(peer_->PostRecv(1, rs).ok());
  ASSERT_TRUE(client_->PostSend(1, beyond, true).ok());
  auto wcs = Collect(*client_, 1);
  ASSERT_EQ(wcs.size(), 1u);
  EXPECT_EQ(wcs[0].status, WcStatus::kLocalProtection);
  peer_->Disconnect();
}

TEST_F(FakeVerbsTest, ReceiveIntoReadOnlyRegionFails) {
  Buf s = MakeBuf(*client_, 16);
  Buf r = MakeBuf(*peer_, 16, MemoryAccess::kNone);
  Sge rs[] = {r.all()};
  ASSERT_TRUE(peer_->PostRecv(1, rs).ok());
  Sge ss[] = {s.all()};
  ASSERT_TRUE(client_->PostSend(2, ss, true).ok());
  auto got = Collect(*peer_, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].status, WcStatus::kLocalProtection);
  auto sent = Collect(*client_, 1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].status, WcStatus::kRemoteOperation);
}

TEST_F(FakeVerbsTest, PostArgumentsAreChecked) {
  Buf s = MakeBuf(*client_, 64);
  std::vector<Sge> many(client_->queue_sizes().send_sge + 1, s.sge(0, 1));
  EXPECT_EQ(client_->PostSend(1, many, true).code(), absl::StatusCode::kInvalidArgument);
  std::vector<Sge> many_recv(client_->queue_sizes().recv_sge + 1, s.sge(0, 1));
  EXPECT_EQ(client_->PostRecv(1, many_recv).code(), absl::StatusCode::kInvalidArgument);
  Sge one[] = {s.sge(0, 1)};
  for (uint32_t i = 0; i < client_->queue_sizes().recv_wr; ++i) {
    ASSERT_TRUE(client_->PostRecv(i, one).ok());
  }
  EXPECT_EQ(client_->PostRecv(99, one).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(client_->RegisterMemory(nullptr, 4, MemoryAccess::kLocalWrite).status().code(),
            absl::StatusCode::kInvalidArgument);
  client_->Disconnect();
  std::vector<WorkCompletion> wcs;
  EXPECT_EQ(PollAll(*client_, &wcs), static_cast<int>(client_->queue_sizes().recv_wr));
}

TEST_F(FakeVerbsTest, PeerWritesAndReadsClientMemory) {
  Buf dst = MakeBuf(*client_, 4096, MemoryAccess::kRemoteWrite);
  Buf src = MakeBuf(*client_, 4096, MemoryAccess::kRemoteRead);
  FillPattern(src.bytes, 9);
  EXPECT_TRUE(HasAccess(dst.mr->access(), MemoryAccess::kLocalWrite));  // implied by ibv_reg_mr
  Buf pdata = MakeBuf(*peer_, 8192);
  FillPattern(pdata.bytes, 3);
  // Write 1000 bytes at offset 100 of the client's destination, gathered from two pieces.
  Sge w[] = {pdata.sge(0, 600), pdata.sge(1000, 400)};
  ASSERT_TRUE(peer_->PostRdmaWrite(1, w, dst.addr(100), dst.mr->rkey(), true).ok());
  Sge r[] = {pdata.sge(4096, 4096)};
  ASSERT_TRUE(peer_->PostRdmaRead(2, r, src.addr(), src.mr->rkey(), true).ok());
  auto wcs = Collect(*peer_, 2);
  ASSERT_EQ(wcs.size(), 2u);
  EXPECT_EQ(wcs[0].opcode, WcOpcode::kRdmaWrite);
  EXPECT_EQ(wcs[0].status, WcStatus::kSuccess);
  EXPECT_EQ(wcs[0].byte_len, 1000u);
  EXPECT_EQ(wcs[1].opcode, WcOpcode::kRdmaRead);
  EXPECT_EQ(wcs[1].status, WcStatus::kSuccess);
  EXPECT_EQ(0, std::memcmp(dst.bytes.data() + 100, pdata.bytes.data(), 600));
  EXPECT_EQ(0, std::memcmp(dst.bytes.data() + 700, pdata.bytes.data() + 1000, 400));
  EXPECT_EQ(dst.bytes[99], 0);
  EXPECT_EQ(dst.bytes[1100], 0);
  EXPECT_EQ(0, std::memcmp(pdata.bytes.data() + 4096, src.bytes.data(), 4096));
  // One-sided operations leave no completion at the target.
  std::vector<WorkCompletion> none;
  EXPECT_EQ(PollAll(*client_, &none), 0);
  EXPECT_TRUE(client_->connected());
}

// Each bad access: the peer's operation fails with kRemoteAccess, both queue pairs break, and the
// client's outstanding receive is flushed.
class BadRemoteAccessTest : public FakeVerbsTest {
 protected:
  void ExpectRemoteAccessError(bool write, uint64_t addr, uint32_t rkey, size_t len) {
    Buf r = MakeBuf(*client_, 16);
    Sge rs[] = {r.all()};
    ASSERT_TRUE(client_->PostRecv(42, rs).ok());
    Buf local = MakeBuf(*peer_, len);
    Sge ls[] = {local.all()};
    if (write) {
      ASSERT_TRUE(peer_->PostRdmaWrite(7, ls, addr, rkey, false).ok());
    } else {
      ASSERT_TRUE(peer_->PostRdmaRead(7, ls, addr, rkey, false).ok());
    }
    auto wcs = Collect(*peer_, 1);
    ASSERT_EQ(wcs.size(), 1u);
    EXPECT_EQ(wcs[0].wr_id, 7u);
    EXPECT_EQ(wcs[0].status, WcStatus::kRemoteAccess);
    EXPECT_FALSE(peer_->connected());
    auto client_wcs = Collect(*client_, 1);
    ASSERT_EQ(client_wcs.size(), 1u);
    EXPECT_EQ(client_wcs[0].wr_id, 42u);
    EXPECT_EQ(client_wcs[0].status, WcStatus::kFlushed);
    EXPECT_FALSE(client_->connected());
  }
};

TEST_F(BadRemoteAccessTest, UnknownRkey) {
  Buf dst = MakeBuf(*client_, 64, MemoryAccess::kRemoteWrite);
  ExpectRemoteAccessError(true, dst.addr(), dst.mr->rkey() + 1, 8);
  EXPECT_EQ(dst.bytes[0], 0);
}

TEST_F(BadRemoteAccessTest, OneBytePastTheEnd) {
  Buf dst = MakeBuf(*client_, 64, MemoryAccess::kRemoteWrite);
  ExpectRemoteAccessError(true, dst.addr(1), dst.mr->rkey(), 64);
  EXPECT_EQ(dst.bytes[1], 0);
}

TEST_F(BadRemoteAccessTest, BeforeTheStart) {
  Buf src = MakeBuf(*client_, 64, MemoryAccess::kRemoteRead);
  ExpectRemoteAccessError(false, src.addr() - 1, src.mr->rkey(), 8);
}

TEST_F(BadRemoteAccessTest, WriteToReadOnlyRegion) {
  Buf src = MakeBuf(*client_, 64, MemoryAccess::kRemoteRead);
  ExpectRemoteAccessError(true, src.addr(), src.mr->rkey(), 8);
  EXPECT_EQ(src.bytes[0], 0);
}

TEST_F(BadRemoteAccessTest, ReadFromWriteOnlyRegion) {
  Buf dst = MakeBuf(*client_, 64, MemoryAccess::kRemoteWrite);
  ExpectRemoteAccessError(false, dst.addr(), dst.mr->rkey(), 8);
}

TEST_F(BadRemoteAccessTest, LocalOnlyRegion) {
  Buf pool = MakeBuf(*client_, 64, MemoryAccess::kLocalWrite);
  ExpectRemoteAccessError(false, pool.addr(), pool.mr->rkey(), 8);
}

TEST_F(BadRemoteAccessTest, DeregisteredRkeyIsDead) {
  Buf dst = MakeBuf(*client_, 64, MemoryAccess::kRemoteWrite);
  const uint32_t rkey = dst.mr->rkey();
  const uint64_t addr = dst.addr();
  // A finished I/O: the first write works, then the registration is dropped.
  Buf local = MakeBuf(*peer_, 8, MemoryAccess::kLocalWrite, 1);
  Sge ls[] = {local.all()};
  ASSERT_TRUE(peer_->PostRdmaWrite(1, ls, addr, rkey, true).ok());
  ASSERT_EQ(Collect(*peer_, 1).at(0).status, WcStatus::kSuccess);
  EXPECT_EQ(dst.bytes[0], 1);
  dst.mr.reset();
  dst.bytes[0] = 0;
  ExpectRemoteAccessError(true, addr, rkey, 8);
  EXPECT_EQ(dst.bytes[0], 0);
}

TEST_F(BadRemoteAccessTest, RkeyOfAnotherProtectionDomain) {
  // The peer names one of its own regions: rkeys are per protection domain.
  Buf own = MakeBuf(*peer_, 64, MemoryAccess::kRemoteWrite);
  ExpectRemoteAccessError(true, own.addr(), own.mr->rkey(), 8);
}

TEST_F(BadRemoteAccessTest, LkeyIsNotAnRkey) {
  Buf dst = MakeBuf(*client_, 64, MemoryAccess::kRemoteWrite);
  ExpectRemoteAccessError(true, dst.addr(), dst.mr->lkey(), 8);
}

// Binds a window over [16, 48) of a 64-byte region and returns its rkey after the bind completes.
uint32_t BindWindow(RdmaEndpoint& ep, MemoryWindow* w, const Buf& region, MemoryAccess access) {
  EXPECT_TRUE(ep.PostBindWindow(5, w, *region.mr, region.bytes.data() + 16, 32, access, true)
                  .ok());
  auto wcs = Collect(ep, 1);
  EXPECT_EQ(wcs.size(), 1u);
  if (!wcs.empty()) {
    EXPECT_EQ(wcs[0].opcode, WcOpcode::kBindWindow);
    EXPECT_EQ(wcs[0].status, WcStatus::kSuccess);
  }
  return w->rkey();
}

TEST_F(FakeVerbsTest, SendWithInvalidateKillsAWindow) {
  Buf region = MakeBuf(*client_, 64, MemoryAccess::kRemoteWrite);
  auto window = client_->AllocateWindow();
  ASSERT_TRUE(window.ok()) << window.status();
  EXPECT_EQ((*window)->rkey(), 0u);
  const uint32_t rkey = BindWindow(*client_, window->get(), region, MemoryAccess::kRemoteWrite);
  ASSERT_NE(rkey, 0u);
  EXPECT_NE(rkey, region.mr->rkey());

  Buf local = MakeBuf(*peer_, 32, MemoryAccess::kLocalWrite, 0xee);
  Sge ls[] = {local.all()};
  ASSERT_TRUE(peer_->PostRdmaWrite(1, ls, region.addr(16), rkey, true).ok());
  ASSERT_EQ(Collect(*peer_, 1).at(0).status, WcStatus::kSuccess);
  EXPECT_EQ(region.bytes[16], 0xee);
  EXPECT_EQ(region.bytes[15], 0);

  Buf r = MakeBuf(*client_, 32);
  Sge rs[] = {r.all()};
  ASSERT_TRUE(client_->PostRecv(3, rs).ok());
  Sge msg[] = {local.sge(0, 4)};
  ASSERT_TRUE(peer_->PostSend(2, msg, true, rkey).ok());
  auto got = Collect(*client_, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].status, WcStatus::kSuccess);
  EXPECT_TRUE(got[0].with_invalidate);
  EXPECT_EQ(got[0].invalidated_rkey, rkey);
  EXPECT_EQ(got[0].byte_len, 4u);
  EXPECT_EQ(Collect(*peer_, 1).at(0).status, WcStatus::kSuccess);

  // The invalidated rkey is dead.
  ASSERT_TRUE(peer_->PostRdmaWrite(4, ls, region.addr(16), rkey, true).ok());
  EXPECT_EQ(Collect(*peer_, 1).at(0).status, WcStatus::kRemoteAccess);
  EXPECT_EQ(net_->double_invalidations(), 0);
}

TEST_F(FakeVerbsTest, WindowRangeIsEnforcedByDefault) {
  Buf region = MakeBuf(*client_, 64, MemoryAccess::kRemoteWrite);
  auto window = client_->AllocateWindow();
  ASSERT_TRUE(window.ok());
  const uint32_t rkey = BindWindow(*client_, window->get(), region, MemoryAccess::kRemoteWrite);
  Buf local = MakeBuf(*peer_, 8);
  Sge ls[] = {local.all()};
  ASSERT_TRUE(peer_->PostRdmaWrite(1, ls, region.addr(0), rkey, true).ok());
  EXPECT_EQ(Collect(*peer_, 1).at(0).status, WcStatus::kRemoteAccess);
}

TEST_F(FakeVerbsTest, RxeWindowsReachTheWholeRegion) {
  FakeNetworkOptions options;
  options.windows_enforce_range = false;
  Reset(options);
  Buf region = MakeBuf(*client_, 64, MemoryAccess::kRemoteWrite);
  auto window = client_->AllocateWindow();
  ASSERT_TRUE(window.ok());
  const uint32_t rkey = BindWindow(*client_, window->get(), region, MemoryAccess::kRemoteWrite);
  Buf local = MakeBuf(*peer_, 8, MemoryAccess::kLocalWrite, 7);
  Sge ls[] = {local.all()};
  ASSERT_TRUE(peer_->PostRdmaWrite(1, ls, region.addr(0), rkey, true).ok());
  EXPECT_EQ(Collect(*peer_, 1).at(0).status, WcStatus::kSuccess);
  EXPECT_EQ(region.bytes[0], 7);  // outside the window: no isolation on rxe
}

TEST_F(FakeVerbsTest, BindingABoundWindowFails) {
  Buf region = MakeBuf(*client_, 64, MemoryAccess::kRemoteWrite);
  auto window = client_->AllocateWindow();
  ASSERT_TRUE(window.ok());
  BindWindow(*client_, window->get(), region, MemoryAccess::kRemoteWrite);
  ASSERT_TRUE(client_
                  ->PostBindWindow(6, window->get(), *region.mr, region.bytes.data(), 8,
                                   MemoryAccess::kRemoteWrite, true)
                  .ok());
  EXPECT_EQ(Collect(*client_, 1).at(0).status, WcStatus::kOther);
  EXPECT_EQ(client_->PostBindWindow(6, window->get(), *region.mr, region.bytes.data() + 60, 8,
                                    MemoryAccess::kRemoteWrite, true)
                .code(),
            absl::StatusCode::kInternal);  // the queue pair failed with the bind error
}

TEST_F(FakeVerbsTest, BindOutsideTheRegionIsRejected) {
  Buf region = MakeBuf(*client_, 64, MemoryAccess::kRemoteWrite);
  auto window = client_->AllocateWindow();
  ASSERT_TRUE(window.ok());
  EXPECT_EQ(client_
                ->PostBindWindow(6, window->get(), *region.mr, region.bytes.data() + 60, 8,
                                 MemoryAccess::kRemoteWrite, true)
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(FakeVerbsTest, LocalInvalidateThenRebind) {
  Buf region = MakeBuf(*client_, 64, MemoryAccess::kRemoteWrite);
  auto window = client_->AllocateWindow();
  ASSERT_TRUE(window.ok());
  const uint32_t first = BindWindow(*client_, window->get(), region, MemoryAccess::kRemoteWrite);
  ASSERT_TRUE(client_->PostLocalInvalidate(8, first, true).ok());
  auto wcs = Collect(*client_, 1);
  ASSERT_EQ(wcs.size(), 1u);
  EXPECT_EQ(wcs[0].opcode, WcOpcode::kLocalInvalidate);
  EXPECT_EQ(wcs[0].status, WcStatus::kSuccess);
  const uint32_t second = BindWindow(*client_, window->get(), region, MemoryAccess::kRemoteWrite);
  EXPECT_NE(first, second);
  Buf local = MakeBuf(*peer_, 8);
  Sge ls[] = {local.all()};
  ASSERT_TRUE(peer_->PostRdmaWrite(1, ls, region.addr(16), second, true).ok());
  EXPECT_EQ(Collect(*peer_, 1).at(0).status, WcStatus::kSuccess);
  EXPECT_TRUE(client_->connected());
}

TEST_F(FakeVerbsTest, InvalidatingTwiceIsCountedAndFails) {
  Buf region = MakeBuf(*client_, 64, MemoryAccess::kRemoteWrite);
  auto window = client_->AllocateWindow();
  ASSERT_TRUE(window.ok());
  const uint32_t rkey = BindWindow(*client_, window->get(), region, MemoryAccess::kRemoteWrite);
  Buf r = MakeBuf(*client_, 8);
  Sge rs[] = {r.all()};
  ASSERT_TRUE(client_->PostRecv(3, rs).ok());
  ASSERT_TRUE(peer_->PostSend(2, {}, true, rkey).ok());
  ASSERT_TRUE(Collect(*client_, 1).at(0).with_invalidate);
  // Local invalidation after the remote one: rxe panics; the fake fails and counts it.
  ASSERT_TRUE(client_->PostLocalInvalidate(9, rkey, true).ok());
  auto wcs = Collect(*client_, 1);
  ASSERT_EQ(wcs.size(), 1u);
  EXPECT_EQ(wcs[0].status, WcStatus::kOther);
  EXPECT_EQ(net_->double_invalidations(), 1);
}

TEST_F(FakeVerbsTest, SendWithInvalidateOfAPlainRegionFailsTheReceiver) {
  Buf dst = MakeBuf(*client_, 64, MemoryAccess::kRemoteWrite);
  Buf r = MakeBuf(*client_, 64);
  Sge r1[] = {r.sge(0, 32)};
  Sge r2[] = {r.sge(32, 32)};
  ASSERT_TRUE(client_->PostRecv(1, r1).ok());
  ASSERT_TRUE(client_->PostRecv(2, r2).ok());
  Buf msg = MakeBuf(*peer_, 8);
  Sge ms[] = {msg.all()};
  ASSERT_TRUE(peer_->PostSend(10, ms, true, dst.mr->rkey()).ok());
  auto got = Collect(*client_, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].wr_id, 1u);
  EXPECT_EQ(got[0].status, WcStatus::kRemoteInvalidRequest);
  EXPECT_EQ(got[1].wr_id, 2u);
  EXPECT_EQ(got[1].status, WcStatus::kFlushed);
  EXPECT_FALSE(client_->connected());
  // The sender sees success.
  auto sent = Collect(*peer_, 1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].status, WcStatus::kSuccess);
  EXPECT_TRUE(peer_->connected());
  // Its next send finds a dead peer.
  ASSERT_TRUE(peer_->PostSend(11, ms, false).ok());
  EXPECT_EQ(Collect(*peer_, 1).at(0).status, WcStatus::kRetryExceeded);
}

TEST_F(FakeVerbsTest, DisconnectFlushesEverythingOutstandingOnBothSides) {
  Buf cbuf = MakeBuf(*client_, 64);
  Buf pbuf = MakeBuf(*peer_, 64);
  Sge cs[] = {cbuf.sge(0, 8)};
  Sge ps[] = {pbuf.sge(0, 8)};
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client_->PostRecv(100 + i, cs).ok());
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(peer_->PostRecv(200 + i, ps).ok());
  // Three sends from the peer: all fit into the client's receives; a fourth waits (RNR),
  // unsignaled.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(peer_->PostSend(300 + i, ps, true).ok());
  ASSERT_TRUE(peer_->PostSend(303, ps, /*signaled=*/false).ok());
  std::vector<WorkCompletion> client_wcs = Collect(*client_, 3);
  ASSERT_EQ(client_wcs.size(), 3u);
  ASSERT_TRUE(client_->PostRecv(104, cs).ok());  // takes the waiting send
  ASSERT_TRUE(peer_->PostSend(304, ps, false).ok());  // waits: no receive
  EXPECT_EQ(peer_->outstanding_work_requests(), 2 + 1);

  std::thread disconnector([this] {
    absl::SleepFor(absl::Milliseconds(10));
    peer_->Disconnect(absl::UnavailableError("test pulled the cable"));
  });
  // The client waits; the disconnect wakes it.
  client_wcs = Collect(*client_, 1);
  ASSERT_EQ(client_wcs.size(), 1u);
  EXPECT_EQ(client_wcs[0].wr_id, 104u);
  disconnector.join();
  std::vector<WorkCompletion> peer_wcs;
  PollAll(*peer_, &peer_wcs);
  ASSERT_EQ(peer_wcs.size(), 3u + 1 + 2);  // three sends, none for 303, 304 flushed, 2 recvs
  int flushed = 0;
  for (const WorkCompletion& wc : peer_wcs) flushed += wc.status == WcStatus::kFlushed;
  EXPECT_EQ(flushed, 3);  // 304 (unsignaled, but flushes are always reported) and two receives
  EXPECT_THAT(std::string(peer_->error().message()), HasSubstr("test pulled the cable"));
  EXPECT_THAT(std::string(client_->error().message()), HasSubstr("closed by the peer"));
  // Nothing left: waiting returns the reason at once.
  const absl::Time start = absl::Now();
  absl::Status wait = client_->WaitForCompletions(absl::Seconds(10));
  EXPECT_EQ(wait.code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(client_->PostSend(1, cs, true).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(client_->PostRecv(1, cs).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(net_->outstanding_work_requests(), 0);
  client_->Disconnect();  // idempotent
  EXPECT_THAT(std::string(client_->error().message()), HasSubstr("closed by the peer"));
}

TEST_F(FakeVerbsTest, DisconnectAllBreaksEveryConnection) {
  auto second = net_->CreatePair();
  Buf b = MakeBuf(*second.client, 8);
  Sge s[] = {b.all()};
  ASSERT_TRUE(second.client->PostRecv(1, s).ok());
  net_->DisconnectAll(absl::UnavailableError("switch reboot"));
  EXPECT_FALSE(client_->connected());
  EXPECT_FALSE(peer_->connected());
  EXPECT_FALSE(second.peer->connected());
  auto wcs = Collect(*second.client, 1);
  ASSERT_EQ(wcs.size(), 1u);
  EXPECT_EQ(wcs[0].status, WcStatus::kFlushed);
  EXPECT_THAT(std::string(second.client->error().message()), HasSubstr("switch reboot"));
}

TEST_F(FakeVerbsTest, DestroyingAnEndpointDisconnectsItsPeer) {
  Buf b = MakeBuf(*peer_, 8);
  Sge s[] = {b.all()};
  ASSERT_TRUE(peer_->PostRecv(1, s).ok());
  pair_.client.reset();
  client_ = nullptr;
  auto wcs = Collect(*peer_, 1);
  ASSERT_EQ(wcs.size(), 1u);
  EXPECT_EQ(wcs[0].status, WcStatus::kFlushed);
  EXPECT_FALSE(peer_->connected());
  EXPECT_EQ(net_->live_endpoints(), 1);
}

TEST_F(FakeVerbsTest, WaitTimesOut) {
  const absl::Time start = absl::Now();
  absl::Status s = client_->WaitForCompletions(absl::Milliseconds(30));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(25));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(client_->WaitForCompletions(absl::ZeroDuration()).code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST_F(FakeVerbsTest, CompletionQueueOverrunBreaksTheQueuePair) {
  QueueSizes tiny;
  tiny.send_wr = 4;
  tiny.recv_wr = 4;
  tiny.send_cqe = 2;  // smaller than the queue: a sizing bug SizeQueues never makes
  tiny.recv_cqe = 4;
  tiny.send_sge = tiny.recv_sge = 1;
  auto pair = net_->CreatePair(tiny, tiny);
  Buf local = MakeBuf(*pair.client, 8);
  Buf remote = MakeBuf(*pair.peer, 8, MemoryAccess::kRemoteWrite);
  Sge s[] = {local.all()};
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(pair.client->PostRdmaWrite(i, s, remote.addr(), remote.mr->rkey(), true).ok());
  }
  EXPECT_TRUE(pair.client->connected());
  ASSERT_TRUE(pair.client->PostRdmaWrite(2, s, remote.addr(), remote.mr->rkey(), true).ok());
  EXPECT_FALSE(pair.client->connected());
  EXPECT_THAT(std::string(pair.client->error().message()), HasSubstr("overrun"));
}

// --- Fault injection ---

TEST_F(FakeVerbsTest, FailNthOperationCountsFromTheCall) {
  Buf b = MakeBuf(*client_, 8);  // operation 1
  Sge s[] = {b.all()};
  EXPECT_EQ(net_->operation_count(), 1);
  net_->FailNthOperation(2, absl::ResourceExhaustedError("no memory"));
  ASSERT_TRUE(client_->PostRecv(1, s).ok());
  absl::Status failed = client_->PostRecv(2, s);
  EXPECT_EQ(failed.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(failed.message()), HasSubstr("post receive"));
  EXPECT_TRUE(client_->PostRecv(3, s).ok());  // only once
  EXPECT_EQ(client_->outstanding_work_requests(), 2);
  EXPECT_EQ(net_->operation_count(), 4);
  // The peer is not the fault side: its operations are not counted.
  Buf p = MakeBuf(*peer_, 8);
  EXPECT_EQ(net_->operation_count(), 4);
  client_->Disconnect();
}

TEST_F(FakeVerbsTest, FailNthOperationOfOneKind) {
  Buf b = MakeBuf(*client_, 8);
  Sge s[] = {b.all()};
  net_->FailNthOperation(1, absl::InternalError("reg_mr failed"), FakeOp::kRegisterMemory);
  ASSERT_TRUE(client_->PostRecv(1, s).ok());
  auto mr = client_->RegisterMemory(b.bytes.data(), 8, MemoryAccess::kRemoteRead);
  EXPECT_EQ(mr.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(net_->live_memory_regions(), 1);
  client_->Disconnect();
}

TEST_F(FakeVerbsTest, EveryOperationKindCanBeFailed) {
  Buf region = MakeBuf(*client_, 64, MemoryAccess::kRemoteWrite);
  auto window = client_->AllocateWindow();
  ASSERT_TRUE(window.ok());
  Sge s[] = {region.sge(0, 8)};
  const absl::Status injected = absl::AbortedError("injected");
  net_->FailNthOperation(1, injected);
  EXPECT_EQ(client_->PostSend(1, s, true).code(), absl::StatusCode::kAborted);
  net_->FailNthOperation(1, injected);
  EXPECT_EQ(client_->PostRecv(1, s).code(), absl::StatusCode::kAborted);
  net_->FailNthOperation(1, injected);
  EXPECT_EQ(client_->PostRdmaWrite(1, s, 0, 0, true).code(), absl::StatusCode::kAborted);
  net_->FailNthOperation(1, injected);
  EXPECT_EQ(client_->PostRdmaRead(1, s, 0, 0, true).code(), absl::StatusCode::kAborted);
  net_->FailNthOperation(1, injected);
  EXPECT_EQ(client_->RegisterMemory(region.bytes.data(), 8, MemoryAccess::kLocalWrite)
                .status()
                .code(),
            absl::StatusCode::kAborted);
  net_->FailNthOperation(1, injected);
  EXPECT_EQ(client_->AllocateWindow().status().code(), absl::StatusCode::kAborted);
  net_->FailNthOperation(1, injected);
  EXPECT_EQ(client_
                ->PostBindWindow(1, window->get(), *region.mr, region.bytes.data(), 8,
                                 MemoryAccess::kRemoteWrite, true)
                .code(),
            absl::StatusCode::kAborted);
  net_->FailNthOperation(1, injected);
  EXPECT_EQ(client_->PostLocalInvalidate(1, 5, true).code(), absl::StatusCode::kAborted);
  net_->FailNthOperation(1, injected);
  ConnectOptions options;
  options.host = "192.0.2.1";
  EXPECT_EQ(net_->Connect(options).status().code(), absl::StatusCode::kAborted);
  // Nothing was posted by the failed operations.
  EXPECT_EQ(client_->outstanding_work_requests(), 0);
  std::vector<WorkCompletion> none;
  EXPECT_EQ(PollAll(*client_, &none), 0);
  EXPECT_TRUE(client_->connected());
}

TEST_F(FakeVerbsTest, FaultsCanTargetThePeer) {
  FakeNetworkOptions options;
  options.fault_side = FaultSide::kPeer;
  Reset(options);
  Buf c = MakeBuf(*client_, 8);
  EXPECT_EQ(net_->operation_count(), 0);
  net_->FailNthOperation(1);
  Sge s[] = {c.all()};
  EXPECT_TRUE(client_->PostRecv(1, s).ok());
  EXPECT_EQ(peer_->RegisterMemory(c.bytes.data(), 8, MemoryAccess::kLocalWrite).status().code(),
            absl::StatusCode::kUnavailable);
  client_->Disconnect();
}

TEST_F(FakeVerbsTest, InjectedCompletionErrorBreaksTheConnection) {
  Buf c = MakeBuf(*client_, 64);
  Buf p = MakeBuf(*peer_, 64);
  Sge cs1[] = {c.sge(0, 16)};
  Sge cs2[] = {c.sge(16, 16)};
  Sge ps[] = {p.sge(0, 16)};
  ASSERT_TRUE(client_->PostRecv(1, cs1).ok());
  ASSERT_TRUE(client_->PostRecv(2, cs2).ok());
  ASSERT_TRUE(peer_->PostRecv(3, ps).ok());
  net_->InjectCompletionError(WcStatus::kFlushed);
  ASSERT_TRUE(peer_->PostSend(4, ps, true).ok());
  auto wcs = Collect(*client_, 2);
  ASSERT_EQ(wcs.size(), 2u);
  EXPECT_EQ(wcs[0].wr_id, 1u);
  EXPECT_EQ(wcs[0].status, WcStatus::kFlushed);
  EXPECT_EQ(wcs[1].wr_id, 2u);
  EXPECT_EQ(wcs[1].status, WcStatus::kFlushed);
  EXPECT_FALSE(client_->connected());
  EXPECT_FALSE(peer_->connected());
  std::vector<WorkCompletion> peer_wcs;
  PollAll(*peer_, &peer_wcs);
  ASSERT_EQ(peer_wcs.size(), 2u);  // its send succeeded, its receive was flushed
  EXPECT_EQ(peer_wcs[1].wr_id, 3u);
  EXPECT_EQ(peer_wcs[1].status, WcStatus::kFlushed);
}

TEST_F(FakeVerbsTest, InjectedErrorStatusIsReported) {
  Buf c = MakeBuf(*client_, 16);
  Buf p = MakeBuf(*peer_, 16);
  Sge cs[] = {c.all()};
  Sge ps[] = {p.all()};
  ASSERT_TRUE(peer_->PostRecv(3, ps).ok());
  net_->InjectCompletionError(WcStatus::kRetryExceeded);
  ASSERT_TRUE(client_->PostSend(1, cs, true).ok());
  auto wcs = Collect(*client_, 1);
  ASSERT_EQ(wcs.size(), 1u);
  EXPECT_EQ(wcs[0].status, WcStatus::kRetryExceeded);
  EXPECT_EQ(CompletionError(wcs[0]).code(), absl::StatusCode::kInternal);
  EXPECT_FALSE(client_->connected());
}

TEST_F(FakeVerbsTest, InjectedShortReceive) {
  Buf c = MakeBuf(*client_, 64);
  Buf p = MakeBuf(*peer_, 64, MemoryAccess::kLocalWrite, 0x11);
  Sge cs[] = {c.all()};
  Sge ps[] = {p.sge(0, 40)};
  ASSERT_TRUE(client_->PostRecv(1, cs).ok());
  ASSERT_TRUE(client_->PostRecv(2, cs).ok());
  net_->InjectShortReceive(10);
  ASSERT_TRUE(peer_->PostSend(5, ps, true).ok());
  auto wcs = Collect(*client_, 1);
  ASSERT_EQ(wcs.size(), 1u);
  EXPECT_EQ(wcs[0].status, WcStatus::kSuccess);
  EXPECT_EQ(wcs[0].byte_len, 10u);
  EXPECT_EQ(c.bytes[9], 0x11);
  EXPECT_EQ(c.bytes[10], 0);
  // Only the next receive.
  ASSERT_TRUE(peer_->PostSend(6, ps, true).ok());
  wcs = Collect(*client_, 1);
  ASSERT_EQ(wcs.size(), 1u);
  EXPECT_EQ(wcs[0].byte_len, 40u);
  client_->Disconnect();
}

TEST(FakeNetworkConnectTest, ConnectHandsThePeerToTheServerSide) {
  FakeRdmaNetwork net;
  ConnectOptions options;
  options.host = "192.0.2.1";
  options.send_credit_target = 10;
  options.receive_credit_max = 12;
  options.registration_wrs = 2;
  options.send_sge = 5;
  auto client = net.Connect(options);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->queue_sizes().send_wr, 10u + 2 + 1);
  EXPECT_EQ((*client)->queue_sizes().recv_wr, 12u);
  EXPECT_EQ((*client)->queue_sizes().send_sge, 5u);
  EXPECT_EQ((*client)->limits().device_name, "fake_rxe0");
  std::unique_ptr<FakeRdmaEndpoint> peer = net.WaitForPeer(kWait);
  ASSERT_NE(peer, nullptr);
  EXPECT_FALSE(peer->is_client());
  EXPECT_EQ(net.WaitForPeer(absl::Milliseconds(5)), nullptr);

  Buf c = MakeBuf(**client, 8, MemoryAccess::kLocalWrite, 3);
  Buf p = MakeBuf(*peer, 8);
  Sge ps[] = {p.all()};
  Sge cs[] = {c.all()};
  ASSERT_TRUE(peer->PostRecv(1, ps).ok());
  ASSERT_TRUE((*client)->PostSend(2, cs, true).ok());
  EXPECT_EQ(Collect(*peer, 1).at(0).byte_len, 8u);
  EXPECT_EQ(p.bytes[7], 3);
}

TEST(FakeNetworkConnectTest, AcceptHandlerGetsThePeer) {
  FakeRdmaNetwork net;
  std::unique_ptr<FakeRdmaEndpoint> accepted;
  net.SetAcceptHandler([&](std::unique_ptr<FakeRdmaEndpoint> peer) { accepted = std::move(peer); });
  ConnectOptions options;
  options.host = "192.0.2.1";
  auto client = net.Connect(options);
  ASSERT_TRUE(client.ok());
  ASSERT_NE(accepted, nullptr);
  EXPECT_EQ(net.live_endpoints(), 2);
  EXPECT_EQ(net.WaitForPeer(absl::Milliseconds(1)), nullptr);
}

TEST(FakeNetworkConnectTest, ConnectErrors) {
  FakeRdmaNetwork net;
  ConnectOptions options;
  options.host = "192.0.2.1";
  net.InjectConnectError(absl::UnavailableError("connection refused (RDMA_CM_EVENT_REJECTED)"));
  auto refused = net.Connect(options);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("REJECTED"));
  EXPECT_TRUE(net.Connect(options).ok());  // once

  ConnectOptions wrong_device = options;
  wrong_device.device = "mlx5_9";
  auto missing = net.Connect(wrong_device);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("mlx5_9"));

  ConnectOptions no_host;
  EXPECT_EQ(net.Connect(no_host).status().code(), absl::StatusCode::kUnavailable);

  ConnectOptions zero_credits = options;
  zero_credits.send_credit_target = 0;
  EXPECT_EQ(net.Connect(zero_credits).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FakeNetworkConnectTest, SoftProviderLimitsShapeTheQueues) {
  FakeNetworkOptions options;
  options.client_limits.max_send_sge = 1;
  options.client_limits.max_qp_wr = 20;
  FakeRdmaNetwork net(options);
  ConnectOptions c;
  c.host = "192.0.2.1";
  c.registration_wrs = 3;
  auto client = net.Connect(c);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->queue_sizes().send_sge, 1u);
  EXPECT_EQ((*client)->queue_sizes().send_credits, 20u - 3 - 1);
  EXPECT_EQ((*client)->queue_sizes().receive_credits, 20u);
  Buf b = MakeBuf(**client, 8);
  Sge two[] = {b.sge(0, 4), b.sge(4, 4)};
  EXPECT_EQ((*client)->PostSend(1, two, true).code(), absl::StatusCode::kInvalidArgument);
}

// --- Leaks and the pool registrar ---

TEST_F(FakeVerbsTest, RegionsAndWindowsAreCountedAndReleased) {
  EXPECT_EQ(net_->live_memory_regions(), 0);
  {
    Buf a = MakeBuf(*client_, 8);
    Buf b = MakeBuf(*peer_, 8);
    auto w = client_->AllocateWindow();
    ASSERT_TRUE(w.ok());
    EXPECT_EQ(net_->live_memory_regions(), 2);
    EXPECT_EQ(net_->live_memory_windows(), 1);
  }
  EXPECT_EQ(net_->live_memory_regions(), 0);
  EXPECT_EQ(net_->live_memory_windows(), 0);
}

TEST_F(FakeVerbsTest, RegionOutlivesItsEndpoint) {
  Buf a = MakeBuf(*client_, 8);
  pair_.client.reset();
  client_ = nullptr;
  EXPECT_EQ(net_->live_memory_regions(), 1);
  a.mr.reset();
  EXPECT_EQ(net_->live_memory_regions(), 0);
}

TEST_F(FakeVerbsTest, PoolRegistrarRegistersSlabsForLocalUseOnly) {
  PagePoolOptions options;
  options.slab_bytes = 64 * 1024;
  options.max_bytes = 128 * 1024;
  options.huge_pages = false;
  options.registrar = client_->registrar();
  auto pool = PagePool::Create(options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  std::vector<PageRef> pages;
  ASSERT_TRUE((*pool)->TryAllocMany(17, &pages).ok());  // two slabs
  EXPECT_EQ(net_->live_memory_regions(), 2);
  // A page's lkey works for a send...
  std::memset(pages[0].data(), 0x42, 16);
  Buf r = MakeBuf(*peer_, 16);
  Sge rs[] = {r.all()};
  ASSERT_TRUE(peer_->PostRecv(1, rs).ok());
  Sge ss[] = {Sge{reinterpret_cast<uint64_t>(pages[0].data()), 16, pages[0]->lkey()}};
  ASSERT_TRUE(client_->PostSend(2, ss, true).ok());
  ASSERT_EQ(Collect(*peer_, 1).at(0).status, WcStatus::kSuccess);
  EXPECT_EQ(r.bytes[15], 0x42);
  // ...but the slab's rkey grants the peer nothing. The fake hands out a region's rkey right
  // after its lkey, as the reference region shows.
  Buf reference = MakeBuf(*client_, 16);
  ASSERT_EQ(reference.mr->rkey(), reference.mr->lkey() + 0x11);
  Buf local = MakeBuf(*peer_, 16);
  Sge ls[] = {local.all()};
  const uint32_t slab_rkey = pages[0]->lkey() + 0x11;
  ASSERT_TRUE(
      peer_->PostRdmaRead(1, ls, reinterpret_cast<uint64_t>(pages[0].data()), slab_rkey, true)
          .ok());
  auto wcs = Collect(*peer_, 1);
  ASSERT_EQ(wcs.size(), 1u);
  EXPECT_EQ(wcs[0].status, WcStatus::kRemoteAccess);
  pages.clear();
  pool->reset();
  EXPECT_EQ(net_->live_memory_regions(), 3);  // r, reference and local
}

TEST_F(FakeVerbsTest, PoolRegistrarFailureIsReported) {
  PagePoolOptions options;
  options.slab_bytes = 64 * 1024;
  options.max_bytes = 64 * 1024;
  options.huge_pages = false;
  options.registrar = client_->registrar();
  net_->FailNthOperation(1, absl::ResourceExhaustedError("reg_mr: no memory"));
  auto pool = PagePool::Create(options);
  ASSERT_TRUE(pool.ok());
  auto page = (*pool)->TryAlloc();
  EXPECT_FALSE(page.ok());
  EXPECT_EQ(net_->live_memory_regions(), 0);
}

// --- Threads ---

TEST(FakeVerbsThreadTest, OnePostsWhileTheOtherWaits) {
  FakeRdmaNetwork net;
  FakeEndpointPair pair = net.CreatePair(/*credits=*/8, /*sge=*/2);
  constexpr int kMessages = 2000;
  constexpr int kSlot = 64;
  const int depth = static_cast<int>(pair.client->queue_sizes().recv_wr);
  Buf recv = MakeBuf(*pair.client, kSlot * depth);
  for (int i = 0; i < depth; ++i) {
    Sge s[] = {recv.sge(i * kSlot, kSlot)};
    ASSERT_TRUE(pair.client->PostRecv(i, s).ok());
  }
  Buf send = MakeBuf(*pair.peer, kSlot * kMessages);
  for (int i = 0; i < kMessages; ++i) {
    std::memcpy(send.bytes.data() + i * kSlot, &i, sizeof(i));
  }
  std::atomic<bool> sender_ok{true};
  std::thread sender([&] {
    int in_flight = 0;
    const int max_in_flight = static_cast<int>(pair.peer->queue_sizes().send_credits);
    for (int i = 0; i < kMessages && sender_ok; ++i) {
      while (in_flight >= max_in_flight) {
        WorkCompletion wc[8];
        int n = pair.peer->PollCompletions(absl::MakeSpan(wc));
        for (int k = 0; k < n; ++k) sender_ok = sender_ok && wc[k].status == WcStatus::kSuccess;
        in_flight -= n;
        if (n == 0 && !pair.peer->WaitForCompletions(kWait).ok()) sender_ok = false;
        if (!sender_ok) return;
      }
      Sge s[] = {send.sge(i * kSlot, sizeof(int))};
      if (!pair.peer->PostSend(i, s, true).ok()) sender_ok = false;
      ++in_flight;
    }
  });
  int received = 0;
  bool in_order = true;
  while (received < kMessages) {
    WorkCompletion wc[16];
    int n = pair.client->PollCompletions(absl::MakeSpan(wc));
    if (n == 0) {
      absl::Status s = pair.client->WaitForCompletions(kWait);
      ASSERT_TRUE(s.ok()) << s << " after " << received;
      continue;
    }
    for (int k = 0; k < n; ++k) {
      ASSERT_EQ(wc[k].status, WcStatus::kSuccess);
      int value;
      std::memcpy(&value, recv.bytes.data() + wc[k].wr_id * kSlot, sizeof(value));
      in_order = in_order && value == received;
      ++received;
      Sge s[] = {recv.sge(wc[k].wr_id * kSlot, kSlot)};
      ASSERT_TRUE(pair.client->PostRecv(wc[k].wr_id, s).ok());
    }
  }
  sender.join();
  EXPECT_TRUE(sender_ok);
  EXPECT_TRUE(in_order);
  pair.client->Disconnect();
}

TEST(FakeVerbsThreadTest, DisconnectWakesAWaiter) {
  FakeRdmaNetwork net;
  FakeEndpointPair pair = net.CreatePair();
  absl::Status waited;
  std::thread waiter([&] { waited = pair.client->WaitForCompletions(absl::Seconds(30)); });
  absl::SleepFor(absl::Milliseconds(20));
  const absl::Time start = absl::Now();
  pair.client->Disconnect(absl::CancelledError("shutting down"));
  waiter.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(waited.code(), absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace smbd
