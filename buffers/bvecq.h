// Bvecq: the seed's segmented buffer queue. A message is a chain of {data, length} slots held in
// fixed-size nodes; slots point into pool pages (holding a reference each) or into memory the
// caller owns (a READ's destination, a WRITE's source). Compound members encoded on their own
// are spliced together without copying (smb2/compound.h JoinCompound); the whole chain is then
// gathered into one sendmsg() iovec array or into RDMA scatter-gather entries.
//
// Nodes come from a process-wide cache that grows in batches and never shrinks, so building and
// dropping messages in steady state does no heap allocation (BvecqNodeCacheStats shows it).
#ifndef SMBD_BUFFERS_BVECQ_H_
#define SMBD_BUFFERS_BVECQ_H_

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "buffers/page_pool.h"

namespace smbd {

// One slot. `page` is null for caller-owned memory, which the queue does not reference-count.
struct Bvec {
  uint8_t* data = nullptr;
  Page* page = nullptr;
  uint32_t len = 0;
  uint32_t lkey = 0;
};

// A scatter-gather entry with the layout of struct ibv_sge, without depending on verbs.
struct Sge {
  uint64_t addr = 0;
  uint32_t length = 0;
  uint32_t lkey = 0;
};

inline constexpr int kBvecqNodeSlots = 15;

struct BvecqNode {
  BvecqNode* next = nullptr;
  uint32_t used = 0;
  Bvec slots[kBvecqNodeSlots];
};

struct BvecqNodeCacheStats {
  uint64_t heap_nodes = 0;   // nodes ever allocated from the heap
  uint64_t nodes_in_use = 0;
};
BvecqNodeCacheStats GetBvecqNodeCacheStats();

class BvecqIter;

class Bvecq {
 public:
  Bvecq() = default;
  ~Bvecq() { Clear(); }
  Bvecq(Bvecq&& other) noexcept;
  Bvecq& operator=(Bvecq&& other) noexcept;
  Bvecq(const Bvecq&) = delete;
  Bvecq& operator=(const Bvecq&) = delete;

  // Reserves `n` (<= kBvecqNodeSlots) empty leading slots for headers filled in later. Only on
  // an empty queue. Empty slots are skipped by iterators. No transport uses it today: TCP's
  // length word goes into the sendmsg iovec array (or a lent frame's slot) and the sealer writes
  // the transform header at the start of its first output page.
  absl::Status ReserveHead(int n);
  int reserved_head() const { return reserved_head_; }
  // Fills reserved slot `i` with a fragment (the queue takes its reference) or replaces what was
  // there.
  absl::Status SetHead(int i, Fragment fragment);

  // Appends `len` bytes of `page` at `offset`; the queue takes the reference.
  absl::Status Append(PageRef page, uint32_t offset, uint32_t len);
  absl::Status Append(Fragment fragment);
  // Appends caller-owned memory; the caller keeps it alive and unchanged while queued.
  absl::Status AppendExternal(void* data, size_t len, uint32_t lkey = 0);
  // Moves all of `other`'s slots to the end of this queue without copying data.
  void Splice(Bvecq&& other);
  // A new queue over bytes [offset, offset+len) of this one, sharing the pages (references added).
  absl::StatusOr<Bvecq> Slice(uint64_t offset, uint64_t len) const;
  // Drops every slot and its page reference.
  void Clear();

  uint64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  uint32_t slot_count() const { return slot_count_; }

  BvecqIter begin() const;
  // Iterator over [offset, offset+len); OutOfRange if that is past the end.
  absl::StatusOr<BvecqIter> Range(uint64_t offset, uint64_t len) const;

 private:
  friend class BvecqIter;
  Bvec* AddSlot();

  BvecqNode* head_ = nullptr;
  BvecqNode* tail_ = nullptr;
  uint64_t size_ = 0;
  uint32_t slot_count_ = 0;
  int reserved_head_ = 0;
};

struct GatherResult {
  int entries = 0;
  uint64_t bytes = 0;
};

// A position in a Bvecq with a number of bytes left. Copying is cheap; iterators stay valid
// while the queue is not modified.
class BvecqIter {
 public:
  BvecqIter() = default;

  uint64_t remaining() const { return remaining_; }
  // Limits the bytes left to `n` (no-op if fewer remain).
  void Truncate(uint64_t n) {
    if (n < remaining_) remaining_ = n;
  }
  // The contiguous bytes at the current position (empty at the end).
  absl::Span<uint8_t> Peek() const;
  // Moves forward `n` bytes; OutOfRange (and no move) if fewer remain.
  absl::Status Advance(uint64_t n);
  // Copies up to `dst.size()` bytes out and advances; returns the count copied.
  size_t CopyOut(absl::Span<uint8_t> dst);
  // Copies `src` into the queue's memory at the current position and advances.
  size_t CopyIn(absl::Span<const uint8_t> src);
  // Gathers up to `max_entries` entries covering at most `max_bytes`, merging slots that are
  // adjacent in memory (and, for SGEs, share a key), and advances past what was gathered.
  GatherResult GatherIovec(iovec* out, int max_entries, uint64_t max_bytes);
  GatherResult GatherSge(Sge* out, int max_entries, uint64_t max_bytes);

 private:
  friend class Bvecq;
  void Normalize();
  template <typename Entry, typename Emit>
  GatherResult Gather(Entry* out, int max_entries, uint64_t max_bytes, Emit emit);

  const BvecqNode* node_ = nullptr;
  uint32_t slot_ = 0;
  uint32_t offset_ = 0;
  uint64_t remaining_ = 0;
};

}  // namespace smbd

#endif  // SMBD_BUFFERS_BVECQ_H_
