#include "buffers/wire.h"

#include <vector>

#include "gtest/gtest.h"

namespace smbd {
namespace {

TEST(WireWriterTest, LittleEndianIntoSpan) {
  uint8_t buf[16] = {};
  WireWriter w(absl::MakeSpan(buf));
  w.U8(0x01);
  w.U16(0x0302);
  w.U32(0x07060504);
  w.U64(0x0f0e0d0c0b0a0908ull);
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(w.position(), 15u);
  for (int i = 0; i < 15; ++i) EXPECT_EQ(buf[i], i + 1);
}

TEST(WireWriterTest, OverflowIsStickyAndReported) {
  uint8_t buf[6] = {};
  WireWriter w(absl::MakeSpan(buf));
  w.U32(1);
  w.U32(2);  // does not fit
  w.U8(3);   // ignored after the error
  absl::Status s = w.Finish();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(w.position(), 4u);
  EXPECT_EQ(buf[4], 0);
}

TEST(WireWriterTest, PatchAndAlign) {
  uint8_t buf[16];
  std::fill(std::begin(buf), std::end(buf), 0xFF);
  WireWriter w(absl::MakeSpan(buf));
  w.U16(0);
  w.U8(9);
  w.Align(8);
  EXPECT_EQ(w.position(), 8u);
  w.U16At(0, 0xBEEF);
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(buf[0], 0xEF);
  EXPECT_EQ(buf[1], 0xBE);
  EXPECT_EQ(buf[7], 0);
  EXPECT_EQ(buf[8], 0xFF);
  w.U32At(6, 1);  // past what was written
  EXPECT_EQ(w.Finish().code(), absl::StatusCode::kOutOfRange);
}

class WireQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PagePoolOptions o;
    o.slab_bytes = 16 * kPageSize;
    o.max_bytes = 4 * o.slab_bytes;
    o.huge_pages = false;
    pool_ = PagePool::Create(o).value();
  }
  std::unique_ptr<PagePool> pool_;
};

TEST_F(WireQueueTest, WriterAppendsAcrossPagesAndPatchesBackwards) {
  Bvecq q;
  {
    WireWriter w(&q, pool_.get());
    w.U32(0);  // patched below
    for (uint32_t i = 0; i < 3000; ++i) w.U32(i);  // 12004 bytes: four pages
    w.U32At(0, 0xCAFEF00D);
    w.U32At(4092, 0xAABBCCDD);  // straddles the first page boundary
    ASSERT_TRUE(w.Finish().ok());
    EXPECT_EQ(w.position(), 12004u);
  }
  EXPECT_EQ(q.size(), 12004u);
  EXPECT_EQ(q.slot_count(), 3u);  // 12004 bytes: two full pages and a partial one
  auto it = q.begin();
  WireReader r(it);
  uint32_t v;
  ASSERT_TRUE(r.U32(&v));
  EXPECT_EQ(v, 0xCAFEF00Du);
  for (uint32_t i = 0; i < 3000; ++i) {
    ASSERT_TRUE(r.U32(&v));
    if (i == 1022) {
      EXPECT_EQ(v, 0xAABBCCDDu);
    } else {
      ASSERT_EQ(v, i);
    }
  }
  EXPECT_FALSE(r.U8(reinterpret_cast<uint8_t*>(&v)));
}

TEST_F(WireQueueTest, AppendQueueSplicesAPayloadBetweenWrites) {
  Bvecq payload;
  {
    WireWriter pw(&payload, pool_.get());
    pw.Bytes(absl::string_view("payload!"));
    ASSERT_TRUE(pw.Finish().ok());
  }
  Bvecq q;
  WireWriter w(&q, pool_.get());
  w.U32(0);
  w.AppendQueue(std::move(payload));
  w.Align(8);
  w.U16(7);
  w.U32At(0, 12);  // patch before the payload
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(w.position(), 18u);
  EXPECT_EQ(q.size(), 18u);
  std::vector<uint8_t> got(q.size());
  q.begin().CopyOut(absl::MakeSpan(got));
  EXPECT_EQ(got[0], 12);
  EXPECT_EQ(std::string(got.begin() + 4, got.begin() + 12), "payload!");
  EXPECT_EQ(got[12], 0);  // alignment padding
  EXPECT_EQ(got[16], 7);
  uint8_t span_buf[4];
  WireWriter sw(absl::MakeSpan(span_buf));
  sw.AppendQueue(Bvecq());
  EXPECT_EQ(sw.Finish().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(WireQueueTest, WriterReportsPoolExhaustion) {
  Bvecq q;
  WireWriter w(&q, pool_.get());
  w.Zeros(65 * kPageSize);
  EXPECT_EQ(w.Finish().code(), absl::StatusCode::kResourceExhausted);
  q.Clear();
  EXPECT_EQ(pool_->stats().pages_in_use, 0u);
}

TEST(WireReaderTest, ReadsAndRejectsPastTheEnd) {
  const uint8_t buf[] = {1, 2, 3, 4, 5, 6, 7};
  WireReader r(absl::MakeConstSpan(buf));
  uint16_t a;
  uint32_t b;
  ASSERT_TRUE(r.U16(&a));
  EXPECT_EQ(a, 0x0201);
  ASSERT_TRUE(r.U32(&b));
  EXPECT_EQ(b, 0x06050403u);
  EXPECT_FALSE(r.U16(&a));  // one byte left: fails, consumes nothing
  EXPECT_EQ(r.remaining(), 1u);
  EXPECT_FALSE(r.Skip(2));
  EXPECT_TRUE(r.Skip(1));
  EXPECT_EQ(r.Error("thing").code(), absl::StatusCode::kDataLoss);
}

TEST(WireReaderTest, SubRangeChecksHostileOffsets) {
  const uint8_t buf[] = {0, 1, 2, 3, 4, 5, 6, 7};
  WireReader r(absl::MakeConstSpan(buf));
  auto sub = r.Sub(6, 2);
  ASSERT_TRUE(sub.ok());
  uint16_t v;
  ASSERT_TRUE(sub->U16(&v));
  EXPECT_EQ(v, 0x0706);
  EXPECT_EQ(r.Sub(7, 2).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(r.Sub(9, 0).status().code(), absl::StatusCode::kDataLoss);
  // Offsets that wrap 32 or 64 bits must not pass.
  EXPECT_FALSE(r.Sub(0xFFFFFFFFull, 2).ok());
  EXPECT_FALSE(r.Sub(2, UINT64_MAX - 1).ok());
  EXPECT_FALSE(r.Sub(UINT64_MAX, 1).ok());
  EXPECT_TRUE(r.Sub(8, 0).ok());
}

TEST_F(WireQueueTest, ReaderCrossesPageBoundariesOfAQueue) {
  // A value split over three slots of one, two and one bytes.
  Bvecq q;
  FragAllocator frags(pool_.get());
  for (uint32_t len : {1u, 2u, 1u, 3u}) {
    Fragment f = frags.Alloc(len, 1).value();
    for (uint32_t i = 0; i < len; ++i) f.data[i] = static_cast<uint8_t>(q.size() + i);
    ASSERT_TRUE(q.Append(std::move(f)).ok());
  }
  WireReader r(q.begin());
  uint32_t v;
  ASSERT_TRUE(r.U32(&v));
  EXPECT_EQ(v, 0x03020100u);
  absl::Span<const uint8_t> view;
  ASSERT_TRUE(r.Contiguous(3, &view));  // the last slot holds three contiguous bytes
  EXPECT_EQ(view[0], 4);
  EXPECT_EQ(view[2], 6);
  EXPECT_EQ(r.remaining(), 0u);
  auto sub = r.Sub(1, 5);
  ASSERT_TRUE(sub.ok());
  uint8_t bytes[5];
  ASSERT_TRUE(sub->Bytes(absl::MakeSpan(bytes)));
  EXPECT_EQ(bytes[0], 1);
  EXPECT_EQ(bytes[4], 5);
  EXPECT_FALSE(sub->U8(bytes));
}

TEST(EndianTest, BigEndian32) {
  uint8_t b[4];
  StoreBE32(b, 0x00ABCDEF);
  EXPECT_EQ(b[0], 0x00);
  EXPECT_EQ(b[1], 0xAB);
  EXPECT_EQ(LoadBE32(b), 0x00ABCDEFu);
}

}  // namespace
}  // namespace smbd
