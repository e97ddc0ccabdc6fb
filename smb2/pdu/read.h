// SMB2 READ ([MS-SMB2] 2.2.19 request, 2.2.20 response), inline or through the RDMA channel.
#ifndef SMBD_SMB2_PDU_READ_H_
#define SMBD_SMB2_PDU_READ_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "buffers/wire.h"
#include "smb2/constants.h"
#include "smb2/pdu/common.h"

namespace smbd {

inline constexpr uint8_t kReadFlagUnbuffered = 0x01;          // 3.0.2+
inline constexpr uint8_t kReadFlagRequestCompressed = 0x02;   // 3.1.1
inline constexpr uint32_t kReadResponseFlagRdmaTransform = 0x00000001;

struct ReadRequest {
  // Where the client wants the data in the response, counted from the header: 0x50 puts it
  // right after the 16-byte fixed response body (what Samba and Windows send back).
  uint8_t padding = 0x50;
  uint8_t flags = 0;
  uint32_t length = 0;
  uint64_t offset = 0;
  FileId file_id;
  uint32_t minimum_count = 0;
  // kChannelNone, or kChannelRdmaV1(_Invalidate) with `channel_info` describing where the server
  // writes the data.
  uint32_t channel = kChannelNone;
  uint32_t remaining_bytes = 0;
  absl::Span<const BufferDescriptorV1> channel_info;
};

// Writes the request body (after the header).
void EncodeReadRequest(const ReadRequest& request, WireWriter* w);

struct ReadResponse {
  uint8_t data_offset = 0;      // from the start of the header
  uint32_t data_length = 0;     // bytes inline in this message
  uint32_t data_remaining = 0;  // bytes sent on the RDMA channel (or still to come)
  uint32_t flags = 0;
};

// A READ response's bytes before its data: the header and the fixed body ([MS-SMB2] 2.2.20,
// StructureSize 17 counting one byte of Buffer). What a receiver must see to know where the
// data goes.
inline constexpr size_t kReadResponseHeadSize = kSmb2HeaderSize + 16;

// Decodes the fixed body of a READ response from a reader over at least its first
// kReadResponseHeadSize bytes (header included), without checking where the data lies: for
// deciding where inline data goes before it has arrived. DecodeReadResponse checks the rest.
absl::StatusOr<ReadResponse> DecodeReadResponseHead(WireReader message);

// Decodes a READ response from a reader over the whole member (header included). The data, if
// inline, is bytes [data_offset, data_offset + data_length) of that member; they are checked
// to lie inside it. Callers copy or place the data; the decoder does not copy it.
absl::StatusOr<ReadResponse> DecodeReadResponse(WireReader message);

}  // namespace smbd

#endif  // SMBD_SMB2_PDU_READ_H_
