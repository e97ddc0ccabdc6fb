#include "smbdirect/smbdirect_wire.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"

namespace smbd {
namespace {

absl::Status Bad(absl::string_view what, absl::string_view field, uint64_t value,
                 absl::string_view why) {
  return absl::DataLossError(
      absl::StrCat("[MS-SMBD] ", what, ": ", field, " = ", value, " ", why));
}

// Shared tail of the two DecodeDataTransfer overloads: `r` covers exactly the received bytes.
absl::StatusOr<DataTransferHeader> DecodeDataTransferFrom(WireReader r,
                                                          uint32_t max_fragmented_size) {
  constexpr absl::string_view kWhat = "data transfer message";
  const uint64_t received = r.size();
  if (received < kDataTransferMinSize) {
    return Bad(kWhat, "received length", received,
               absl::StrCat("is shorter than the ", kDataTransferMinSize, "-byte header"));
  }
  DataTransferHeader h;
  uint16_t reserved;
  if (!r.U16(&h.credits_requested) || !r.U16(&h.credits_granted) || !r.U16(&h.flags) ||
      !r.U16(&reserved) || !r.U32(&h.remaining_data_length) || !r.U32(&h.data_offset) ||
      !r.U32(&h.data_length)) {
    return r.Error(kWhat);
  }
  if (h.credits_requested == 0) {
    return Bad(kWhat, "CreditsRequested", 0, "must be at least 1 (3.1.5.8)");
  }
  const uint64_t offset = h.data_offset;
  const uint64_t length = h.data_length;
  if (offset % 8 != 0) {
    return Bad(kWhat, "DataOffset", offset, "is not 8-byte aligned (3.1.5.8)");
  }
  if (length > 0 && offset < kDataTransferDataOffset) {
    return Bad(kWhat, "DataOffset", offset,
               absl::StrCat("overlaps the header (data must start at ", kDataTransferDataOffset,
                            " or later)"));
  }
  if (offset > received || length > received - offset) {
    return Bad(kWhat, "DataOffset+DataLength", offset + length,
               absl::StrCat("is past the ", received, " bytes received (DataOffset ", offset,
                            ", DataLength ", length, ")"));
  }
  const uint64_t total = length + uint64_t{h.remaining_data_length};
  if (total > max_fragmented_size) {
    return Bad(kWhat, "DataLength+RemainingDataLength", total,
               absl::StrCat("exceeds MaxFragmentedSize ", max_fragmented_size, " (3.1.5.8)"));
  }
  return h;
}

}  // namespace

DataTransferHeader MakeDataTransferHeader(uint16_t credits_requested, uint16_t credits_granted,
                                          uint16_t flags, uint32_t remaining_data_length,
                                          uint32_t data_length) {
  DataTransferHeader h;
  h.credits_requested = credits_requested;
  h.credits_granted = credits_granted;
  h.flags = flags;
  h.remaining_data_length = remaining_data_length;
  h.data_length = data_length;
  h.data_offset = data_length > 0 ? static_cast<uint32_t>(kDataTransferDataOffset) : 0;
  return h;
}

absl::Status EncodeSmbDirectNegotiateRequest(const SmbDirectNegotiateRequest& req, WireWriter* w) {
  if (req.min_version > kSmbDirectVersion1 || req.max_version < kSmbDirectVersion1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("negotiate request: version range [0x%04x, 0x%04x] excludes 0x0100",
                        req.min_version, req.max_version));
  }
  if (req.credits_requested == 0) {
    return absl::InvalidArgumentError("negotiate request: CreditsRequested must be > 0");
  }
  if (req.max_receive_size < kSmbDirectMinReceiveSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("negotiate request: MaxReceiveSize ", req.max_receive_size, " < 128"));
  }
  if (req.preferred_send_size < kSmbDirectMinReceiveSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "negotiate request: PreferredSendSize ", req.preferred_send_size, " < 128"));
  }
  if (req.max_fragmented_size < kSmbDirectMinFragmentedSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "negotiate request: MaxFragmentedSize ", req.max_fragmented_size, " < 131072"));
  }
  w->U16(req.min_version);
  w->U16(req.max_version);
  w->U16(0);  // Reserved
  w->U16(req.credits_requested);
  w->U32(req.preferred_send_size);
  w->U32(req.max_receive_size);
  w->U32(req.max_fragmented_size);
  return w->ok() ? absl::OkStatus() : w->Finish();
}

absl::StatusOr<SmbDirectNegotiateRequest> DecodeSmbDirectNegotiateRequest(
    absl::Span<const uint8_t> message) {
  constexpr absl::string_view kWhat = "negotiate request";
  if (message.size() < kNegotiateRequestSize) {
    return Bad(kWhat, "received length", message.size(), "is shorter than 20 bytes (3.1.5.6)");
  }
  WireReader r(message);
  SmbDirectNegotiateRequest req;
  uint16_t reserved;
  if (!r.U16(&req.min_version) || !r.U16(&req.max_version) || !r.U16(&reserved) ||
      !r.U16(&req.credits_requested) || !r.U32(&req.preferred_send_size) ||
      !r.U32(&req.max_receive_size) || !r.U32(&req.max_fragmented_size)) {
    return r.Error(kWhat);
  }
  if (req.min_version > kSmbDirectVersion1 || req.max_version < kSmbDirectVersion1) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "[MS-SMBD] negotiate request: MinVersion/MaxVersion [0x%04x, 0x%04x] exclude 0x0100 "
        "(3.1.5.6: answer STATUS_NOT_SUPPORTED)",
        req.min_version, req.max_version));
  }
  if (req.credits_requested == 0) {
    return Bad(kWhat, "CreditsRequested", 0, "must be greater than 0 (3.1.5.6)");
  }
  if (req.max_receive_size < kSmbDirectMinReceiveSize) {
    return Bad(kWhat, "MaxReceiveSize", req.max_receive_size, "is below 128 (3.1.5.6)");
  }
  if (req.max_fragmented_size < kSmbDirectMinFragmentedSize) {
    return Bad(kWhat, "MaxFragmentedSize", req.max_fragmented_size,
               "is below 131072 (3.1.5.6)");
  }
  return req;
}

void EncodeSmbDirectNegotiateResponse(const SmbDirectNegotiateResponse& rsp, WireWriter* w) {
  w->U16(rsp.min_version);
  w->U16(rsp.max_version);
  w->U16(rsp.negotiated_version);
  w->U16(0);  // Reserved
  w->U16(rsp.credits_requested);
  w->U16(rsp.credits_granted);
  w->U32(rsp.status);
  w->U32(rsp.max_read_write_size);
  w->U32(rsp.preferred_send_size);
  w->U32(rsp.max_receive_size);
  w->U32(rsp.max_fragmented_size);
}

absl::StatusOr<SmbDirectNegotiateResponse> DecodeSmbDirectNegotiateResponse(
    absl::Span<const uint8_t> message) {
  constexpr absl::string_view kWhat = "negotiate response";
  if (message.size() < kNegotiateResponseSize) {
    return Bad(kWhat, "received length", message.size(), "is shorter than 32 bytes (3.1.5.7)");
  }
  WireReader r(message);
  SmbDirectNegotiateResponse rsp;
  uint16_t reserved;
  if (!r.U16(&rsp.min_version) || !r.U16(&rsp.max_version) ||
      !r.U16(&rsp.negotiated_version) || !r.U16(&reserved) || !r.U16(&rsp.credits_requested) ||
      !r.U16(&rsp.credits_granted) || !r.U32(&rsp.status) || !r.U32(&rsp.max_read_write_size) ||
      !r.U32(&rsp.preferred_send_size) || !r.U32(&rsp.max_receive_size) ||
      !r.U32(&rsp.max_fragmented_size)) {
    return r.Error(kWhat);
  }
  return rsp;
}

absl::StatusOr<NegotiatedParams> ValidateSmbDirectNegotiateResponse(
    const SmbDirectNegotiateRequest& sent, const SmbDirectNegotiateResponse& rsp,
    uint32_t local_max_read_write_size) {
  constexpr absl::string_view kWhat = "negotiate response";
  if (rsp.status != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "[MS-SMBD] negotiate response: Status = 0x%08x, the peer refused the connection",
        rsp.status));
  }
  if (rsp.negotiated_version != kSmbDirectVersion1) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "[MS-SMBD] negotiate response: NegotiatedVersion = 0x%04x, only 0x0100 is supported",
        rsp.negotiated_version));
  }
  if (rsp.min_version > rsp.negotiated_version || rsp.max_version < rsp.negotiated_version) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "[MS-SMBD] negotiate response: NegotiatedVersion 0x%04x is outside the responder's "
        "MinVersion/MaxVersion [0x%04x, 0x%04x]",
        rsp.negotiated_version, rsp.min_version, rsp.max_version));
  }
  if (rsp.credits_requested == 0) {
    return Bad(kWhat, "CreditsRequested", 0, "must be greater than 0 (3.1.5.7)");
  }
  if (rsp.credits_granted == 0) {
    return Bad(kWhat, "CreditsGranted", 0, "must be greater than 0 (3.1.5.7)");
  }
  if (rsp.max_receive_size < kSmbDirectMinReceiveSize) {
    return Bad(kWhat, "MaxReceiveSize", rsp.max_receive_size, "is below 128 (3.1.5.7)");
  }
  if (rsp.max_fragmented_size < kSmbDirectMinFragmentedSize) {
    return Bad(kWhat, "MaxFragmentedSize", rsp.max_fragmented_size,
               "is below 131072 (3.1.5.7)");
  }
  if (rsp.preferred_send_size > sent.max_receive_size) {
    return Bad(kWhat, "PreferredSendSize", rsp.preferred_send_size,
               absl::StrCat("exceeds the MaxReceiveSize ", sent.max_receive_size,
                            " we offered (3.1.5.7)"));
  }
  NegotiatedParams p;
  p.send_credits = rsp.credits_granted;
  p.send_credit_target = sent.credits_requested;
  p.receive_credit_target = rsp.credits_requested;
  p.max_receive_size =
      std::max(kSmbDirectMinReceiveSize, std::min(sent.max_receive_size, rsp.preferred_send_size));
  p.max_send_size = std::min(sent.preferred_send_size, rsp.max_receive_size);
  p.max_read_write_size = std::min(local_max_read_write_size, rsp.max_read_write_size);
  p.max_fragmented_send_size = rsp.max_fragmented_size;
  p.max_fragmented_receive_size = sent.max_fragmented_size;
  return p;
}

absl::StatusOr<NegotiatedParams> ProcessSmbDirectNegotiateResponse(
    const SmbDirectNegotiateRequest& sent, absl::Span<const uint8_t> message,
    uint32_t local_max_read_write_size) {
  SMBD_ASSIGN_OR_RETURN(SmbDirectNegotiateResponse rsp, DecodeSmbDirectNegotiateResponse(message));
  return ValidateSmbDirectNegotiateResponse(sent, rsp, local_max_read_write_size);
}

absl::Status EncodeDataTransferHeader(const DataTransferHeader& h, WireWriter* w) {
  const uint32_t want_offset =
      h.data_length > 0 ? static_cast<uint32_t>(kDataTransferDataOffset) : 0;
  if (h.data_offset != want_offset) {
    return absl::InvalidArgumentError(
        absl::StrCat("data transfer header: DataOffset ", h.data_offset, " with DataLength ",
                     h.data_length, " (must be ", want_offset, ")"));
  }
  if (h.data_length == 0 && h.remaining_data_length != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("data transfer header: no data but RemainingDataLength ",
                     h.remaining_data_length));
  }
  w->U16(h.credits_requested);
  w->U16(h.credits_granted);
  w->U16(h.flags);
  w->U16(0);  // Reserved
  w->U32(h.remaining_data_length);
  w->U32(h.data_offset);
  w->U32(h.data_length);
  if (h.data_length > 0) w->U32(0);  // Padding up to DataOffset 24
  return w->ok() ? absl::OkStatus() : w->Finish();
}

absl::StatusOr<size_t> EncodeDataTransferHeader(const DataTransferHeader& h,
                                                absl::Span<uint8_t> out) {
  WireWriter w(out);
  SMBD_RETURN_IF_ERROR(EncodeDataTransferHeader(h, &w));
  SMBD_RETURN_IF_ERROR(w.Finish());
  return w.position();
}

absl::StatusOr<DataTransferHeader> DecodeDataTransfer(absl::Span<const uint8_t> message,
                                                      uint32_t max_fragmented_size) {
  return DecodeDataTransferFrom(WireReader(message), max_fragmented_size);
}

absl::StatusOr<DataTransferHeader> DecodeDataTransfer(const Bvecq& message,
                                                      uint32_t max_fragmented_size) {
  return DecodeDataTransferFrom(WireReader(message.begin()), max_fragmented_size);
}

}  // namespace smbd
