// SMB2 CANCEL ([MS-SMB2] 2.2.30): a 4-byte request body and no response of its own (the
// cancelled request completes, usually with STATUS_CANCELLED).
//
// The header is what identifies the target ([MS-SMB2] 3.2.4.24): a CANCEL reuses the MessageId
// of the request it cancels (sync), or carries SMB2_FLAGS_ASYNC_COMMAND and its AsyncId once
// the interim STATUS_PENDING response has been seen; it consumes no credit and no message id
// (CreditCharge 0 is fine, and the credit window must not advance for it), and it is never
// signed-and-compounded with other requests.
#ifndef SMBD_SMB2_PDU_CANCEL_H_
#define SMBD_SMB2_PDU_CANCEL_H_

#include "buffers/wire.h"
#include "smb2/pdu/common.h"

namespace smbd {

void EncodeCancelRequest(WireWriter* w);

}  // namespace smbd

#endif  // SMBD_SMB2_PDU_CANCEL_H_
