// SMB2 WRITE ([MS-SMB2] 2.2.21 request, 2.2.22 response), inline or through the RDMA channel.
#ifndef SMBD_SMB2_PDU_WRITE_H_
#define SMBD_SMB2_PDU_WRITE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "buffers/bvecq.h"
#include "buffers/wire.h"
#include "smb2/constants.h"
#include "smb2/pdu/common.h"

namespace smbd {

inline constexpr uint32_t kWriteFlagWriteThrough = 0x00000001;
inline constexpr uint32_t kWriteFlagWriteUnbuffered = 0x00000002;

struct WriteRequest {
  uint64_t offset = 0;
  FileId file_id;
  uint32_t flags = 0;
  // Inline: `length` bytes of `payload` follow the body (DataOffset 0x70).
  // RDMA ([MS-SMB2] 3.2.4.7 / [MS-SMBD]): channel kChannelRdmaV1(_Invalidate), `channel_info`
  // describes where the server reads the data; `length` is the I/O size, sent as RemainingBytes
  // with Length and DataOffset 0 on the wire.
  uint32_t length = 0;
  uint32_t channel = kChannelNone;
  absl::Span<const BufferDescriptorV1> channel_info;
  uint32_t remaining_bytes = 0;  // inline writes: a hint of bytes still to come
};

// Writes the body and, for an inline write, splices `payload` (exactly `length` bytes; it is
// consumed) after it without copying.
absl::Status EncodeWriteRequest(const WriteRequest& request, Bvecq* payload, WireWriter* w);

struct WriteResponse {
  uint32_t count = 0;
  uint32_t remaining = 0;
};

absl::StatusOr<WriteResponse> DecodeWriteResponse(WireReader message);

}  // namespace smbd

#endif  // SMBD_SMB2_PDU_WRITE_H_
