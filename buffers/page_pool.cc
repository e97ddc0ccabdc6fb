#include "buffers/page_pool.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"

namespace smbd {
namespace {

constexpr size_t kHugePageSize = 2 << 20;

// Maps `length` bytes, trying a huge-page mapping first. Returns nullptr on failure.
uint8_t* MapSlab(size_t length, bool try_huge, bool* huge) {
  *huge = false;
  if (try_huge && length % kHugePageSize == 0) {
    void* p = mmap(nullptr, length, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
    if (p != MAP_FAILED) {
      *huge = true;
      return static_cast<uint8_t*>(p);
    }
  }
  void* p = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  // Transparent huge pages where the kernel allows them: fewer TLB misses and, for RDMA, fewer
  // pages for the device to pin. Advisory only.
  if (try_huge) madvise(p, length, MADV_HUGEPAGE);
  return static_cast<uint8_t*>(p);
}

}  // namespace

absl::StatusOr<std::unique_ptr<PagePool>> PagePool::Create(const PagePoolOptions& options) {
  if (options.slab_bytes == 0 || options.slab_bytes % kPageSize != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("PagePool: slab_bytes ", options.slab_bytes, " is not a multiple of ",
                     kPageSize));
  }
  if (options.max_bytes < options.slab_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("PagePool: max_bytes ", options.max_bytes,
                                                   " is below one slab (", options.slab_bytes,
                                                   ")"));
  }
  std::unique_ptr<PagePool> pool(new PagePool(options));
  std::lock_guard<std::mutex> lock(pool->mu_);
  for (size_t i = 0; i < options.initial_slabs && i < pool->max_slabs_; ++i) {
    absl::Status s = pool->AddSlabLocked();
    if (!s.ok()) return s;
  }
  return pool;
}

PagePool::PagePool(const PagePoolOptions& options)
    : options_(options),
      pages_per_slab_(options.slab_bytes / kPageSize),
      max_slabs_(options.max_bytes / options.slab_bytes) {
  slabs_.reserve(max_slabs_);
}

PagePool::~PagePool() {
  if (stats_.pages_in_use != 0) {
    // A page outliving its pool would point at unmapped memory: a bug in the caller that must
    // not turn into a use-after-free. Fail loudly.
    std::fprintf(stderr, "PagePool destroyed with %llu pages still in use\n",
                 static_cast<unsigned long long>(stats_.pages_in_use));
    std::abort();
  }
  for (Slab& slab : slabs_) {
    if (options_.registrar != nullptr) options_.registrar->Deregister(slab.registration);
    munmap(slab.base, slab.length);
  }
}

absl::Status PagePool::AddSlabLocked() {
  if (slabs_.size() >= max_slabs_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("page pool exhausted: ", max_slabs_ * options_.slab_bytes,
                     " bytes (max_bytes) all in use"));
  }
  Slab slab;
  slab.length = options_.slab_bytes;
  slab.base = MapSlab(slab.length, options_.huge_pages, &slab.huge);
  if (slab.base == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("page pool: mmap of ", slab.length, " bytes failed: ", strerror(errno)));
  }
  if (options_.registrar != nullptr) {
    absl::StatusOr<SlabRegistration> reg = options_.registrar->Register(slab.base, slab.length);
    if (!reg.ok()) {
      munmap(slab.base, slab.length);
      return absl::Status(reg.status().code(),
                          absl::StrCat("page pool: registering a slab: ", reg.status().message()));
    }
    slab.registration = *reg;
  }
  // Page descriptors are allocated here, once per slab, never per request.
  slab.pages = std::make_unique<Page[]>(pages_per_slab_);
  // Push in reverse so that pages come out in address order: adjacent allocations are then
  // usually contiguous, and gathers merge them into one iovec / SGE.
  for (size_t i = pages_per_slab_; i-- > 0;) {
    Page& page = slab.pages[i];
    page.data_ = slab.base + i * kPageSize;
    page.pool_ = this;
    page.lkey_ = slab.registration.lkey;
    page.next_free_ = free_list_;
    free_list_ = &page;
  }
  stats_.slabs++;
  if (slab.huge) stats_.huge_slabs++;
  stats_.total_pages += pages_per_slab_;
  slabs_.push_back(std::move(slab));
  return absl::OkStatus();
}

Page* PagePool::PopLocked() {
  Page* page = free_list_;
  if (page == nullptr) return nullptr;
  free_list_ = page->next_free_;
  page->next_free_ = nullptr;
  page->refs_.store(1, std::memory_order_relaxed);
  stats_.pages_in_use++;
  stats_.allocations++;
  if (stats_.pages_in_use > stats_.high_water_pages) {
    stats_.high_water_pages = stats_.pages_in_use;
  }
  return page;
}

absl::StatusOr<PageRef> PagePool::TryAlloc() {
  std::lock_guard<std::mutex> lock(mu_);
  if (free_list_ == nullptr) {
    absl::Status s = AddSlabLocked();
    if (!s.ok()) {
      stats_.exhausted++;
      return s;
    }
  }
  return PageRef::Adopt(PopLocked());
}

absl::StatusOr<PageRef> PagePool::Alloc(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  const absl::Time deadline = absl::Now() + timeout;
  while (free_list_ == nullptr) {
    if (AddSlabLocked().ok()) break;
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      stats_.exhausted++;
      return absl::ResourceExhaustedError(absl::StrCat(
          "page pool exhausted: no page freed within ", absl::FormatDuration(timeout), " (",
          max_slabs_ * options_.slab_bytes, " bytes in use)"));
    }
    ++waiters_;
    freed_.wait_for(lock, absl::ToChronoNanoseconds(left));
    --waiters_;
  }
  return PageRef::Adopt(PopLocked());
}

absl::Status PagePool::TryAllocMany(size_t count, std::vector<PageRef>* out) {
  std::vector<Page*> got;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const size_t free_now = stats_.total_pages - stats_.pages_in_use;
    const size_t could_add = (max_slabs_ - slabs_.size()) * pages_per_slab_;
    if (count > free_now + could_add) {
      stats_.exhausted++;
      return absl::ResourceExhaustedError(absl::StrCat("page pool exhausted: ", count,
                                                       " pages asked, ", free_now + could_add,
                                                       " available"));
    }
    while (stats_.total_pages - stats_.pages_in_use < count) {
      absl::Status s = AddSlabLocked();
      if (!s.ok()) return s;
    }
    out->reserve(out->size() + count);
    for (size_t i = 0; i < count; ++i) out->push_back(PageRef::Adopt(PopLocked()));
  }
  return absl::OkStatus();
}

void PagePool::Free(Page* page) {
  std::lock_guard<std::mutex> lock(mu_);
  page->next_free_ = free_list_;
  free_list_ = page;
  stats_.pages_in_use--;
  if (waiters_ > 0) freed_.notify_one();
}

PagePoolStats PagePool::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

absl::StatusOr<Fragment> FragAllocator::Alloc(size_t len, size_t align) {
  if (len == 0 || len > kPageSize || align == 0 || (align & (align - 1)) != 0 ||
      align > kPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("fragment of ", len, " bytes aligned to ", align, " is not allocatable"));
  }
  size_t start = (offset_ + align - 1) & ~(align - 1);
  if (!current_ || start + len > kPageSize) {
    absl::StatusOr<PageRef> page = pool_->TryAlloc();
    if (!page.ok()) return page.status();
    current_ = *std::move(page);
    start = 0;
  }
  offset_ = start + len;
  Fragment frag;
  frag.page = current_;  // adds the fragment's reference
  frag.data = current_.data() + start;
  frag.len = static_cast<uint32_t>(len);
  if (offset_ == kPageSize) current_.reset();
  return frag;
}

absl::StatusOr<Fragment> FragAllocator::AllocRest(size_t min_len, size_t align) {
  if (min_len == 0 || min_len > kPageSize || align == 0 || (align & (align - 1)) != 0 ||
      align > kPageSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the rest of a page of at least ", min_len, " bytes aligned to ", align));
  }
  size_t start = (offset_ + align - 1) & ~(align - 1);
  if (!current_ || start + min_len > kPageSize) {
    absl::StatusOr<PageRef> page = pool_->TryAlloc();
    if (!page.ok()) return page.status();
    current_ = *std::move(page);
    start = 0;
  }
  // current_ stays: Trim() can give the tail back to it.
  offset_ = kPageSize;
  Fragment frag;
  frag.page = current_;
  frag.data = current_.data() + start;
  frag.len = static_cast<uint32_t>(kPageSize - start);
  return frag;
}

void FragAllocator::Trim(const Fragment& fragment, size_t used) {
  if (!current_ || fragment.page.get() != current_.get() || used > fragment.len) return;
  const size_t start = static_cast<size_t>(fragment.data - current_.data());
  if (offset_ != start + fragment.len) return;  // something was carved after it
  offset_ = start + used;
}

struct FragArena::Lease::Shard {
  explicit Shard(PagePool* pool) : frags(pool) {}
  std::mutex mu;
  FragAllocator frags;
};

FragArena::FragArena(PagePool* pool, int shards) {
  for (int i = 0; i < std::max(shards, 1); ++i) {
    shards_.push_back(std::make_unique<Lease::Shard>(pool));
  }
}

FragArena::~FragArena() = default;

FragArena::Lease::~Lease() {
  if (shard_ != nullptr) shard_->mu.unlock();
}

FragAllocator* FragArena::Lease::get() const { return &shard_->frags; }

FragArena::Lease FragArena::Acquire() {
  // The same thread starts at the same shard, so its fragments tend to share pages.
  const size_t n = shards_.size();
  const size_t first = std::hash<std::thread::id>()(std::this_thread::get_id()) % n;
  for (size_t i = 0; i < n; ++i) {
    Lease::Shard* s = shards_[(first + i) % n].get();
    if (s->mu.try_lock()) return Lease(s);
  }
  Lease::Shard* s = shards_[first].get();
  s->mu.lock();
  return Lease(s);
}

}  // namespace smbd
