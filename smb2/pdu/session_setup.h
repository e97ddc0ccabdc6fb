// SMB2 SESSION_SETUP ([MS-SMB2] 2.2.5 request, 2.2.6 response). The security buffer carries the
// GSS-API (SPNEGO) token; STATUS_MORE_PROCESSING_REQUIRED responses carry this body too, not an
// ERROR body.
#ifndef SMBD_SMB2_PDU_SESSION_SETUP_H_
#define SMBD_SMB2_PDU_SESSION_SETUP_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "buffers/wire.h"
#include "smb2/pdu/common.h"

namespace smbd {

// [MS-SMB2] 2.2.5 Flags.
inline constexpr uint8_t kSessionFlagBinding = 0x01;
// [MS-SMB2] 2.2.6 SessionFlags.
inline constexpr uint16_t kSessionFlagIsGuest = 0x0001;
inline constexpr uint16_t kSessionFlagIsNull = 0x0002;
inline constexpr uint16_t kSessionFlagEncryptData = 0x0004;

struct SessionSetupRequest {
  uint8_t flags = 0;  // kSessionFlagBinding to bind a new channel (3.x)
  uint8_t security_mode = 0;  // kSigningEnabled / kSigningRequired (low byte)
  uint32_t capabilities = 0;  // only kCapDfs is defined here
  uint32_t channel = 0;       // MUST be 0
  uint64_t previous_session_id = 0;
  absl::Span<const uint8_t> security_buffer;  // caller-owned token
};

// Writes the body; the token follows the 24-byte fixed part (SecurityBufferOffset 0x58).
// InvalidArgument for a token over 65535 bytes.
absl::Status EncodeSessionSetupRequest(const SessionSetupRequest& request, WireWriter* w);

struct SessionSetupResponse {
  uint16_t session_flags = 0;
  // The token is bytes [offset, offset + length) of the message (checked to lie in the body).
  uint16_t security_buffer_offset = 0;
  uint16_t security_buffer_length = 0;
};

absl::StatusOr<SessionSetupResponse> DecodeSessionSetupResponse(WireReader message);

}  // namespace smbd

#endif  // SMBD_SMB2_PDU_SESSION_SETUP_H_
