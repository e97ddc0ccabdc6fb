#include "smb2/pdu/session_setup.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "smb2/constants.h"

namespace smbd {
namespace {
constexpr uint16_t kRequestStructureSize = 25;
constexpr uint16_t kResponseStructureSize = 9;
constexpr uint16_t kRequestFixed = 24;
constexpr uint16_t kResponseFixed = 8;
}  // namespace

absl::Status EncodeSessionSetupRequest(const SessionSetupRequest& req, WireWriter* w) {
  if (req.security_buffer.size() > 0xFFFF) {
    return absl::InvalidArgumentError(
        absl::StrCat("SESSION_SETUP: token of ", req.security_buffer.size(), " bytes"));
  }
  w->U16(kRequestStructureSize);
  w->U8(req.flags);
  w->U8(req.security_mode);
  w->U32(req.capabilities);
  w->U32(req.channel);
  w->U16(kSmb2HeaderSize + kRequestFixed);  // SecurityBufferOffset (0x58)
  w->U16(static_cast<uint16_t>(req.security_buffer.size()));
  w->U64(req.previous_session_id);
  if (req.security_buffer.empty()) {
    w->U8(0);  // StructureSize 25 counts one Buffer byte
  } else {
    w->Bytes(req.security_buffer);
  }
  return absl::OkStatus();
}

absl::StatusOr<SessionSetupResponse> DecodeSessionSetupResponse(WireReader r) {
  constexpr absl::string_view kWhat = "SESSION_SETUP response";
  SMBD_RETURN_IF_ERROR(ExpectBody(&r, kResponseStructureSize, kWhat));
  SessionSetupResponse resp;
  if (!r.U16(&resp.session_flags) || !r.U16(&resp.security_buffer_offset) ||
      !r.U16(&resp.security_buffer_length)) {
    return r.Error(kWhat);
  }
  SMBD_RETURN_IF_ERROR(CheckBuffer(kWhat, "SecurityBufferOffset/Length",
                                   resp.security_buffer_offset, resp.security_buffer_length,
                                   kSmb2HeaderSize + kResponseFixed, r.size()));
  return resp;
}

}  // namespace smbd
