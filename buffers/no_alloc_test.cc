// Shows that the pool's fast paths perform no heap allocation once warm: fragment and page
// alloc/free, building a message chain in a Bvecq, gathering it, and reading it back.
#include <sys/uio.h>

#include "buffers/alloc_counter.h"
#include "buffers/bvecq.h"
#include "buffers/page_pool.h"
#include "buffers/wire.h"
#include "gtest/gtest.h"

namespace smbd {
namespace {

TEST(NoAllocTest, CounterSeesAllocations) {
  const uint64_t before = HeapAllocations();
  int* p = new int(3);
  asm volatile("" : : "r"(p) : "memory");  // keep the compiler from eliding the pair
  delete p;
  EXPECT_EQ(HeapAllocations(), before + 1);  // the counter itself works
}

TEST(NoAllocTest, WarmFastPathsDoNotAllocate) {
  PagePoolOptions o;
  o.slab_bytes = 64 * kPageSize;
  o.max_bytes = 4 * o.slab_bytes;
  o.huge_pages = false;
  o.initial_slabs = 1;
  auto pool = PagePool::Create(o).value();
  FragAllocator frags(pool.get());

  auto round = [&]() -> bool {
    Bvecq q;
    if (!q.ReserveHead(1).ok()) return false;
    absl::StatusOr<Fragment> hdr = frags.Alloc(4);
    if (!hdr.ok() || !q.SetHead(0, *std::move(hdr)).ok()) return false;
    {
      WireWriter w(&q, pool.get());
      for (int i = 0; i < 40; ++i) w.U64(i);
      if (!w.Finish().ok()) return false;
    }
    for (int i = 0; i < 20; ++i) {
      absl::StatusOr<PageRef> page = pool->TryAlloc();
      if (!page.ok() || !q.Append(*std::move(page), 0, kPageSize).ok()) return false;
    }
    iovec iov[8];
    BvecqIter it = q.begin();
    while (it.remaining() > 0) it.GatherIovec(iov, 8, UINT64_MAX);
    WireReader r(q.begin());
    uint64_t v;
    return r.Skip(4) && r.U64(&v) && v == 0;
  };
  ASSERT_TRUE(round());  // warm: node cache filled, slab mapped
  const uint64_t before = HeapAllocations();
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(round());
  EXPECT_EQ(HeapAllocations(), before);
  EXPECT_EQ(pool->stats().slabs, 1u);
}

}  // namespace
}  // namespace smbd
