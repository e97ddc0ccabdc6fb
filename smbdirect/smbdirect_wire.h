// [MS-SMBD] message codecs: Negotiate Request (2.2.1), Negotiate Response (2.2.2) and the Data
// Transfer message header (2.2.3), with the receiver's checks of 3.1.5.6, 3.1.5.7 and 3.1.5.8.
// Every field goes through WireReader/WireWriter; nothing casts packet bytes.
//
// Error codes: a message that is too short, or whose offsets and lengths do not fit what was
// received, or whose fields break a MUST of the spec, is DataLoss (the connection must be torn
// down). A well-formed negotiate response that refuses us (Status != 0) or picks a version we do
// not speak is FailedPrecondition. Messages name the field at fault.
#ifndef SMBD_SMBDIRECT_SMBDIRECT_WIRE_H_
#define SMBD_SMBDIRECT_SMBDIRECT_WIRE_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "buffers/bvecq.h"
#include "buffers/wire.h"

namespace smbd {

// [MS-SMBD] 1.7: the only protocol version.
inline constexpr uint16_t kSmbDirectVersion1 = 0x0100;
// [MS-SMBD] 2.2.1 / 2.2.2 fixed sizes.
inline constexpr size_t kNegotiateRequestSize = 20;
inline constexpr size_t kNegotiateResponseSize = 32;
// [MS-SMBD] 2.2.3: the header up to and including DataLength; a message without payload is this
// long. With payload, 4 bytes of Padding follow so that the data starts 8-aligned at 24.
inline constexpr size_t kDataTransferMinSize = 20;
inline constexpr size_t kDataTransferDataOffset = 24;
// [MS-SMBD] 2.2.3 Flags.
inline constexpr uint16_t kSmbDirectResponseRequested = 0x0001;
// [MS-SMBD] 3.1.5.6 / 3.1.5.7 lower bounds.
inline constexpr uint32_t kSmbDirectMinReceiveSize = 128;
inline constexpr uint32_t kSmbDirectMinFragmentedSize = 131072;

// [MS-SMBD] 2.2.1 Negotiate Request (20 bytes):
//   0 MinVersion u16, 2 MaxVersion u16, 4 Reserved u16, 6 CreditsRequested u16,
//   8 PreferredSendSize u32, 12 MaxReceiveSize u32, 16 MaxFragmentedSize u32.
struct SmbDirectNegotiateRequest {
  uint16_t min_version = kSmbDirectVersion1;
  uint16_t max_version = kSmbDirectVersion1;
  uint16_t credits_requested = 0;
  uint32_t preferred_send_size = 0;
  uint32_t max_receive_size = 0;
  uint32_t max_fragmented_size = 0;
};

// [MS-SMBD] 2.2.2 Negotiate Response (32 bytes):
//   0 MinVersion u16, 2 MaxVersion u16, 4 NegotiatedVersion u16, 6 Reserved u16,
//   8 CreditsRequested u16, 10 CreditsGranted u16, 12 Status u32 (NTSTATUS),
//   16 MaxReadWriteSize u32, 20 PreferredSendSize u32, 24 MaxReceiveSize u32,
//   28 MaxFragmentedSize u32.
struct SmbDirectNegotiateResponse {
  uint16_t min_version = kSmbDirectVersion1;
  uint16_t max_version = kSmbDirectVersion1;
  uint16_t negotiated_version = kSmbDirectVersion1;
  uint16_t credits_requested = 0;
  uint16_t credits_granted = 0;
  uint32_t status = 0;
  uint32_t max_read_write_size = 0;
  uint32_t preferred_send_size = 0;
  uint32_t max_receive_size = 0;
  uint32_t max_fragmented_size = 0;
};

// [MS-SMBD] 2.2.3 Data Transfer message header:
//   0 CreditsRequested u16 (total send credits wanted), 2 CreditsGranted u16 (incremental),
//   4 Flags u16, 6 Reserved u16, 8 RemainingDataLength u32, 12 DataOffset u32,
//   16 DataLength u32, 20 Padding u32 (only when there is data; DataOffset is then 24).
struct DataTransferHeader {
  uint16_t credits_requested = 0;
  uint16_t credits_granted = 0;
  uint16_t flags = 0;
  uint32_t remaining_data_length = 0;
  uint32_t data_offset = 0;
  uint32_t data_length = 0;

  bool response_requested() const { return (flags & kSmbDirectResponseRequested) != 0; }
};

// The header bytes a message with `data_length` bytes of payload starts with: 24 with data
// (DataOffset 24), 20 without (DataOffset 0).
inline size_t DataTransferHeaderSize(uint32_t data_length) {
  return data_length > 0 ? kDataTransferDataOffset : kDataTransferMinSize;
}

// Builds the header of an outgoing message, DataOffset derived from DataLength.
DataTransferHeader MakeDataTransferHeader(uint16_t credits_requested, uint16_t credits_granted,
                                          uint16_t flags, uint32_t remaining_data_length,
                                          uint32_t data_length);

// Negotiate request: what this side sends. Checks our own values against the 3.1.5.6 minimums
// (InvalidArgument) and writes 20 bytes.
absl::Status EncodeSmbDirectNegotiateRequest(const SmbDirectNegotiateRequest& req, WireWriter* w);
// Receiver side (a peer or a test server), [MS-SMBD] 3.1.5.6: at least 20 bytes, the version
// range includes 0x0100 (else FailedPrecondition: the responder answers STATUS_NOT_SUPPORTED),
// CreditsRequested > 0, MaxReceiveSize >= 128, MaxFragmentedSize >= 131072.
absl::StatusOr<SmbDirectNegotiateRequest> DecodeSmbDirectNegotiateRequest(
    absl::Span<const uint8_t> message);

// Negotiate response: written by a responder (test servers); writes 32 bytes.
void EncodeSmbDirectNegotiateResponse(const SmbDirectNegotiateResponse& rsp, WireWriter* w);
// Parses the 32 bytes (DataLoss when shorter; trailing bytes are ignored). No semantic checks:
// see ValidateSmbDirectNegotiateResponse.
absl::StatusOr<SmbDirectNegotiateResponse> DecodeSmbDirectNegotiateResponse(
    absl::Span<const uint8_t> message);

// What a successful negotiate leaves on the connection ([MS-SMBD] 3.1.5.7, 3.1.1.1).
struct NegotiatedParams {
  uint16_t send_credits = 0;             // the peer's CreditsGranted
  uint16_t send_credit_target = 0;       // what we keep requesting (our CreditsRequested)
  uint16_t receive_credit_target = 0;    // the peer's CreditsRequested
  uint32_t max_send_size = 0;            // min(our PreferredSendSize, peer MaxReceiveSize)
  uint32_t max_receive_size = 0;         // max(128, min(our MaxReceiveSize, peer PreferredSendSize))
  uint32_t max_read_write_size = 0;      // min(local limit, peer MaxReadWriteSize)
  uint32_t max_fragmented_send_size = 0;     // the peer's MaxFragmentedSize (it reassembles)
  uint32_t max_fragmented_receive_size = 0;  // our MaxFragmentedSize (we reassemble)
};

// [MS-SMBD] 3.1.5.7: checks a decoded response against the request we sent. Status must be 0
// (FailedPrecondition carrying the NTSTATUS in hex otherwise; checked first because a failure
// response need not carry meaningful sizes), NegotiatedVersion 0x0100 and inside the responder's
// [MinVersion, MaxVersion] (FailedPrecondition), CreditsRequested > 0, CreditsGranted > 0,
// MaxReceiveSize >= 128, MaxFragmentedSize >= 131072, PreferredSendSize <= the MaxReceiveSize we
// asked for (each DataLoss naming the field).
absl::StatusOr<NegotiatedParams> ValidateSmbDirectNegotiateResponse(
    const SmbDirectNegotiateRequest& sent, const SmbDirectNegotiateResponse& rsp,
    uint32_t local_max_read_write_size);
// Decode + validate of a received negotiate response of `message.size()` bytes.
absl::StatusOr<NegotiatedParams> ProcessSmbDirectNegotiateResponse(
    const SmbDirectNegotiateRequest& sent, absl::Span<const uint8_t> message,
    uint32_t local_max_read_write_size);

// Writes the header of an outgoing data transfer message: 24 bytes (Padding zero) when
// data_length > 0, else 20. InvalidArgument when DataOffset is not the one the header size
// implies (24 with data, 0 without) or when a message without data claims remaining data.
absl::Status EncodeDataTransferHeader(const DataTransferHeader& h, WireWriter* w);
// Span form; returns the bytes written.
absl::StatusOr<size_t> EncodeDataTransferHeader(const DataTransferHeader& h,
                                                absl::Span<uint8_t> out);

// [MS-SMBD] 3.1.5.8: decodes and checks a received data transfer message of exactly the bytes
// the receive completed with. All arithmetic is 64-bit. Checks, each DataLoss naming the field:
//  - at least 20 bytes;
//  - CreditsRequested >= 1;
//  - DataOffset 8-aligned, and DataOffset + DataLength <= the bytes received;
//  - with DataLength > 0: DataOffset >= 24 (the data cannot overlap the header);
//  - DataLength + RemainingDataLength <= `max_fragmented_size` (our MaxFragmentedSize).
// A message without data may carry any DataOffset that passes the checks above (peers are
// expected to send 0); unknown Flags bits are ignored.
absl::StatusOr<DataTransferHeader> DecodeDataTransfer(absl::Span<const uint8_t> message,
                                                      uint32_t max_fragmented_size);
// The same over a receive buffer held in a Bvecq (its size is the bytes received).
absl::StatusOr<DataTransferHeader> DecodeDataTransfer(const Bvecq& message,
                                                      uint32_t max_fragmented_size);

}  // namespace smbd

#endif  // SMBD_SMBDIRECT_SMBDIRECT_WIRE_H_
