#include "smb2/pdu/flush.h"

namespace smbd {

void EncodeFlushRequest(const FlushRequest& req, WireWriter* w) {
  w->U16(24);  // StructureSize
  w->U16(0);   // Reserved1
  w->U32(0);   // Reserved2
  EncodeFileId(req.file_id, w);
}

absl::Status DecodeFlushResponse(WireReader message) {
  return DecodeEmptyBody(message, "FLUSH response");
}

}  // namespace smbd
