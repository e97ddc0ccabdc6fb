#include "smbdirect/send_planner.h"

#include <cstring>
#include <memory>
#include <vector>

#include "buffers/fake_registrar.h"
#include "buffers/page_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "smbdirect/reassembly.h"

namespace smbd {
namespace {

constexpr uint32_t kSendSize = 1364;  // the Linux/Windows default
constexpr uint32_t kPayloadPerSend = kSendSize - 24;

struct Planned {
  PlannedMessage msg;
  std::vector<Sge> sges;
};

// Plans the whole frame, checking the per-message limits as it goes.
absl::StatusOr<std::vector<Planned>> PlanAll(const Bvecq& frame, const SendPlanLimits& limits) {
  absl::StatusOr<SendPlanner> p = SendPlanner::Create(frame, limits);
  if (!p.ok()) return p.status();
  std::vector<Planned> out;
  std::vector<Sge> sges(64);
  while (!p->done()) {
    absl::StatusOr<PlannedMessage> m = p->Next(absl::MakeSpan(sges));
    if (!m.ok()) return m.status();
    out.push_back({*m, std::vector<Sge>(sges.begin(), sges.begin() + m->sge_count)});
  }
  return out;
}

// Checks the invariants every plan must satisfy and returns the payload bytes the SGEs name.
std::vector<uint8_t> CheckPlan(const std::vector<Planned>& plan, uint64_t frame_size,
                               const SendPlanLimits& limits) {
  std::vector<uint8_t> bytes;
  uint64_t sent = 0;
  for (size_t i = 0; i < plan.size(); ++i) {
    const Planned& p = plan[i];
    EXPECT_GT(p.msg.data_length, 0u) << i;
    EXPECT_LE(p.msg.data_length + 24u, limits.max_send_size) << i;
    EXPECT_GE(p.msg.sge_count, 1) << i;
    EXPECT_LE(p.msg.sge_count, limits.max_send_sge - 1) << i;
    uint64_t sge_bytes = 0;
    for (const Sge& s : p.sges) {
      sge_bytes += s.length;
      const uint8_t* a = reinterpret_cast<const uint8_t*>(static_cast<uintptr_t>(s.addr));
      bytes.insert(bytes.end(), a, a + s.length);
    }
    EXPECT_EQ(sge_bytes, p.msg.data_length) << i;
    sent += p.msg.data_length;
    EXPECT_EQ(p.msg.remaining_data_length, frame_size - sent) << i;
  }
  EXPECT_EQ(sent, frame_size);
  if (!plan.empty()) {
    EXPECT_EQ(plan.back().msg.remaining_data_length, 0u);
  }
  return bytes;
}

class SendPlannerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PagePoolOptions o;
    o.slab_bytes = 64 * kPageSize;
    o.max_bytes = 16 * o.slab_bytes;
    o.huge_pages = false;
    o.registrar = &registrar_;
    pool_ = PagePool::Create(o).value();
  }
  void TearDown() override { EXPECT_EQ(pool_->stats().pages_in_use, 0u) << "leaked pages"; }

  // `n` pattern bytes in pool pages (each page used from `in_page_offset`).
  std::vector<uint8_t> FillPages(Bvecq* q, size_t n, uint32_t in_page_offset = 0) {
    std::vector<uint8_t> data(n);
    for (size_t i = 0; i < n; ++i) data[i] = static_cast<uint8_t>(i * 13 + 1);
    size_t off = 0;
    while (off < n) {
      PageRef p = pool_->TryAlloc().value();
      const uint32_t len =
          static_cast<uint32_t>(std::min<size_t>(n - off, kPageSize - in_page_offset));
      std::memcpy(p.data() + in_page_offset, data.data() + off, len);
      EXPECT_TRUE(q->Append(std::move(p), in_page_offset, len).ok());
      off += len;
    }
    return data;
  }

  static SendPlanLimits Limits(int max_sge, uint32_t send_size = kSendSize) {
    SendPlanLimits l;
    l.max_send_size = send_size;
    l.max_send_sge = max_sge;
    l.max_fragmented_send_size = 8 << 20;
    return l;
  }

  FakeRegistrar registrar_;
  std::unique_ptr<PagePool> pool_;
};

TEST_F(SendPlannerTest, OneByte) {
  Bvecq frame;
  const std::vector<uint8_t> data = FillPages(&frame, 1);
  absl::StatusOr<std::vector<Planned>> plan = PlanAll(frame, Limits(2));
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->size(), 1u);
  EXPECT_EQ((*plan)[0].msg.data_length, 1u);
  EXPECT_EQ((*plan)[0].msg.remaining_data_length, 0u);
  EXPECT_EQ(CheckPlan(*plan, 1, Limits(2)), data);
}

TEST_F(SendPlannerTest, ExactlyOneSendAndOneByteMore) {
  for (uint32_t n : {kPayloadPerSend, kPayloadPerSend + 1}) {
    Bvecq frame;
    std::vector<uint8_t> data(n);
    for (uint32_t i = 0; i < n; ++i) data[i] = static_cast<uint8_t>(i);
    ASSERT_TRUE(frame.AppendExternal(data.data(), n, 0x77).ok());
    absl::StatusOr<std::vector<Planned>> plan = PlanAll(frame, Limits(2));
    ASSERT_TRUE(plan.ok()) << plan.status();
    if (n == kPayloadPerSend) {
      ASSERT_EQ(plan->size(), 1u);
      EXPECT_EQ((*plan)[0].msg.data_length, kPayloadPerSend);
    } else {
      ASSERT_EQ(plan->size(), 2u);
      EXPECT_EQ((*plan)[0].msg.data_length, kPayloadPerSend);
      EXPECT_EQ((*plan)[0].msg.remaining_data_length, 1u);
      EXPECT_EQ((*plan)[1].msg.data_length, 1u);
    }
    EXPECT_EQ(CheckPlan(*plan, n, Limits(2)), data);
  }
}

// 1 MiB in 256-byte caller-owned chunks that are not adjacent in memory, each with its own key.
class ScatteredFrame {
 public:
  static constexpr size_t kChunk = 256;
  ScatteredFrame() : backing_(2 * kFrame), data_(kFrame) {
    for (size_t i = 0; i < kFrame; ++i) data_[i] = static_cast<uint8_t>(i * 31 + 7);
    for (size_t c = 0; c < kFrame / kChunk; ++c) {
      uint8_t* p = backing_.data() + 2 * kChunk * c;  // a 256-byte gap after each chunk
      std::memcpy(p, data_.data() + kChunk * c, kChunk);
      EXPECT_TRUE(frame_.AppendExternal(p, kChunk, KeyOf(c)).ok());
    }
  }
  static uint32_t KeyOf(size_t chunk) { return 0x1000 + static_cast<uint32_t>(chunk % 7); }
  // The key of the chunk `addr` lies in.
  uint32_t KeyAt(uint64_t addr) const {
    const size_t off = static_cast<size_t>(addr - reinterpret_cast<uintptr_t>(backing_.data()));
    return KeyOf(off / (2 * kChunk));
  }
  static constexpr size_t kFrame = 1 << 20;
  const Bvecq& frame() const { return frame_; }
  const std::vector<uint8_t>& data() const { return data_; }

 private:
  std::vector<uint8_t> backing_;
  std::vector<uint8_t> data_;
  Bvecq frame_;
};

TEST_F(SendPlannerTest, OneMiBWithMaxSgeOneIsRefused) {
  ScatteredFrame f;
  absl::StatusOr<SendPlanner> p = SendPlanner::Create(f.frame(), Limits(1));
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), ::testing::HasSubstr("max_send_sge"));
}

TEST_F(SendPlannerTest, OneMiBWithVariousSgeLimits) {
  ScatteredFrame f;
  struct Case {
    int max_sge;
    size_t messages;  // expected count for 256-byte scattered chunks and 1340 bytes per send
  };
  const Case cases[] = {
      {2, (1 << 20) / 256},          // one chunk per message
      {6, ((1 << 20) + 1279) / 1280},  // five whole chunks (1280 < 1340) per message
      {30, ((1 << 20) + 1339) / 1340},  // the size limit binds
  };
  for (const Case& c : cases) {
    const SendPlanLimits limits = Limits(c.max_sge);
    absl::StatusOr<std::vector<Planned>> plan = PlanAll(f.frame(), limits);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->size(), c.messages) << c.max_sge;
    EXPECT_EQ(CheckPlan(*plan, ScatteredFrame::kFrame, limits), f.data()) << c.max_sge;
    for (const Planned& p : *plan) {
      for (const Sge& s : p.sges) ASSERT_EQ(s.lkey, f.KeyAt(s.addr)) << c.max_sge;
    }
  }
}

TEST_F(SendPlannerTest, OneMiBContiguousIsCutBySizeOnly) {
  std::vector<uint8_t> data(1 << 20);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i ^ (i >> 8));
  Bvecq frame;
  ASSERT_TRUE(frame.AppendExternal(data.data(), data.size(), 0x55).ok());
  for (int max_sge : {2, 6, 30}) {
    absl::StatusOr<std::vector<Planned>> plan = PlanAll(frame, Limits(max_sge));
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->size(), (data.size() + kPayloadPerSend - 1) / kPayloadPerSend);
    for (const Planned& p : *plan) {
      ASSERT_EQ(p.sges.size(), 1u);
      EXPECT_EQ(p.sges[0].lkey, 0x55u);
    }
    EXPECT_EQ(CheckPlan(*plan, data.size(), Limits(max_sge)), data);
  }
}

TEST_F(SendPlannerTest, PoolPagesKeepTheirKeys) {
  Bvecq frame;
  const std::vector<uint8_t> data = FillPages(&frame, 100000, /*in_page_offset=*/100);
  for (int max_sge : {2, 3, 6}) {
    absl::StatusOr<std::vector<Planned>> plan = PlanAll(frame, Limits(max_sge));
    ASSERT_TRUE(plan.ok()) << plan.status();
    for (const Planned& p : *plan) {
      for (const Sge& s : p.sges) EXPECT_GE(s.lkey, 0x100u);  // FakeRegistrar's keys
    }
    EXPECT_EQ(CheckPlan(*plan, data.size(), Limits(max_sge)), data);
  }
}

TEST_F(SendPlannerTest, HeaderIs24BytesAligned) {
  PlannedMessage m;
  m.data_length = 1340;
  m.remaining_data_length = 5000;
  SmbDirectSendTicket t;
  t.credits_requested = 255;
  t.credits_granted = 7;
  t.flags = kSmbDirectResponseRequested;
  uint8_t buf[32];
  std::memset(buf, 0xAA, sizeof(buf));
  absl::StatusOr<size_t> n = WritePlannedHeader(m, t, absl::MakeSpan(buf));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 24u);
  EXPECT_EQ(*n % 8, 0u);
  EXPECT_EQ(buf[24], 0xAA);  // nothing written past the header
  EXPECT_EQ(LoadLE<uint16_t>(buf + 0), 255);
  EXPECT_EQ(LoadLE<uint16_t>(buf + 2), 7);
  EXPECT_EQ(LoadLE<uint16_t>(buf + 4), kSmbDirectResponseRequested);
  EXPECT_EQ(LoadLE<uint32_t>(buf + 8), 5000u);
  EXPECT_EQ(LoadLE<uint32_t>(buf + 12), 24u);
  EXPECT_EQ(LoadLE<uint32_t>(buf + 16), 1340u);
  EXPECT_EQ(LoadLE<uint32_t>(buf + 20), 0u);
  uint8_t small[20];
  EXPECT_EQ(WritePlannedHeader(m, t, absl::MakeSpan(small)).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(SendPlannerTest, BadArguments) {
  Bvecq empty;
  EXPECT_EQ(SendPlanner::Create(empty, Limits(2)).status().code(),
            absl::StatusCode::kInvalidArgument);
  Bvecq frame;
  FillPages(&frame, 5000);
  EXPECT_EQ(SendPlanner::Create(frame, Limits(2, 24)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SendPlanner::Create(frame, Limits(0)).status().code(),
            absl::StatusCode::kInvalidArgument);
  SendPlanLimits l = Limits(2);
  l.max_fragmented_send_size = 4999;
  absl::StatusOr<SendPlanner> p = SendPlanner::Create(frame, l);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), ::testing::HasSubstr("MaxFragmentedSize"));
  l.max_fragmented_send_size = 5000;
  p = SendPlanner::Create(frame, l);
  ASSERT_TRUE(p.ok());
  Sge sges[4];
  EXPECT_EQ(p->Next(absl::Span<Sge>()).status().code(), absl::StatusCode::kInvalidArgument);
  // A caller array smaller than max_payload_sges() limits the SGEs used.
  absl::StatusOr<PlannedMessage> m = p->Next(absl::MakeSpan(sges, 1));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->sge_count, 1);
  while (!p->done()) ASSERT_TRUE(p->Next(absl::MakeSpan(sges)).ok());
  EXPECT_EQ(p->bytes_planned(), 5000u);
  EXPECT_EQ(p->Next(absl::MakeSpan(sges)).status().code(), absl::StatusCode::kFailedPrecondition);
}

// Plan, write headers, "transmit" each message into a receive page, decode and reassemble: the
// receiver gets the frame back.
TEST_F(SendPlannerTest, RoundTripThroughDecoderAndReassembler) {
  Bvecq frame;
  const std::vector<uint8_t> data = FillPages(&frame, 70000, 17);
  const SendPlanLimits limits = Limits(3);
  absl::StatusOr<std::vector<Planned>> plan = PlanAll(frame, limits);
  ASSERT_TRUE(plan.ok()) << plan.status();
  Reassembler r(131072);
  std::optional<Bvecq> delivered;
  SmbDirectSendTicket t;
  t.credits_requested = 255;
  for (size_t i = 0; i < plan->size(); ++i) {
    const Planned& p = (*plan)[i];
    PageRef rx_page = pool_->TryAlloc().value();
    absl::StatusOr<size_t> hdr =
        WritePlannedHeader(p.msg, t, absl::MakeSpan(rx_page.data(), kDataTransferDataOffset));
    ASSERT_TRUE(hdr.ok()) << hdr.status();
    size_t len = *hdr;
    for (const Sge& s : p.sges) {
      std::memcpy(rx_page.data() + len, reinterpret_cast<const void*>(s.addr), s.length);
      len += s.length;
    }
    ASSERT_LE(len, limits.max_send_size);
    Bvecq rx;
    ASSERT_TRUE(rx.Append(std::move(rx_page), 0, static_cast<uint32_t>(len)).ok());
    absl::StatusOr<DataTransferHeader> h = DecodeDataTransfer(rx, 131072);
    ASSERT_TRUE(h.ok()) << h.status();
    absl::StatusOr<std::optional<Bvecq>> m = r.Add(*h, rx);
    ASSERT_TRUE(m.ok()) << m.status();
    ASSERT_EQ(m->has_value(), i + 1 == plan->size());
    if (m->has_value()) delivered = std::move(**m);
  }
  ASSERT_TRUE(delivered.has_value());
  std::vector<uint8_t> got(delivered->size());
  BvecqIter it = delivered->begin();
  it.CopyOut(absl::MakeSpan(got));
  EXPECT_EQ(got, data);
}

}  // namespace
}  // namespace smbd
