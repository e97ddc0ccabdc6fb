// SMB2 ECHO ([MS-SMB2] 2.2.28 request, 2.2.29 response): 4-byte bodies.
#ifndef SMBD_SMB2_PDU_ECHO_H_
#define SMBD_SMB2_PDU_ECHO_H_

#include "absl/status/status.h"
#include "buffers/wire.h"
#include "smb2/pdu/common.h"

namespace smbd {

void EncodeEchoRequest(WireWriter* w);
absl::Status DecodeEchoResponse(WireReader message);

}  // namespace smbd

#endif  // SMBD_SMB2_PDU_ECHO_H_
