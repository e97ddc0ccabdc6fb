// SMB2 LOGOFF ([MS-SMB2] 2.2.7 request, 2.2.8 response): 4-byte bodies.
#ifndef SMBD_SMB2_PDU_LOGOFF_H_
#define SMBD_SMB2_PDU_LOGOFF_H_

#include "absl/status/status.h"
#include "buffers/wire.h"
#include "smb2/pdu/common.h"

namespace smbd {

void EncodeLogoffRequest(WireWriter* w);
absl::Status DecodeLogoffResponse(WireReader message);

}  // namespace smbd

#endif  // SMBD_SMB2_PDU_LOGOFF_H_
