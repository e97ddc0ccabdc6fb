#include "smbdirect/reassembly.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace smbd {

Reassembler::Reassembler(uint32_t max_fragmented_size)
    : max_fragmented_size_(max_fragmented_size) {}

absl::Status Reassembler::Fail(absl::Status s) {
  error_ = s;
  partial_.Clear();
  in_progress_ = false;
  return s;
}

absl::StatusOr<std::optional<Bvecq>> Reassembler::Add(const DataTransferHeader& h,
                                                      const Bvecq& received) {
  if (!error_.ok()) return error_;
  const uint64_t offset = h.data_offset;
  const uint64_t length = h.data_length;
  if (length == 0) return std::optional<Bvecq>();  // credits / keepalive only

  if (offset > received.size() || length > received.size() - offset) {
    return Fail(absl::DataLossError(absl::StrCat(
        "[MS-SMBD] reassembly: DataOffset ", offset, " + DataLength ", length, " is past the ",
        received.size(), " bytes received")));
  }
  const uint64_t remaining = h.remaining_data_length;
  if (!in_progress_) {
    if (length + remaining > max_fragmented_size_) {
      return Fail(absl::DataLossError(absl::StrCat(
          "[MS-SMBD] reassembly: message of ", length + remaining,
          " bytes (DataLength ", length, " + RemainingDataLength ", remaining,
          ") exceeds MaxFragmentedSize ", max_fragmented_size_)));
    }
  } else {
    const uint64_t expected = expected_remaining_;
    if (length > expected || remaining != expected - length) {
      return Fail(absl::DataLossError(absl::StrCat(
          "[MS-SMBD] reassembly: RemainingDataLength ", remaining, " with DataLength ", length,
          " after ", partial_.size(), " bytes of a message with ", expected,
          " bytes still expected (want RemainingDataLength ",
          length > expected ? std::string("<overrun>") : absl::StrCat(expected - length),
          "; a new message cannot start before the previous one ends)")));
    }
  }

  absl::StatusOr<Bvecq> slice = received.Slice(offset, length);
  if (!slice.ok()) return Fail(absl::DataLossError(slice.status().message()));
  partial_.Splice(std::move(*slice));

  if (remaining == 0) {
    in_progress_ = false;
    expected_remaining_ = 0;
    ++delivered_;
    Bvecq done = std::move(partial_);
    partial_ = Bvecq();
    return std::optional<Bvecq>(std::move(done));
  }
  in_progress_ = true;
  expected_remaining_ = static_cast<uint32_t>(remaining);
  return std::optional<Bvecq>();
}

}  // namespace smbd
