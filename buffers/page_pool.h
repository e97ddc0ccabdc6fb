// PagePool: the registered-memory page allocator that every I/O buffer comes from.
//
// The seed (netfs/cifs RFC, "use netmem allocator") allocates protocol bufferage from a
// page-fragment allocator whose memory is DMA-mapped in bulk. In user space the equivalent of a
// DMA mapping is an RDMA memory registration (ibv_reg_mr), which is expensive (hundreds of
// microseconds), so the pool maps large slabs and registers each slab exactly once through a
// MemoryRegistrar. Pages are then handed out and recycled with no system call and no heap
// allocation; each page knows its slab's local key, so building a scatter-gather entry is O(1).
//
// Threading: Alloc/TryAlloc and page reference drops are safe from any thread. A FragAllocator
// (the bump allocator) belongs to one thread; the fragments it hands out may be freed anywhere.
#ifndef SMBD_BUFFERS_PAGE_POOL_H_
#define SMBD_BUFFERS_PAGE_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace smbd {

inline constexpr size_t kPageSize = 4096;

// What a registrar hands back for one registered slab.
struct SlabRegistration {
  uint32_t lkey = 0;     // local key placed into scatter-gather entries
  uint64_t cookie = 0;   // registrar-private handle, given back to Deregister
};

// Registers slabs of memory with a device. The RDMA implementation lives in smbdirect/ (the pool
// knows no verbs); tests use a recording fake; the TCP transport uses none (lkey 0).
class MemoryRegistrar {
 public:
  virtual ~MemoryRegistrar() = default;
  virtual absl::StatusOr<SlabRegistration> Register(void* addr, size_t length) = 0;
  virtual void Deregister(const SlabRegistration& registration) = 0;
};

class PagePool;

// Descriptor of one 4 KiB page of a slab. Owned by the pool; reached through PageRef or Bvec.
class Page {
 public:
  uint8_t* data() const { return data_; }
  uint32_t lkey() const { return lkey_; }
  PagePool* pool() const { return pool_; }
  uint32_t refcount() const { return refs_.load(std::memory_order_relaxed); }

  // Reference counting. Get() may be called by any holder of a reference; Put() of the last
  // reference returns the page to its pool's free list.
  void Get() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Put();

 private:
  friend class PagePool;
  uint8_t* data_ = nullptr;
  PagePool* pool_ = nullptr;
  Page* next_free_ = nullptr;
  uint32_t lkey_ = 0;
  std::atomic<uint32_t> refs_{0};
};

// A counted reference to a page; copy adds a reference, destruction drops it.
class PageRef {
 public:
  PageRef() = default;
  // Adopts a reference the caller already holds.
  static PageRef Adopt(Page* page) { return PageRef(page); }
  PageRef(const PageRef& other) : page_(other.page_) {
    if (page_ != nullptr) page_->Get();
  }
  PageRef(PageRef&& other) noexcept : page_(other.page_) { other.page_ = nullptr; }
  PageRef& operator=(PageRef other) noexcept {
    std::swap(page_, other.page_);
    return *this;
  }
  ~PageRef() { reset(); }

  void reset() {
    if (page_ != nullptr) page_->Put();
    page_ = nullptr;
  }
  // Gives up ownership of the reference without dropping it.
  Page* release() {
    Page* p = page_;
    page_ = nullptr;
    return p;
  }
  Page* get() const { return page_; }
  Page* operator->() const { return page_; }
  explicit operator bool() const { return page_ != nullptr; }
  uint8_t* data() const { return page_->data(); }

 private:
  explicit PageRef(Page* page) : page_(page) {}
  Page* page_ = nullptr;
};

struct PagePoolOptions {
  // Size of one slab: registered once, carved into pages. 2 MiB matches a huge page and rxe's
  // 512-page limit per memory region.
  size_t slab_bytes = 2 << 20;
  // Upper bound on memory the pool may map; allocation beyond it fails or waits.
  size_t max_bytes = 256 << 20;
  // Slabs mapped when the pool is created (0 = map lazily on first use).
  size_t initial_slabs = 0;
  // Try MAP_HUGETLB first; fall back to plain pages (with MADV_HUGEPAGE) if none are reserved.
  bool huge_pages = true;
  // Registers each slab; nullptr registers nothing (lkey 0).
  MemoryRegistrar* registrar = nullptr;
};

struct PagePoolStats {
  uint64_t pages_in_use = 0;
  uint64_t high_water_pages = 0;
  uint64_t slabs = 0;
  uint64_t huge_slabs = 0;
  uint64_t total_pages = 0;
  uint64_t allocations = 0;
  uint64_t exhausted = 0;  // allocations refused or timed out for lack of pages
};

class PagePool {
 public:
  static absl::StatusOr<std::unique_ptr<PagePool>> Create(const PagePoolOptions& options);
  // Every page must have been returned; the slabs are deregistered and unmapped.
  ~PagePool();

  PagePool(const PagePool&) = delete;
  PagePool& operator=(const PagePool&) = delete;

  // One page with one reference, or ResourceExhausted when the pool is at its bound.
  absl::StatusOr<PageRef> TryAlloc();
  // Like TryAlloc, but waits up to `timeout` for a page to be freed before failing.
  absl::StatusOr<PageRef> Alloc(absl::Duration timeout);

  // Fills `out` with `count` pages, all or nothing.
  absl::Status TryAllocMany(size_t count, std::vector<PageRef>* out);

  PagePoolStats stats() const;
  size_t max_pages() const { return max_slabs_ * pages_per_slab_; }
  size_t pages_per_slab() const { return pages_per_slab_; }

 private:
  friend class Page;
  struct Slab {
    uint8_t* base = nullptr;
    size_t length = 0;
    bool huge = false;
    SlabRegistration registration;
    std::unique_ptr<Page[]> pages;
  };

  explicit PagePool(const PagePoolOptions& options);
  absl::Status AddSlabLocked();
  Page* PopLocked();
  void Free(Page* page);

  const PagePoolOptions options_;
  const size_t pages_per_slab_;
  const size_t max_slabs_;

  mutable std::mutex mu_;
  std::condition_variable freed_;
  int waiters_ = 0;
  Page* free_list_ = nullptr;
  std::vector<Slab> slabs_;
  PagePoolStats stats_;
};

inline void Page::Put() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) pool_->Free(this);
}

// A fragment of a page: `len` bytes at `data`, holding one reference on `page`.
struct Fragment {
  PageRef page;
  uint8_t* data = nullptr;
  uint32_t len = 0;
};

// The bump allocator over pages (the kernel's page_frag_alloc): small buffers are carved from
// the current page, each holding a reference on it; when the page is used up the allocator
// drops its own reference and takes a fresh page. One owner at a time. Its users: request
// encoding (through a connection's FragArena and WireWriter), the TCP transport's receive of a
// frame's start, SMB Direct's receive buffers (three to a page at the default 1364 bytes).
class FragAllocator {
 public:
  explicit FragAllocator(PagePool* pool) : pool_(pool) {}
  ~FragAllocator() = default;
  FragAllocator(const FragAllocator&) = delete;
  FragAllocator& operator=(const FragAllocator&) = delete;

  // `len` bytes (1..kPageSize) aligned to `align` (a power of two <= kPageSize).
  absl::StatusOr<Fragment> Alloc(size_t len, size_t align = 8);
  // The rest of the current page from the next `align`ed offset if at least `min_len` bytes
  // are left there, else a whole fresh page: for a writer that learns its length as it goes
  // and gives the unused tail back with Trim().
  absl::StatusOr<Fragment> AllocRest(size_t min_len, size_t align = 8);
  // Gives back all but the first `used` bytes of `fragment`, if it is still the latest
  // allocation on the current page (otherwise nothing happens).
  void Trim(const Fragment& fragment, size_t used);

 private:
  PagePool* const pool_;
  PageRef current_;
  size_t offset_ = kPageSize;
};

// Fragments for encoders on any thread: a few FragAllocators, each behind its own lock, so that
// threads encoding at once rarely meet and nothing process-wide is locked. One per connection
// (the seed's per-CPU page_frag caches, in user space). A Lease holds one allocator for the
// life of one encoder.
class FragArena {
 public:
  explicit FragArena(PagePool* pool, int shards = 4);
  ~FragArena();
  FragArena(const FragArena&) = delete;
  FragArena& operator=(const FragArena&) = delete;

  class Lease {
   public:
    Lease(Lease&& other) noexcept : shard_(other.shard_) { other.shard_ = nullptr; }
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    FragAllocator* get() const;

   private:
    friend class FragArena;
    struct Shard;
    explicit Lease(Shard* shard) : shard_(shard) {}
    Shard* shard_;
  };
  // A free allocator (the calling thread's usual one if it is free), else waits for one.
  Lease Acquire();

 private:
  std::vector<std::unique_ptr<Lease::Shard>> shards_;
};

}  // namespace smbd

#endif  // SMBD_BUFFERS_PAGE_POOL_H_
