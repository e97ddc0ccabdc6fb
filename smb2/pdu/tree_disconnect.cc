#include "smb2/pdu/tree_disconnect.h"

namespace smbd {

void EncodeTreeDisconnectRequest(WireWriter* w) { EncodeEmptyBody(w); }

absl::Status DecodeTreeDisconnectResponse(WireReader message) {
  return DecodeEmptyBody(message, "TREE_DISCONNECT response");
}

}  // namespace smbd
