#include "smb2/pdu/tree_connect.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "smb2/constants.h"

namespace smbd {
namespace {
constexpr uint16_t kRequestStructureSize = 9;
constexpr uint16_t kResponseStructureSize = 16;
constexpr uint16_t kRequestFixed = 8;
}  // namespace

absl::Status EncodeTreeConnectRequest(const TreeConnectRequest& req, WireWriter* w) {
  SMBD_ASSIGN_OR_RETURN(const uint64_t path_size, Utf16LeSize(req.path));
  if (path_size == 0 || path_size > 0xFFFF) {
    return absl::InvalidArgumentError(
        absl::StrCat("TREE_CONNECT: path of ", path_size, " UTF-16 bytes"));
  }
  w->U16(kRequestStructureSize);
  w->U16(req.flags);
  w->U16(kSmb2HeaderSize + kRequestFixed);  // PathOffset (0x48)
  w->U16(static_cast<uint16_t>(path_size));
  WriteUtf16Le(req.path, w);
  return absl::OkStatus();
}

absl::StatusOr<TreeConnectResponse> DecodeTreeConnectResponse(WireReader r) {
  constexpr absl::string_view kWhat = "TREE_CONNECT response";
  SMBD_RETURN_IF_ERROR(ExpectBody(&r, kResponseStructureSize, kWhat));
  TreeConnectResponse resp;
  uint8_t reserved;
  if (!r.U8(&resp.share_type) || !r.U8(&reserved) || !r.U32(&resp.share_flags) ||
      !r.U32(&resp.capabilities) || !r.U32(&resp.maximal_access)) {
    return r.Error(kWhat);
  }
  if (resp.share_type < kShareTypeDisk || resp.share_type > kShareTypePrint) {
    return BadField(kWhat, "ShareType", resp.share_type, "is not disk, pipe or print");
  }
  return resp;
}

}  // namespace smbd
