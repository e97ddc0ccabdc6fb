// SMB2 TREE_DISCONNECT ([MS-SMB2] 2.2.11 request, 2.2.12 response): 4-byte bodies.
#ifndef SMBD_SMB2_PDU_TREE_DISCONNECT_H_
#define SMBD_SMB2_PDU_TREE_DISCONNECT_H_

#include "absl/status/status.h"
#include "buffers/wire.h"
#include "smb2/pdu/common.h"

namespace smbd {

void EncodeTreeDisconnectRequest(WireWriter* w);
absl::Status DecodeTreeDisconnectResponse(WireReader message);

}  // namespace smbd

#endif  // SMBD_SMB2_PDU_TREE_DISCONNECT_H_
