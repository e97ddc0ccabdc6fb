#include "buffers/page_pool.h"

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "buffers/fake_registrar.h"
#include "gtest/gtest.h"

namespace smbd {
namespace {

PagePoolOptions SmallPool(MemoryRegistrar* registrar, size_t slabs) {
  PagePoolOptions o;
  o.slab_bytes = 16 * kPageSize;
  o.max_bytes = slabs * o.slab_bytes;
  o.huge_pages = false;
  o.registrar = registrar;
  return o;
}

TEST(PagePoolTest, RejectsBadOptions) {
  PagePoolOptions o;
  o.slab_bytes = 1000;
  EXPECT_EQ(PagePool::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.slab_bytes = 2 << 20;
  o.max_bytes = 1 << 20;
  EXPECT_EQ(PagePool::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PagePoolTest, PagesAreDistinctWritableAndCarryTheSlabKey) {
  FakeRegistrar reg;
  auto pool = PagePool::Create(SmallPool(&reg, 2)).value();
  std::vector<PageRef> pages;
  std::set<uint8_t*> seen;
  std::set<uint32_t> keys;
  for (int i = 0; i < 32; ++i) {
    PageRef p = pool->TryAlloc().value();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p.data()) % kPageSize, 0u);
    EXPECT_TRUE(seen.insert(p.data()).second);
    p.data()[0] = static_cast<uint8_t>(i);
    p.data()[kPageSize - 1] = static_cast<uint8_t>(i);
    keys.insert(p->lkey());
    EXPECT_EQ(p->refcount(), 1u);
    pages.push_back(std::move(p));
  }
  // Two slabs, each registered once, each with its own key.
  EXPECT_EQ(reg.registrations(), 2);
  EXPECT_EQ(keys.size(), 2u);
  EXPECT_EQ(pool->stats().pages_in_use, 32u);
  EXPECT_EQ(pool->stats().slabs, 2u);
  pages.clear();
  EXPECT_EQ(pool->stats().pages_in_use, 0u);
  EXPECT_EQ(pool->stats().high_water_pages, 32u);
  pool.reset();
  EXPECT_EQ(reg.deregistrations(), 2);
  EXPECT_EQ(reg.live(), 0u);
}

TEST(PagePoolTest, ExhaustionIsResourceExhaustedAndRecovers) {
  auto pool = PagePool::Create(SmallPool(nullptr, 1)).value();
  std::vector<PageRef> pages;
  for (int i = 0; i < 16; ++i) pages.push_back(pool->TryAlloc().value());
  absl::StatusOr<PageRef> more = pool->TryAlloc();
  EXPECT_EQ(more.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(more.status().message().find("exhausted"), absl::string_view::npos);
  EXPECT_EQ(pool->stats().exhausted, 1u);
  pages.pop_back();
  EXPECT_TRUE(pool->TryAlloc().ok());
}

TEST(PagePoolTest, FreedPagesAreReused) {
  auto pool = PagePool::Create(SmallPool(nullptr, 1)).value();
  uint8_t* first;
  {
    PageRef p = pool->TryAlloc().value();
    first = p.data();
  }
  PageRef again = pool->TryAlloc().value();
  EXPECT_EQ(again.data(), first);
  EXPECT_EQ(pool->stats().slabs, 1u);
}

TEST(PagePoolTest, RefcountHoldsThePage) {
  auto pool = PagePool::Create(SmallPool(nullptr, 1)).value();
  PageRef a = pool->TryAlloc().value();
  PageRef b = a;
  EXPECT_EQ(a->refcount(), 2u);
  a.reset();
  EXPECT_EQ(pool->stats().pages_in_use, 1u);
  b.reset();
  EXPECT_EQ(pool->stats().pages_in_use, 0u);
}

TEST(PagePoolTest, AllocWaitsForAFreeThenTimesOut) {
  auto pool = PagePool::Create(SmallPool(nullptr, 1)).value();
  std::vector<PageRef> pages;
  ASSERT_TRUE(pool->TryAllocMany(16, &pages).ok());
  // Nobody frees: a bounded wait fails with ResourceExhausted.
  absl::Time start = absl::Now();
  auto none = pool->Alloc(absl::Milliseconds(50));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(45));
  // Another thread frees one: the waiter gets it.
  std::thread freer([&] {
    absl::SleepFor(absl::Milliseconds(20));
    pages.pop_back();
  });
  auto got = pool->Alloc(absl::Seconds(10));
  freer.join();
  EXPECT_TRUE(got.ok()) << got.status();
}

TEST(PagePoolTest, AllocManyIsAllOrNothing) {
  auto pool = PagePool::Create(SmallPool(nullptr, 2)).value();
  std::vector<PageRef> pages;
  EXPECT_EQ(pool->TryAllocMany(33, &pages).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(pages.empty());
  EXPECT_EQ(pool->stats().pages_in_use, 0u);
  EXPECT_TRUE(pool->TryAllocMany(32, &pages).ok());
  EXPECT_EQ(pages.size(), 32u);
}

TEST(PagePoolTest, RegistrationFailureIsReportedAndNothingLeaks) {
  FakeRegistrar reg;
  reg.FailNext();
  auto pool = PagePool::Create(SmallPool(&reg, 2)).value();
  auto p = pool->TryAlloc();
  EXPECT_EQ(p.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(p.status().message().find("registering a slab"), absl::string_view::npos);
  EXPECT_EQ(pool->stats().slabs, 0u);
  EXPECT_TRUE(pool->TryAlloc().ok());  // the next attempt registers fine
  EXPECT_EQ(reg.live(), 1u);
}

TEST(PagePoolTest, InitialSlabsAreMappedAndRegisteredUpFront) {
  FakeRegistrar reg;
  PagePoolOptions o = SmallPool(&reg, 4);
  o.initial_slabs = 3;
  auto pool = PagePool::Create(o).value();
  EXPECT_EQ(reg.registrations(), 3);
  EXPECT_EQ(pool->stats().total_pages, 48u);
}

TEST(PagePoolTest, HugePageSlabsFallBackWhenNoneAreReserved) {
  PagePoolOptions o;
  o.slab_bytes = 2 << 20;
  o.max_bytes = 4 << 20;
  o.huge_pages = true;
  auto pool = PagePool::Create(o).value();
  PageRef p = pool->TryAlloc().value();
  p.data()[0] = 1;
  EXPECT_EQ(pool->stats().slabs, 1u);
  EXPECT_EQ(pool->pages_per_slab(), 512u);
}

TEST(FragAllocatorTest, BumpAllocatesFromOnePageAndHoldsReferences) {
  auto pool = PagePool::Create(SmallPool(nullptr, 1)).value();
  FragAllocator frags(pool.get());
  Fragment a = frags.Alloc(100).value();
  Fragment b = frags.Alloc(100).value();
  EXPECT_EQ(a.page.get(), b.page.get());
  EXPECT_EQ(b.data, a.data + 104);  // 8-byte aligned
  EXPECT_EQ(pool->stats().pages_in_use, 1u);
  // Allocator + two fragments.
  EXPECT_EQ(a.page->refcount(), 3u);
  Fragment c = frags.Alloc(4000).value();  // does not fit: a new page
  EXPECT_NE(c.page.get(), a.page.get());
  EXPECT_EQ(pool->stats().pages_in_use, 2u);
  EXPECT_EQ(a.page->refcount(), 2u);  // the allocator let go of the first page
  a = Fragment();
  b = Fragment();
  EXPECT_EQ(pool->stats().pages_in_use, 1u);
}

TEST(FragAllocatorTest, AlignmentAndBounds) {
  auto pool = PagePool::Create(SmallPool(nullptr, 1)).value();
  FragAllocator frags(pool.get());
  Fragment a = frags.Alloc(3, 1).value();
  Fragment b = frags.Alloc(64, 64).value();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data) % 64, 0u);
  EXPECT_EQ(frags.Alloc(0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(frags.Alloc(kPageSize + 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(frags.Alloc(8, 3).status().code(), absl::StatusCode::kInvalidArgument);
  Fragment full = frags.Alloc(kPageSize).value();
  EXPECT_EQ(full.data, full.page.data());
}

TEST(FragAllocatorTest, ExhaustionPropagates) {
  auto pool = PagePool::Create(SmallPool(nullptr, 1)).value();
  std::vector<PageRef> pages;
  ASSERT_TRUE(pool->TryAllocMany(16, &pages).ok());
  FragAllocator frags(pool.get());
  EXPECT_EQ(frags.Alloc(10).status().code(), absl::StatusCode::kResourceExhausted);
}

// Allocation on several threads and frees on others; run under TSan (bazel test --config=tsan).
TEST(FragAllocatorTest, RestOfThePageAndTrimPackWritersOfUnknownLength) {
  auto pool = PagePool::Create(SmallPool(nullptr, 1)).value();
  FragAllocator frags(pool.get());
  Fragment a = frags.AllocRest(512).value();
  EXPECT_EQ(a.len, kPageSize);  // a fresh page, whole
  frags.Trim(a, 120);           // the writer used 120 bytes
  Fragment b = frags.AllocRest(512).value();
  EXPECT_EQ(b.page.get(), a.page.get());
  EXPECT_EQ(b.data, a.data + 120);
  EXPECT_EQ(b.len, kPageSize - 120);
  frags.Trim(b, 3900);  // leaves 76 bytes: less than a writer's minimum
  Fragment c = frags.AllocRest(512).value();
  EXPECT_NE(c.page.get(), a.page.get());
  EXPECT_EQ(c.len, kPageSize);
  // A trim of anything but the latest allocation changes nothing.
  frags.Trim(c, 96);
  Fragment d = frags.Alloc(16).value();
  EXPECT_EQ(d.data, c.data + 96);
  frags.Trim(c, 0);
  Fragment e = frags.Alloc(16).value();
  EXPECT_EQ(e.data, d.data + 16);
  EXPECT_EQ(pool->stats().pages_in_use, 2u);
}

TEST(FragArenaTest, ConcurrentLeasesGetDifferentAllocators) {
  auto pool = PagePool::Create(SmallPool(nullptr, 1)).value();
  FragArena arena(pool.get(), 2);
  FragAllocator* first;
  {
    FragArena::Lease a = arena.Acquire();
    FragArena::Lease b = arena.Acquire();
    EXPECT_NE(a.get(), b.get());
    first = a.get();
    Fragment f = a.get()->Alloc(64).value();
  }
  // Released: the same thread gets its usual allocator back.
  FragArena::Lease again = arena.Acquire();
  EXPECT_EQ(again.get(), first);
}

TEST(PagePoolTest, ConcurrentAllocAndFree) {
  FakeRegistrar reg;
  // Room for every fragment to be in flight at once, so that failures would mean a bug.
  auto pool = PagePool::Create(SmallPool(&reg, 64)).value();
  constexpr int kThreads = 4;
  constexpr int kRounds = 2000;
  std::mutex handoff_mu;
  std::vector<Fragment> handoff;
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      FragAllocator frags(pool.get());
      for (int i = 0; i < kRounds; ++i) {
        auto f = frags.Alloc(64 + (i % 7) * 100);
        if (!f.ok()) {
          failures++;
          continue;
        }
        f->data[0] = static_cast<uint8_t>(t);
        PageRef page = pool->TryAlloc().value_or(PageRef());
        if (page) page.data()[1] = 1;
        std::lock_guard<std::mutex> lock(handoff_mu);
        handoff.push_back(*std::move(f));
      }
    });
  }
  // The freeing thread drops fragments allocated elsewhere.
  std::thread freer([&] {
    while (!done.load()) {
      std::vector<Fragment> batch;
      {
        std::lock_guard<std::mutex> lock(handoff_mu);
        batch.swap(handoff);
      }
      batch.clear();
      std::this_thread::yield();
    }
  });
  for (auto& th : threads) th.join();
  done = true;
  freer.join();
  handoff.clear();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(pool->stats().pages_in_use, 0u);
}

}  // namespace
}  // namespace smbd
