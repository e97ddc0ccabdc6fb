#include "smb2/pdu/cancel.h"

namespace smbd {

void EncodeCancelRequest(WireWriter* w) { EncodeEmptyBody(w); }

}  // namespace smbd
