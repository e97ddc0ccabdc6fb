#include "smb2/pdu/logoff.h"

namespace smbd {

void EncodeLogoffRequest(WireWriter* w) { EncodeEmptyBody(w); }

absl::Status DecodeLogoffResponse(WireReader message) {
  return DecodeEmptyBody(message, "LOGOFF response");
}

}  // namespace smbd
