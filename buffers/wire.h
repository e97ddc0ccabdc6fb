// Little-endian wire codecs with bounds checks: every SMB2 and [MS-SMBD] field is read and
// written through these, never by casting packet bytes to structs (no packed structs, no
// bitfields, no reinterpret_cast over peer data).
//
// WireWriter writes into a span or appends to a Bvecq (taking pool pages as it grows). Overflow
// is sticky: later writes do nothing and Finish() reports it.
// WireReader reads from a span or from a Bvecq range, across page boundaries. Every read returns
// a [[nodiscard]] bool; reading past the end is an error value, never undefined behaviour.
#ifndef SMBD_BUFFERS_WIRE_H_
#define SMBD_BUFFERS_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/base/config.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "buffers/bvecq.h"
#include "buffers/page_pool.h"

namespace smbd {

// Endian helpers (memcpy + byte swap where the host differs, as absl's endian.h does).
template <typename T>
inline T LoadLE(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
#ifdef ABSL_IS_BIG_ENDIAN
  if constexpr (sizeof(T) == 2) v = __builtin_bswap16(v);
  if constexpr (sizeof(T) == 4) v = __builtin_bswap32(v);
  if constexpr (sizeof(T) == 8) v = __builtin_bswap64(v);
#endif
  return v;
}

template <typename T>
inline void StoreLE(uint8_t* p, T v) {
#ifdef ABSL_IS_BIG_ENDIAN
  if constexpr (sizeof(T) == 2) v = __builtin_bswap16(v);
  if constexpr (sizeof(T) == 4) v = __builtin_bswap32(v);
  if constexpr (sizeof(T) == 8) v = __builtin_bswap64(v);
#endif
  std::memcpy(p, &v, sizeof(T));
}

inline uint32_t LoadBE32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline void StoreBE32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

class WireWriter {
 public:
  // Writes into `out`; overflow past its end is an error.
  explicit WireWriter(absl::Span<uint8_t> out);
  // Appends to `queue`, taking pages from `pool` as needed (each filled page becomes a slot).
  // With `frags`, the first piece is the rest of that allocator's current page (request
  // headers pack many to a page) and the unused tail goes back to it at Finish().
  WireWriter(Bvecq* queue, PagePool* pool, FragAllocator* frags = nullptr);
  ~WireWriter();
  WireWriter(const WireWriter&) = delete;
  WireWriter& operator=(const WireWriter&) = delete;

  void U8(uint8_t v) { Put(&v, 1); }
  void U16(uint16_t v) { PutLE(v); }
  void U32(uint32_t v) { PutLE(v); }
  void U64(uint64_t v) { PutLE(v); }
  void Bytes(absl::Span<const uint8_t> bytes) { Put(bytes.data(), bytes.size()); }
  void Bytes(absl::string_view bytes) {
    Put(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  void Zeros(size_t n);
  // Queue mode: moves `queue`'s slots (e.g. a WRITE payload) to the end, without copying.
  void AppendQueue(Bvecq&& queue);
  // Pads with zeros to a multiple of `alignment` (a power of two), counted from the start.
  void Align(size_t alignment);

  // Overwrites bytes written earlier (for lengths and offsets known only later).
  void U16At(size_t position, uint16_t v) { PatchLE(position, v); }
  void U32At(size_t position, uint32_t v) { PatchLE(position, v); }
  void U64At(size_t position, uint64_t v) { PatchLE(position, v); }
  void BytesAt(size_t position, absl::Span<const uint8_t> bytes);

  // Bytes written so far.
  size_t position() const { return position_; }
  bool ok() const { return status_.ok(); }
  // In queue mode, appends the partly filled last page to the queue. Returns the first error.
  [[nodiscard]] absl::Status Finish();
  // Span mode: the bytes written.
  absl::Span<uint8_t> written() const { return absl::Span<uint8_t>(start_, position_); }

 private:
  template <typename T>
  void PutLE(T v) {
    if (end_ - cur_ >= static_cast<ptrdiff_t>(sizeof(T))) {
      StoreLE<T>(cur_, v);
      cur_ += sizeof(T);
      position_ += sizeof(T);
      return;
    }
    uint8_t tmp[sizeof(T)];
    StoreLE<T>(tmp, v);
    PutSlow(tmp, sizeof(T));
  }
  template <typename T>
  void PatchLE(size_t position, T v) {
    uint8_t tmp[sizeof(T)];
    StoreLE<T>(tmp, v);
    BytesAt(position, absl::Span<const uint8_t>(tmp, sizeof(T)));
  }
  void Put(const uint8_t* p, size_t n) {
    if (end_ - cur_ >= static_cast<ptrdiff_t>(n)) {
      if (n != 0) std::memcpy(cur_, p, n);
      cur_ += n;
      position_ += n;
      return;
    }
    PutSlow(p, n);
  }
  void PutSlow(const uint8_t* p, size_t n);
  bool NextPage();
  void FlushPage();

  uint8_t* start_ = nullptr;  // span mode: start of the span
  uint8_t* cur_ = nullptr;
  uint8_t* end_ = nullptr;
  size_t position_ = 0;
  absl::Status status_;
  // Queue mode.
  Bvecq* queue_ = nullptr;
  PagePool* pool_ = nullptr;
  FragAllocator* frags_ = nullptr;
  PageRef page_;
  uint8_t* piece_ = nullptr;  // where this writer's part of page_ starts
  uint64_t queue_base_ = 0;  // queue size when the writer started
};

class WireReader {
 public:
  // Reads `in`.
  explicit WireReader(absl::Span<const uint8_t> in);
  // Reads the bytes an iterator covers (e.g. Bvecq::Range), across slots and nodes.
  explicit WireReader(const BvecqIter& it);

  [[nodiscard]] bool U8(uint8_t* v) { return Get(v, 1); }
  [[nodiscard]] bool U16(uint16_t* v) { return GetLE(v); }
  [[nodiscard]] bool U32(uint32_t* v) { return GetLE(v); }
  [[nodiscard]] bool U64(uint64_t* v) { return GetLE(v); }
  [[nodiscard]] bool Bytes(absl::Span<uint8_t> out) { return Get(out.data(), out.size()); }
  [[nodiscard]] bool Skip(uint64_t n);

  // A reader over [offset, offset+length) counted from this reader's start, e.g. a buffer named
  // by an offset and length field. Fails (DataLoss) if that range is not inside this reader.
  [[nodiscard]] absl::StatusOr<WireReader> Sub(uint64_t offset, uint64_t length) const;
  // Contiguous view of the next `n` bytes when they are contiguous (span mode always is).
  [[nodiscard]] bool Contiguous(uint64_t n, absl::Span<const uint8_t>* out);

  uint64_t position() const { return position_; }
  uint64_t size() const { return size_; }
  uint64_t remaining() const { return size_ - position_; }

  // A DataLoss error naming `what` and where reading stopped.
  absl::Status Error(absl::string_view what) const;

 private:
  WireReader() = default;
  template <typename T>
  bool GetLE(T* v) {
    if (end_ - cur_ >= static_cast<ptrdiff_t>(sizeof(T))) {
      *v = LoadLE<T>(cur_);
      cur_ += sizeof(T);
      position_ += sizeof(T);
      return true;
    }
    uint8_t tmp[sizeof(T)];
    if (!GetSlow(tmp, sizeof(T))) return false;
    *v = LoadLE<T>(tmp);
    return true;
  }
  bool Get(void* out, size_t n) {
    if (end_ - cur_ >= static_cast<ptrdiff_t>(n)) {
      if (n != 0) std::memcpy(out, cur_, n);
      cur_ += n;
      position_ += n;
      return true;
    }
    return GetSlow(static_cast<uint8_t*>(out), n);
  }
  bool GetSlow(uint8_t* out, size_t n);
  void NextChunk();

  const uint8_t* cur_ = nullptr;
  const uint8_t* end_ = nullptr;
  uint64_t position_ = 0;
  uint64_t size_ = 0;
  // Span mode: the whole span. Queue mode: iterators at the start and past the current chunk.
  const uint8_t* base_ = nullptr;
  bool queue_mode_ = false;
  BvecqIter start_;
  BvecqIter rest_;
};

}  // namespace smbd

#endif  // SMBD_BUFFERS_WIRE_H_
