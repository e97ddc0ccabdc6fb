#include "buffers/bvecq.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"

namespace smbd {
namespace {

// Process-wide cache of queue nodes: a kmem_cache in miniature. Grows in batches, never shrinks.
class NodeCache {
 public:
  static NodeCache& Get() {
    static NodeCache* cache = new NodeCache();  // never destroyed: nodes may outlive statics
    return *cache;
  }

  BvecqNode* Alloc() {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_ == nullptr) {
      constexpr int kBatch = 32;
      BvecqNode* batch = new BvecqNode[kBatch];
      for (int i = 0; i < kBatch; ++i) {
        batch[i].next = free_;
        free_ = &batch[i];
      }
      stats_.heap_nodes += kBatch;
    }
    BvecqNode* node = free_;
    free_ = node->next;
    node->next = nullptr;
    node->used = 0;
    stats_.nodes_in_use++;
    return node;
  }

  void Free(BvecqNode* node) {
    std::lock_guard<std::mutex> lock(mu_);
    node->next = free_;
    free_ = node;
    stats_.nodes_in_use--;
  }

  BvecqNodeCacheStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  std::mutex mu_;
  BvecqNode* free_ = nullptr;
  BvecqNodeCacheStats stats_;
};

}  // namespace

BvecqNodeCacheStats GetBvecqNodeCacheStats() { return NodeCache::Get().stats(); }

Bvecq::Bvecq(Bvecq&& other) noexcept
    : head_(other.head_),
      tail_(other.tail_),
      size_(other.size_),
      slot_count_(other.slot_count_),
      reserved_head_(other.reserved_head_) {
  other.head_ = other.tail_ = nullptr;
  other.size_ = 0;
  other.slot_count_ = 0;
  other.reserved_head_ = 0;
}

Bvecq& Bvecq::operator=(Bvecq&& other) noexcept {
  if (this != &other) {
    Clear();
    head_ = other.head_;
    tail_ = other.tail_;
    size_ = other.size_;
    slot_count_ = other.slot_count_;
    reserved_head_ = other.reserved_head_;
    other.head_ = other.tail_ = nullptr;
    other.size_ = 0;
    other.slot_count_ = 0;
    other.reserved_head_ = 0;
  }
  return *this;
}

void Bvecq::Clear() {
  BvecqNode* node = head_;
  while (node != nullptr) {
    for (uint32_t i = 0; i < node->used; ++i) {
      if (node->slots[i].page != nullptr) node->slots[i].page->Put();
      node->slots[i] = Bvec();
    }
    BvecqNode* next = node->next;
    NodeCache::Get().Free(node);
    node = next;
  }
  head_ = tail_ = nullptr;
  size_ = 0;
  slot_count_ = 0;
  reserved_head_ = 0;
}

Bvec* Bvecq::AddSlot() {
  if (tail_ == nullptr || tail_->used == kBvecqNodeSlots) {
    BvecqNode* node = NodeCache::Get().Alloc();
    if (tail_ == nullptr) {
      head_ = node;
    } else {
      tail_->next = node;
    }
    tail_ = node;
  }
  slot_count_++;
  return &tail_->slots[tail_->used++];
}

absl::Status Bvecq::ReserveHead(int n) {
  if (head_ != nullptr || n < 0 || n > kBvecqNodeSlots) {
    return absl::FailedPreconditionError(
        absl::StrCat("Bvecq::ReserveHead(", n, ") needs an empty queue and n <= ",
                     kBvecqNodeSlots));
  }
  for (int i = 0; i < n; ++i) *AddSlot() = Bvec();
  reserved_head_ = n;
  return absl::OkStatus();
}

absl::Status Bvecq::SetHead(int i, Fragment fragment) {
  if (i < 0 || i >= reserved_head_) {
    return absl::OutOfRangeError(
        absl::StrCat("Bvecq::SetHead(", i, "): ", reserved_head_, " slots reserved"));
  }
  Bvec& slot = head_->slots[i];
  if (slot.page != nullptr) slot.page->Put();
  size_ -= slot.len;
  Page* page = fragment.page.release();
  slot.data = fragment.data;
  slot.page = page;
  slot.len = fragment.len;
  slot.lkey = page != nullptr ? page->lkey() : 0;
  size_ += slot.len;
  return absl::OkStatus();
}

absl::Status Bvecq::Append(PageRef page, uint32_t offset, uint32_t len) {
  if (!page || uint64_t{offset} + len > kPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("Bvecq::Append: [", offset, ", +", len, ") is not within one page"));
  }
  Bvec* slot = AddSlot();
  Page* p = page.release();
  slot->data = p->data() + offset;
  slot->page = p;
  slot->len = len;
  slot->lkey = p->lkey();
  size_ += len;
  return absl::OkStatus();
}

absl::Status Bvecq::Append(Fragment fragment) {
  if (!fragment.page) return absl::InvalidArgumentError("Bvecq::Append: empty fragment");
  const uint32_t offset = static_cast<uint32_t>(fragment.data - fragment.page.data());
  return Append(std::move(fragment.page), offset, fragment.len);
}

absl::Status Bvecq::AppendExternal(void* data, size_t len, uint32_t lkey) {
  if (data == nullptr && len != 0) {
    return absl::InvalidArgumentError("Bvecq::AppendExternal: null data");
  }
  // A slot's length is 32 bits; larger caller buffers take several slots.
  uint8_t* p = static_cast<uint8_t*>(data);
  constexpr size_t kMaxSlot = size_t{1} << 31;
  do {
    const size_t n = std::min(len, kMaxSlot);
    Bvec* slot = AddSlot();
    slot->data = p;
    slot->page = nullptr;
    slot->len = static_cast<uint32_t>(n);
    slot->lkey = lkey;
    size_ += n;
    p += n;
    len -= n;
  } while (len > 0);
  return absl::OkStatus();
}

void Bvecq::Splice(Bvecq&& other) {
  if (other.head_ == nullptr) return;
  if (tail_ == nullptr) {
    *this = std::move(other);
    return;
  }
  tail_->next = other.head_;
  tail_ = other.tail_;
  size_ += other.size_;
  slot_count_ += other.slot_count_;
  other.head_ = other.tail_ = nullptr;
  other.size_ = 0;
  other.slot_count_ = 0;
  other.reserved_head_ = 0;
}

absl::StatusOr<Bvecq> Bvecq::Slice(uint64_t offset, uint64_t len) const {
  absl::StatusOr<BvecqIter> it = Range(offset, len);
  if (!it.ok()) return it.status();
  Bvecq out;
  while (it->remaining() > 0) {
    const Bvec& slot = it->node_->slots[it->slot_];
    const uint32_t n =
        static_cast<uint32_t>(std::min<uint64_t>(slot.len - it->offset_, it->remaining()));
    Bvec* dst = out.AddSlot();
    *dst = slot;
    dst->data = slot.data + it->offset_;
    dst->len = n;
    if (slot.page != nullptr) slot.page->Get();
    out.size_ += n;
    absl::Status s = it->Advance(n);
    (void)s;  // cannot fail: n <= remaining
  }
  return out;
}

BvecqIter Bvecq::begin() const {
  BvecqIter it;
  it.node_ = head_;
  it.remaining_ = size_;
  it.Normalize();
  return it;
}

absl::StatusOr<BvecqIter> Bvecq::Range(uint64_t offset, uint64_t len) const {
  if (offset > size_ || len > size_ - offset) {
    return absl::OutOfRangeError(absl::StrCat("Bvecq range [", offset, ", +", len,
                                              ") is past the end (", size_, " bytes)"));
  }
  BvecqIter it = begin();
  absl::Status s = it.Advance(offset);
  if (!s.ok()) return s;
  it.remaining_ = len;
  return it;
}

void BvecqIter::Normalize() {
  // Skip finished and empty slots so that the position always names a byte (or the end).
  while (node_ != nullptr) {
    if (slot_ < node_->used) {
      if (offset_ < node_->slots[slot_].len) return;
      ++slot_;
      offset_ = 0;
    } else {
      node_ = node_->next;
      slot_ = 0;
      offset_ = 0;
    }
  }
}

absl::Span<uint8_t> BvecqIter::Peek() const {
  if (remaining_ == 0 || node_ == nullptr) return {};
  const Bvec& slot = node_->slots[slot_];
  const uint64_t n = std::min<uint64_t>(slot.len - offset_, remaining_);
  return absl::Span<uint8_t>(slot.data + offset_, n);
}

absl::Status BvecqIter::Advance(uint64_t n) {
  if (n > remaining_) {
    return absl::OutOfRangeError(
        absl::StrCat("advance by ", n, " with ", remaining_, " bytes left"));
  }
  remaining_ -= n;
  while (n > 0) {
    const Bvec& slot = node_->slots[slot_];
    const uint64_t step = std::min<uint64_t>(slot.len - offset_, n);
    offset_ += static_cast<uint32_t>(step);
    n -= step;
    Normalize();
  }
  Normalize();
  return absl::OkStatus();
}

size_t BvecqIter::CopyOut(absl::Span<uint8_t> dst) {
  size_t done = 0;
  while (done < dst.size() && remaining_ > 0) {
    absl::Span<uint8_t> piece = Peek();
    const size_t n = std::min(piece.size(), dst.size() - done);
    std::memcpy(dst.data() + done, piece.data(), n);
    done += n;
    (void)Advance(n);
  }
  return done;
}

size_t BvecqIter::CopyIn(absl::Span<const uint8_t> src) {
  size_t done = 0;
  while (done < src.size() && remaining_ > 0) {
    absl::Span<uint8_t> piece = Peek();
    const size_t n = std::min(piece.size(), src.size() - done);
    std::memcpy(piece.data(), src.data() + done, n);
    done += n;
    (void)Advance(n);
  }
  return done;
}

template <typename Entry, typename Emit>
GatherResult BvecqIter::Gather(Entry* out, int max_entries, uint64_t max_bytes, Emit emit) {
  GatherResult result;
  uint8_t* run_start = nullptr;
  uint64_t run_len = 0;
  uint32_t run_key = 0;
  while (remaining_ > 0 && result.bytes < max_bytes) {
    const Bvec& slot = node_->slots[slot_];
    const uint64_t n =
        std::min<uint64_t>({slot.len - offset_, remaining_, max_bytes - result.bytes});
    uint8_t* p = slot.data + offset_;
    // Merge with the current run when adjacent in memory and (for SGEs) of the same key. An
    // SGE's length is 32 bits; keep runs below that.
    if (run_len > 0 && run_start + run_len == p && run_key == slot.lkey &&
        run_len + n <= UINT32_MAX) {
      run_len += n;
    } else {
      if (run_len > 0) {
        emit(&out[result.entries++], run_start, run_len, run_key);
        run_len = 0;
      }
      if (result.entries == max_entries) break;
      run_start = p;
      run_len = n;
      run_key = slot.lkey;
    }
    result.bytes += n;
    (void)Advance(n);
  }
  if (run_len > 0) emit(&out[result.entries++], run_start, run_len, run_key);
  return result;
}

GatherResult BvecqIter::GatherIovec(iovec* out, int max_entries, uint64_t max_bytes) {
  if (max_entries <= 0) return {};
  return Gather(out, max_entries, max_bytes,
                [](iovec* e, uint8_t* p, uint64_t len, uint32_t) {
                  e->iov_base = p;
                  e->iov_len = len;
                });
}

GatherResult BvecqIter::GatherSge(Sge* out, int max_entries, uint64_t max_bytes) {
  if (max_entries <= 0) return {};
  return Gather(out, max_entries, max_bytes, [](Sge* e, uint8_t* p, uint64_t len, uint32_t key) {
    e->addr = reinterpret_cast<uintptr_t>(p);
    e->length = static_cast<uint32_t>(len);
    e->lkey = key;
  });
}

}  // namespace smbd
