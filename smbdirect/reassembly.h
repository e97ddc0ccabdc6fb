// [MS-SMBD] 3.1.5.8 reassembly of fragmented upper-layer messages, without I/O.
//
// Each data transfer message carries DataLength bytes and says how many bytes of the same
// upper-layer message are still to come (RemainingDataLength); 0 ends the message. The payload
// is not copied: the fragment's bytes are sliced out of the receive buffer (a Bvecq over pool
// pages), the slice holding its own page references, and spliced onto the message being built.
// The receive buffer itself can then be dropped (or its page reposted once the references are
// gone). A complete message is one Bvecq holding exactly the SMB2 message.
//
// Checks (each DataLoss naming the field; the first error is sticky):
//  - the fragment lies inside the received bytes (DataOffset/DataLength, 64-bit arithmetic);
//  - the first fragment's DataLength + RemainingDataLength <= MaxFragmentedSize (ours);
//  - every later fragment satisfies RemainingDataLength == previous RemainingDataLength -
//    DataLength: a fragment that overruns, shrinks too little, or is really the start of a new
//    message while bytes of the previous one are still expected is rejected.
// A message with DataLength 0 (credits or keepalive only) carries no data and is skipped
// wherever it arrives, even between fragments; its RemainingDataLength is not interpreted.
#ifndef SMBD_SMBDIRECT_REASSEMBLY_H_
#define SMBD_SMBDIRECT_REASSEMBLY_H_

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buffers/bvecq.h"
#include "smbdirect/smbdirect_wire.h"

namespace smbd {

class Reassembler {
 public:
  // `max_fragmented_size`: our MaxFragmentedSize from the negotiate request.
  explicit Reassembler(uint32_t max_fragmented_size);
  Reassembler(const Reassembler&) = delete;
  Reassembler& operator=(const Reassembler&) = delete;

  // Adds the payload of one received message: `h` is its decoded header, `received` the bytes
  // the receive completed with (DataOffset counts from its start). Returns the complete upper-
  // layer message when `h` ends one, std::nullopt while one is still partial (or for a message
  // without data).
  absl::StatusOr<std::optional<Bvecq>> Add(const DataTransferHeader& h, const Bvecq& received);

  // True while a message is partly received.
  bool in_progress() const { return in_progress_; }
  // Bytes of the partial message received so far, and bytes still expected.
  uint64_t partial_bytes() const { return partial_.size(); }
  uint32_t expected_remaining() const { return expected_remaining_; }
  uint64_t messages_delivered() const { return delivered_; }
  absl::Status status() const { return error_; }

 private:
  absl::Status Fail(absl::Status s);

  const uint32_t max_fragmented_size_;
  Bvecq partial_;
  bool in_progress_ = false;
  uint32_t expected_remaining_ = 0;
  uint64_t delivered_ = 0;
  absl::Status error_;
};

}  // namespace smbd

#endif  // SMBD_SMBDIRECT_REASSEMBLY_H_
