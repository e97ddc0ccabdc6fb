// Planning how one outgoing upper-layer message (an SMB2 frame in a Bvecq) is cut into
// [MS-SMBD] data transfer messages (the seed's smbd_post_send_iter, here without verbs).
//
// Every message posted is one send work request: SGE 0 is the 24-byte data transfer header
// ([MS-SMBD] 2.2.3, DataOffset 24), written by the transport into memory from its registered pool;
// the other SGEs point straight into the frame's pages (no copy of the payload). Limits:
//  - header + payload <= max_send_size (the negotiated Connection.MaxSendSize: the peer's
//    MaxReceiveSize bounded by our PreferredSendSize, [MS-SMBD] 3.1.5.7);
//  - 1 + payload SGEs <= the device's max_send_sge;
//  - the whole frame <= the peer's MaxFragmentedSize ([MS-SMBD] 3.1.5.8 on its side).
// Adjacent slots of the frame that share a key merge into one SGE (BvecqIter::GatherSge), so a
// message may carry less than the size limit when the SGE limit is reached first.
// RemainingDataLength of each message is the frame bytes after it (0 on the last one).
//
// Credits are not decided here: the transport takes a SmbDirectSendTicket per message
// (SmbDirectCreditGate) and writes the header with WritePlannedHeader.
#ifndef SMBD_SMBDIRECT_SEND_PLANNER_H_
#define SMBD_SMBDIRECT_SEND_PLANNER_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "buffers/bvecq.h"
#include "smbdirect/smbdirect_credits.h"
#include "smbdirect/smbdirect_wire.h"

namespace smbd {

struct SendPlanLimits {
  uint32_t max_send_size = 0;             // NegotiatedParams::max_send_size (> 24)
  int max_send_sge = 0;                   // device limit, header SGE included (>= 2)
  uint32_t max_fragmented_send_size = 0;  // NegotiatedParams::max_fragmented_send_size
};

// One data transfer message of a plan: its payload is the `sge_count` SGEs Next() wrote.
struct PlannedMessage {
  uint32_t data_length = 0;
  uint32_t remaining_data_length = 0;
  int sge_count = 0;

  // The full header for this message with the credit fields of `ticket`.
  DataTransferHeader Header(const SmbDirectSendTicket& ticket) const;
};

class SendPlanner {
 public:
  // Plans `frame`, which must stay alive and unchanged until the plan is done. InvalidArgument
  // for an empty frame, a frame above max_fragmented_send_size, max_send_size <= 24, or
  // max_send_sge < 2 (the payload is never copied, so it needs an SGE of its own).
  static absl::StatusOr<SendPlanner> Create(const Bvecq& frame, const SendPlanLimits& limits);

  bool done() const { return it_.remaining() == 0; }
  // SGEs one message may use for payload (max_send_sge - 1), and payload bytes per message.
  int max_payload_sges() const { return max_payload_sges_; }
  uint32_t max_payload_bytes() const { return max_payload_bytes_; }
  uint64_t frame_size() const { return frame_size_; }
  uint64_t bytes_planned() const { return frame_size_ - it_.remaining(); }

  // Plans the next message, writing its payload SGEs into `payload` (at most
  // min(payload.size(), max_payload_sges()) of them). FailedPrecondition when done, or
  // InvalidArgument when `payload` is empty.
  absl::StatusOr<PlannedMessage> Next(absl::Span<Sge> payload);

 private:
  SendPlanner() = default;

  BvecqIter it_;
  uint64_t frame_size_ = 0;
  int max_payload_sges_ = 0;
  uint32_t max_payload_bytes_ = 0;
};

// Writes the header of `m` (24 bytes, DataOffset 24) with `ticket`'s credit fields into
// `header_mem`; returns the bytes written, which the header SGE covers.
absl::StatusOr<size_t> WritePlannedHeader(const PlannedMessage& m,
                                          const SmbDirectSendTicket& ticket,
                                          absl::Span<uint8_t> header_mem);

}  // namespace smbd

#endif  // SMBD_SMBDIRECT_SEND_PLANNER_H_
