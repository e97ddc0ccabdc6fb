#include "smb2/pdu/echo.h"

namespace smbd {

void EncodeEchoRequest(WireWriter* w) { EncodeEmptyBody(w); }

absl::Status DecodeEchoResponse(WireReader message) {
  return DecodeEmptyBody(message, "ECHO response");
}

}  // namespace smbd
