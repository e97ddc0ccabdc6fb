#include "buffers/bvecq.h"

#include <numeric>
#include <vector>

#include "buffers/fake_registrar.h"
#include "gtest/gtest.h"

namespace smbd {
namespace {

class BvecqTest : public ::testing::Test {
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

  // Appends `n` bytes of a counting pattern starting at `seed`, spread over pages with the given
  // offset inside each page.
  void Fill(Bvecq* q, size_t n, uint32_t in_page_offset, uint8_t seed) {
    while (n > 0) {
      PageRef p = pool_->TryAlloc().value();
      const uint32_t len = static_cast<uint32_t>(std::min<size_t>(n, kPageSize - in_page_offset));
      for (uint32_t i = 0; i < len; ++i) p.data()[in_page_offset + i] = seed++;
      ASSERT_TRUE(q->Append(std::move(p), in_page_offset, len).ok());
      n -= len;
    }
  }

  std::vector<uint8_t> Contents(const Bvecq& q) {
    std::vector<uint8_t> out(q.size());
    BvecqIter it = q.begin();
    EXPECT_EQ(it.CopyOut(absl::MakeSpan(out)), out.size());
    return out;
  }

  FakeRegistrar registrar_;
  std::unique_ptr<PagePool> pool_;
};

TEST_F(BvecqTest, EmptyQueue) {
  Bvecq q;
  EXPECT_EQ(q.size(), 0u);
  BvecqIter it = q.begin();
  EXPECT_EQ(it.remaining(), 0u);
  EXPECT_TRUE(it.Peek().empty());
  iovec iov[4];
  EXPECT_EQ(it.GatherIovec(iov, 4, UINT64_MAX).entries, 0);
  EXPECT_TRUE(it.Advance(0).ok());
  EXPECT_EQ(it.Advance(1).code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(q.Range(0, 0).ok());
  EXPECT_FALSE(q.Range(0, 1).ok());
}

TEST_F(BvecqTest, AppendCrossesNodesAndHoldsReferences) {
  Bvecq q;
  Fill(&q, 40 * kPageSize, 0, 7);  // 40 slots: three nodes
  EXPECT_EQ(q.slot_count(), 40u);
  EXPECT_EQ(q.size(), 40 * kPageSize);
  EXPECT_EQ(pool_->stats().pages_in_use, 40u);
  std::vector<uint8_t> got = Contents(q);
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], static_cast<uint8_t>(7 + i)) << i;
  q.Clear();
  EXPECT_EQ(pool_->stats().pages_in_use, 0u);
}

TEST_F(BvecqTest, AppendRejectsRangesOutsideThePage) {
  Bvecq q;
  PageRef p = pool_->TryAlloc().value();
  EXPECT_EQ(q.Append(p, 4000, 200).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(q.Append(PageRef(), 0, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(q.Append(p, 4000, 96).ok());
  EXPECT_EQ(p->refcount(), 2u);
}

TEST_F(BvecqTest, ReservedHeadSlotsAreSkippedUntilFilled) {
  Bvecq q;
  ASSERT_TRUE(q.ReserveHead(2).ok());
  EXPECT_EQ(q.ReserveHead(1).code(), absl::StatusCode::kFailedPrecondition);
  Fill(&q, 10, 0, 1);
  EXPECT_EQ(q.size(), 10u);
  EXPECT_EQ(Contents(q), std::vector<uint8_t>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));

  FragAllocator frags(pool_.get());
  Fragment hdr = frags.Alloc(4).value();
  hdr.data[0] = 0xAA, hdr.data[1] = 0xBB, hdr.data[2] = 0xCC, hdr.data[3] = 0xDD;
  ASSERT_TRUE(q.SetHead(1, std::move(hdr)).ok());
  EXPECT_EQ(q.size(), 14u);
  std::vector<uint8_t> got = Contents(q);
  EXPECT_EQ(got[0], 0xAA);
  EXPECT_EQ(got[4], 1);
  EXPECT_EQ(q.SetHead(2, Fragment()).code(), absl::StatusCode::kOutOfRange);
  // Replacing a head slot drops the old fragment's reference.
  Fragment hdr2 = frags.Alloc(2).value();
  hdr2.data[0] = 0x11, hdr2.data[1] = 0x22;
  ASSERT_TRUE(q.SetHead(1, std::move(hdr2)).ok());
  EXPECT_EQ(q.size(), 12u);
  EXPECT_EQ(Contents(q)[1], 0x22);
}

TEST_F(BvecqTest, SpliceChainsWithoutCopying) {
  Bvecq a, b, c;
  Fill(&a, 100, 0, 0);
  Fill(&b, 5000, 10, 100);
  const uint8_t* b_first = b.begin().Peek().data();
  b.Splice(Bvecq());  // splicing an empty queue is a no-op
  a.Splice(std::move(b));
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(a.size(), 5100u);
  BvecqIter it = a.begin();
  ASSERT_TRUE(it.Advance(100).ok());
  EXPECT_EQ(it.Peek().data(), b_first);  // same memory, not a copy
  c.Splice(std::move(a));
  EXPECT_EQ(c.size(), 5100u);
  std::vector<uint8_t> got = Contents(c);
  EXPECT_EQ(got[99], 99);
  EXPECT_EQ(got[100], 100);
  EXPECT_EQ(got[5099], static_cast<uint8_t>(100 + 4999));
}

TEST_F(BvecqTest, SliceSharesPagesAndCoversPageCrossings) {
  Bvecq q;
  Fill(&q, 3 * kPageSize, 0, 0);
  auto s = q.Slice(kPageSize - 10, 20);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->size(), 20u);
  EXPECT_EQ(s->slot_count(), 2u);
  std::vector<uint8_t> got = Contents(*s);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(got[i], static_cast<uint8_t>(kPageSize - 10 + i));
  q.Clear();  // the slice keeps its two pages alive
  EXPECT_EQ(pool_->stats().pages_in_use, 2u);
  EXPECT_EQ(Contents(*s), got);
  EXPECT_EQ(q.Slice(0, 1).status().code(), absl::StatusCode::kOutOfRange);
  auto empty = s->Slice(20, 0);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->size(), 0u);
}

TEST_F(BvecqTest, ExternalMemoryIsNotReferenceCounted) {
  std::vector<uint8_t> user(10000);
  std::iota(user.begin(), user.end(), 0);
  Bvecq q;
  ASSERT_TRUE(q.AppendExternal(user.data(), user.size(), 0x42).ok());
  EXPECT_EQ(q.slot_count(), 1u);
  Sge sge[2];
  BvecqIter it = q.begin();
  GatherResult r = it.GatherSge(sge, 2, UINT64_MAX);
  EXPECT_EQ(r.entries, 1);
  EXPECT_EQ(sge[0].addr, reinterpret_cast<uintptr_t>(user.data()));
  EXPECT_EQ(sge[0].length, 10000u);
  EXPECT_EQ(sge[0].lkey, 0x42u);
  EXPECT_EQ(q.AppendExternal(nullptr, 1).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(BvecqTest, CopyInWritesAcrossSlots) {
  Bvecq q;
  Fill(&q, 3 * kPageSize, 100, 0);
  std::vector<uint8_t> src(5000, 0xEE);
  auto it = q.Range(3000, 5000);
  ASSERT_TRUE(it.ok());
  EXPECT_EQ(it->CopyIn(src), 5000u);
  std::vector<uint8_t> got = Contents(q);
  EXPECT_EQ(got[2999], static_cast<uint8_t>(2999));
  EXPECT_EQ(got[3000], 0xEE);
  EXPECT_EQ(got[7999], 0xEE);
  EXPECT_EQ(got[8000], static_cast<uint8_t>(8000));
}

TEST_F(BvecqTest, GatherMergesContiguousPagesAndRespectsLimits) {
  // Pages come out of a fresh slab in address order, so whole pages merge into one run.
  Bvecq q;
  Fill(&q, 8 * kPageSize, 0, 0);
  iovec iov[8];
  BvecqIter it = q.begin();
  GatherResult r = it.GatherIovec(iov, 8, UINT64_MAX);
  EXPECT_EQ(r.entries, 1);
  EXPECT_EQ(r.bytes, 8 * kPageSize);
  EXPECT_EQ(iov[0].iov_len, 8 * kPageSize);

  // Pages with an offset inside each page do not merge: one entry each; cap of 3 entries.
  Bvecq gaps;
  Fill(&gaps, 5 * (kPageSize - 8), 8, 0);
  Sge sge[3];
  BvecqIter git = gaps.begin();
  r = git.GatherSge(sge, 3, UINT64_MAX);
  EXPECT_EQ(r.entries, 3);
  EXPECT_EQ(r.bytes, 3 * (kPageSize - 8));
  EXPECT_EQ(git.remaining(), 2 * (kPageSize - 8));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(sge[i].lkey, pool_->TryAlloc().value()->lkey());
  r = git.GatherSge(sge, 3, 100);  // byte cap
  EXPECT_EQ(r.entries, 1);
  EXPECT_EQ(r.bytes, 100u);
  EXPECT_EQ(git.remaining(), 2 * (kPageSize - 8) - 100);
  r = git.GatherSge(sge, 3, UINT64_MAX);
  EXPECT_EQ(r.entries, 2);
  EXPECT_EQ(git.remaining(), 0u);
  EXPECT_EQ(git.GatherSge(sge, 3, UINT64_MAX).entries, 0);
}

TEST_F(BvecqTest, GatherOfOneMebibyteIntoSmallSgeBatchesCoversEveryByte) {
  Bvecq q;
  Fill(&q, 1 << 20, 16, 3);
  BvecqIter it = q.begin();
  uint64_t total = 0;
  int calls = 0;
  uint8_t expect = 3;
  while (it.remaining() > 0) {
    Sge sge[2];  // soft providers allow few SGEs
    GatherResult r = it.GatherSge(sge, 2, 1364);
    ASSERT_GT(r.entries, 0);
    ASSERT_LE(r.entries, 2);
    ASSERT_LE(r.bytes, 1364u);
    uint64_t sum = 0;
    for (int i = 0; i < r.entries; ++i) {
      const uint8_t* p = reinterpret_cast<const uint8_t*>(sge[i].addr);
      for (uint32_t j = 0; j < sge[i].length; ++j) ASSERT_EQ(p[j], expect++);
      sum += sge[i].length;
    }
    ASSERT_EQ(sum, r.bytes);
    total += r.bytes;
    ++calls;
  }
  EXPECT_EQ(total, 1u << 20);
  EXPECT_GE(calls, (1 << 20) / 1364);
}

TEST_F(BvecqTest, MoveTransfersOwnership) {
  Bvecq a;
  Fill(&a, 100, 0, 0);
  Bvecq b(std::move(a));
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(b.size(), 100u);
  Bvecq c;
  Fill(&c, 50, 0, 0);
  c = std::move(b);  // drops c's own page
  EXPECT_EQ(c.size(), 100u);
  EXPECT_EQ(pool_->stats().pages_in_use, 1u);
}

TEST_F(BvecqTest, NodesAreRecycled) {
  for (int round = 0; round < 3; ++round) {
    Bvecq q;
    Fill(&q, 100 * 64, 0, 0);  // small: one page, but make many slots below
    for (int i = 0; i < 60; ++i) ASSERT_TRUE(q.AppendExternal(&round, sizeof(round)).ok());
  }
  const uint64_t heap_before = GetBvecqNodeCacheStats().heap_nodes;
  for (int round = 0; round < 10; ++round) {
    Bvecq q;
    for (int i = 0; i < 60; ++i) ASSERT_TRUE(q.AppendExternal(&round, sizeof(round)).ok());
  }
  EXPECT_EQ(GetBvecqNodeCacheStats().heap_nodes, heap_before);
}

}  // namespace
}  // namespace smbd
