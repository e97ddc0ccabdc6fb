#include "smb2/pdu/close.h"

#include "base/status_macros.h"

namespace smbd {
namespace {
constexpr uint16_t kRequestStructureSize = 24;
constexpr uint16_t kResponseStructureSize = 60;
}  // namespace

void EncodeCloseRequest(const CloseRequest& req, WireWriter* w) {
  w->U16(kRequestStructureSize);
  w->U16(req.flags);
  w->U32(0);  // Reserved
  EncodeFileId(req.file_id, w);
}

absl::StatusOr<CloseResponse> DecodeCloseResponse(WireReader r) {
  constexpr absl::string_view kWhat = "CLOSE response";
  SMBD_RETURN_IF_ERROR(ExpectBody(&r, kResponseStructureSize, kWhat));
  CloseResponse resp;
  uint32_t reserved;
  if (!r.U16(&resp.flags) || !r.U32(&reserved) || !r.U64(&resp.creation_time) ||
      !r.U64(&resp.last_access_time) || !r.U64(&resp.last_write_time) ||
      !r.U64(&resp.change_time) || !r.U64(&resp.allocation_size) ||
      !r.U64(&resp.end_of_file) || !r.U32(&resp.file_attributes)) {
    return r.Error(kWhat);
  }
  return resp;
}

}  // namespace smbd
