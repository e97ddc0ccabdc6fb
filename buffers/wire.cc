#include "buffers/wire.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace smbd {

WireWriter::WireWriter(absl::Span<uint8_t> out)
    : start_(out.data()), cur_(out.data()), end_(out.data() + out.size()) {}

WireWriter::WireWriter(Bvecq* queue, PagePool* pool, FragAllocator* frags)
    : queue_(queue), pool_(pool), frags_(frags), queue_base_(queue->size()) {}

WireWriter::~WireWriter() = default;

bool WireWriter::NextPage() {
  FlushPage();
  if (frags_ != nullptr) {
    // A piece too small to be worth a slot is not taken: the page's rest must hold a typical
    // request (header and body) whole.
    constexpr size_t kMinPiece = 512;
    absl::StatusOr<Fragment> f = frags_->AllocRest(kMinPiece);
    if (!f.ok()) {
      status_ = f.status();
      return false;
    }
    page_ = std::move(f->page);
    piece_ = cur_ = f->data;
    end_ = f->data + f->len;
    return true;
  }
  absl::StatusOr<PageRef> page = pool_->TryAlloc();
  if (!page.ok()) {
    status_ = page.status();
    return false;
  }
  page_ = *std::move(page);
  piece_ = cur_ = page_.data();
  end_ = cur_ + kPageSize;
  return true;
}

void WireWriter::FlushPage() {
  if (!page_) return;
  const uint32_t used = static_cast<uint32_t>(cur_ - piece_);
  const uint32_t offset = static_cast<uint32_t>(piece_ - page_.data());
  if (frags_ != nullptr) {
    Fragment piece;
    piece.page = page_;
    piece.data = piece_;
    piece.len = static_cast<uint32_t>(end_ - piece_);
    frags_->Trim(piece, (used + 7) & ~7u);  // the next piece stays 8-byte aligned
  }
  if (used > 0) {
    absl::Status s = queue_->Append(std::move(page_), offset, used);
    if (!s.ok() && status_.ok()) status_ = s;
  }
  page_.reset();
  piece_ = cur_ = end_ = nullptr;
}

void WireWriter::PutSlow(const uint8_t* p, size_t n) {
  if (!status_.ok()) return;
  if (queue_ == nullptr) {
    status_ = absl::ResourceExhaustedError(
        absl::StrCat("WireWriter: writing ", n, " bytes at ", position_, " overflows a ",
                     end_ - start_, "-byte buffer"));
    cur_ = end_;  // later writes take the slow path and stay failed
    return;
  }
  while (n > 0) {
    if (cur_ == end_ && !NextPage()) return;
    const size_t step = std::min<size_t>(n, end_ - cur_);
    std::memcpy(cur_, p, step);
    cur_ += step;
    p += step;
    n -= step;
    position_ += step;
  }
}

void WireWriter::Zeros(size_t n) {
  static constexpr uint8_t kZeros[64] = {};
  while (n > 0) {
    const size_t step = std::min(n, sizeof(kZeros));
    Put(kZeros, step);
    n -= step;
  }
}

void WireWriter::AppendQueue(Bvecq&& queue) {
  if (!status_.ok()) return;
  if (queue_ == nullptr) {
    status_ = absl::FailedPreconditionError("WireWriter::AppendQueue needs a queue-mode writer");
    return;
  }
  FlushPage();
  position_ += queue.size();
  queue_->Splice(std::move(queue));
}

void WireWriter::Align(size_t alignment) {
  const size_t pad = (alignment - (position_ & (alignment - 1))) & (alignment - 1);
  Zeros(pad);
}

void WireWriter::BytesAt(size_t position, absl::Span<const uint8_t> bytes) {
  if (!status_.ok()) return;
  if (position > position_ || bytes.size() > position_ - position) {
    status_ = absl::OutOfRangeError(absl::StrCat("WireWriter: patch of ", bytes.size(),
                                                 " bytes at ", position, " is past ", position_));
    return;
  }
  if (queue_ == nullptr) {
    std::memcpy(start_ + position, bytes.data(), bytes.size());
    return;
  }
  // Queue mode: the bytes are either in the queue already or in the current page.
  const uint64_t in_queue = queue_->size() - queue_base_;
  size_t done = 0;
  if (position < in_queue) {
    const uint64_t n = std::min<uint64_t>(bytes.size(), in_queue - position);
    absl::StatusOr<BvecqIter> it = queue_->Range(queue_base_ + position, n);
    if (!it.ok()) {
      status_ = it.status();
      return;
    }
    it->CopyIn(bytes.subspan(0, n));
    done = n;
  }
  if (done < bytes.size()) {
    const uint64_t page_off = position + done - in_queue;
    std::memcpy(piece_ + page_off, bytes.data() + done, bytes.size() - done);
  }
}

absl::Status WireWriter::Finish() {
  if (queue_ != nullptr) FlushPage();
  return status_;
}

WireReader::WireReader(absl::Span<const uint8_t> in)
    : cur_(in.data()), end_(in.data() + in.size()), size_(in.size()), base_(in.data()) {}

WireReader::WireReader(const BvecqIter& it)
    : size_(it.remaining()), queue_mode_(true), start_(it), rest_(it) {
  NextChunk();
}

void WireReader::NextChunk() {
  absl::Span<uint8_t> piece = rest_.Peek();
  cur_ = piece.data();
  end_ = piece.data() + piece.size();
  (void)rest_.Advance(piece.size());
}

bool WireReader::GetSlow(uint8_t* out, size_t n) {
  if (n > remaining()) return false;
  if (!queue_mode_) return false;  // unreachable: span mode is contiguous
  while (n > 0) {
    if (cur_ == end_) NextChunk();
    const size_t step = std::min<size_t>(n, end_ - cur_);
    if (out != nullptr) {
      std::memcpy(out, cur_, step);
      out += step;
    }
    cur_ += step;
    n -= step;
    position_ += step;
  }
  return true;
}

bool WireReader::Skip(uint64_t n) {
  if (n > remaining()) return false;
  if (end_ - cur_ >= static_cast<ptrdiff_t>(n)) {
    cur_ += n;
    position_ += n;
    return true;
  }
  return GetSlow(nullptr, n);
}

bool WireReader::Contiguous(uint64_t n, absl::Span<const uint8_t>* out) {
  if (cur_ == end_ && queue_mode_ && remaining() > 0) NextChunk();
  if (static_cast<uint64_t>(end_ - cur_) < n) return false;
  *out = absl::Span<const uint8_t>(cur_, n);
  cur_ += n;
  position_ += n;
  return true;
}

absl::StatusOr<WireReader> WireReader::Sub(uint64_t offset, uint64_t length) const {
  // 64-bit arithmetic: offset and length come from the peer.
  if (offset > size_ || length > size_ - offset) {
    return absl::DataLossError(absl::StrCat("field names bytes [", offset, ", +", length,
                                            ") outside a ", size_, "-byte message"));
  }
  if (!queue_mode_) return WireReader(absl::Span<const uint8_t>(base_ + offset, length));
  BvecqIter it = start_;
  absl::Status s = it.Advance(offset);
  if (!s.ok()) return absl::DataLossError(s.message());
  WireReader sub;
  sub.queue_mode_ = true;
  sub.size_ = length;
  sub.start_ = it;
  sub.start_.Truncate(length);
  sub.rest_ = sub.start_;
  sub.NextChunk();
  return sub;
}

absl::Status WireReader::Error(absl::string_view what) const {
  return absl::DataLossError(absl::StrCat(what, ": truncated or malformed at byte ", position_,
                                          " of ", size_));
}

}  // namespace smbd
