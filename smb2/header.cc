#include "smb2/header.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace smbd {

const char* CommandName(Command command) {
  static constexpr const char* kNames[] = {
      "NEGOTIATE", "SESSION_SETUP", "LOGOFF",          "TREE_CONNECT", "TREE_DISCONNECT",
      "CREATE",    "CLOSE",         "FLUSH",           "READ",         "WRITE",
      "LOCK",      "IOCTL",         "CANCEL",          "ECHO",         "QUERY_DIRECTORY",
      "CHANGE_NOTIFY", "QUERY_INFO", "SET_INFO",       "OPLOCK_BREAK"};
  const uint16_t c = static_cast<uint16_t>(command);
  return c <= kMaxCommand ? kNames[c] : "UNKNOWN_COMMAND";
}

void EncodeHeader(const Smb2Header& h, WireWriter* w) {
  w->Bytes(absl::MakeConstSpan(kSmb2ProtocolId));
  w->U16(kSmb2HeaderSize);
  w->U16(h.credit_charge);
  w->U32(h.status);
  w->U16(static_cast<uint16_t>(h.command));
  w->U16(h.credits);
  w->U32(h.flags);
  w->U32(h.next_command);
  w->U64(h.message_id);
  if (h.is_async()) {
    w->U64(h.async_id);
  } else {
    w->U32(h.process_id);
    w->U32(h.tree_id);
  }
  w->U64(h.session_id);
  w->Bytes(absl::MakeConstSpan(h.signature));
}

absl::StatusOr<Smb2Header> DecodeHeader(WireReader* r) {
  uint8_t protocol[4];
  uint16_t structure_size, command;
  Smb2Header h;
  if (!r->Bytes(absl::MakeSpan(protocol)) || !r->U16(&structure_size) ||
      !r->U16(&h.credit_charge) || !r->U32(&h.status) || !r->U16(&command) ||
      !r->U16(&h.credits) || !r->U32(&h.flags) || !r->U32(&h.next_command) ||
      !r->U64(&h.message_id)) {
    return r->Error("SMB2 header");
  }
  if (std::memcmp(protocol, kSmb2ProtocolId, 4) != 0) {
    return absl::DataLossError(absl::StrCat("SMB2 header: bad ProtocolId ",
                                            absl::Hex(LoadBE32(protocol), absl::kZeroPad8)));
  }
  if (structure_size != kSmb2HeaderSize) {
    return absl::DataLossError(
        absl::StrCat("SMB2 header: StructureSize ", structure_size, ", expected 64"));
  }
  if (command > kMaxCommand) {
    return absl::DataLossError(absl::StrCat("SMB2 header: unknown command ", command));
  }
  h.command = static_cast<Command>(command);
  bool ok;
  if (h.is_async()) {
    ok = r->U64(&h.async_id);
  } else {
    ok = r->U32(&h.process_id) && r->U32(&h.tree_id);
  }
  if (!ok || !r->U64(&h.session_id) || !r->Bytes(absl::MakeSpan(h.signature))) {
    return r->Error("SMB2 header");
  }
  return h;
}

}  // namespace smbd
