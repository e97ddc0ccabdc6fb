#include "smbdirect/send_planner.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace smbd {

DataTransferHeader PlannedMessage::Header(const SmbDirectSendTicket& ticket) const {
  return MakeDataTransferHeader(ticket.credits_requested, ticket.credits_granted, ticket.flags,
                                remaining_data_length, data_length);
}

absl::StatusOr<SendPlanner> SendPlanner::Create(const Bvecq& frame,
                                                const SendPlanLimits& limits) {
  if (frame.empty()) return absl::InvalidArgumentError("send planner: empty frame");
  if (limits.max_send_size <= kDataTransferDataOffset) {
    return absl::InvalidArgumentError(
        absl::StrCat("send planner: max_send_size ", limits.max_send_size,
                     " leaves no room after the ", kDataTransferDataOffset, "-byte header"));
  }
  if (limits.max_send_sge < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("send planner: max_send_sge ", limits.max_send_sge,
                     " (need one SGE for the header and at least one for the payload)"));
  }
  if (frame.size() > limits.max_fragmented_send_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("send planner: frame of ", frame.size(),
                     " bytes exceeds the peer's MaxFragmentedSize ",
                     limits.max_fragmented_send_size));
  }
  SendPlanner p;
  p.it_ = frame.begin();
  p.frame_size_ = frame.size();
  p.max_payload_sges_ = limits.max_send_sge - 1;
  p.max_payload_bytes_ =
      limits.max_send_size - static_cast<uint32_t>(kDataTransferDataOffset);
  return p;
}

absl::StatusOr<PlannedMessage> SendPlanner::Next(absl::Span<Sge> payload) {
  if (done()) return absl::FailedPreconditionError("send planner: frame already planned");
  if (payload.empty()) return absl::InvalidArgumentError("send planner: no room for SGEs");
  const int max_entries =
      static_cast<int>(std::min<size_t>(payload.size(), static_cast<size_t>(max_payload_sges_)));
  const GatherResult g = it_.GatherSge(payload.data(), max_entries, max_payload_bytes_);
  PlannedMessage m;
  // g.bytes <= max_payload_bytes_ (32-bit); the rest fits since the frame is at most
  // MaxFragmentedSize (32-bit).
  m.data_length = static_cast<uint32_t>(g.bytes);
  m.remaining_data_length = static_cast<uint32_t>(it_.remaining());
  m.sge_count = g.entries;
  return m;
}

absl::StatusOr<size_t> WritePlannedHeader(const PlannedMessage& m,
                                          const SmbDirectSendTicket& ticket,
                                          absl::Span<uint8_t> header_mem) {
  return EncodeDataTransferHeader(m.Header(ticket), header_mem);
}

}  // namespace smbd
