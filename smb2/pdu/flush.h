// SMB2 FLUSH ([MS-SMB2] 2.2.17 request, 2.2.18 response).
#ifndef SMBD_SMB2_PDU_FLUSH_H_
#define SMBD_SMB2_PDU_FLUSH_H_

#include "absl/status/status.h"
#include "buffers/wire.h"
#include "smb2/constants.h"
#include "smb2/pdu/common.h"

namespace smbd {

struct FlushRequest {
  FileId file_id;
};

// StructureSize 24, Reserved1 (2), Reserved2 (4), FileId.
void EncodeFlushRequest(const FlushRequest& request, WireWriter* w);
// StructureSize 4, Reserved.
absl::Status DecodeFlushResponse(WireReader message);

}  // namespace smbd

#endif  // SMBD_SMB2_PDU_FLUSH_H_
