// SMB2 OPLOCK_BREAK: the server's oplock break notification ([MS-SMB2] 2.2.23.1, StructureSize
// 24) and lease break notification (2.2.23.2, StructureSize 44), both sent unsolicited with
// MessageId 0xFFFFFFFFFFFFFFFF and told apart by StructureSize; the client's acknowledgements
// (2.2.24.1 oplock, 24; 2.2.24.2 lease, 36) and the server's responses to them (2.2.25.1, 24;
// 2.2.25.2, 36).
#ifndef SMBD_SMB2_PDU_OPLOCK_BREAK_H_
#define SMBD_SMB2_PDU_OPLOCK_BREAK_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "buffers/wire.h"
#include "smb2/constants.h"
#include "smb2/pdu/common.h"

namespace smbd {

// [MS-SMB2] 2.2.23.2 Flags.
inline constexpr uint32_t kLeaseBreakFlagAckRequired = 0x00000001;
// The MessageId of an unsolicited break notification ([MS-SMB2] 3.3.4.6).
inline constexpr uint64_t kUnsolicitedMessageId = 0xFFFFFFFFFFFFFFFFull;

// Oplock break notification, acknowledgement and response (all StructureSize 24).
struct OplockBreak {
  uint8_t oplock_level = 0;
  FileId file_id;
};

// Lease break notification (2.2.23.2).
struct LeaseBreakNotification {
  uint16_t new_epoch = 0;
  uint32_t flags = 0;
  uint8_t lease_key[16] = {};
  uint32_t current_lease_state = 0;
  uint32_t new_lease_state = 0;
  uint32_t break_reason = 0;
  uint32_t access_mask_hint = 0;
  uint32_t share_mask_hint = 0;
};

// Lease break acknowledgement and response (2.2.24.2 / 2.2.25.2, StructureSize 36).
struct LeaseBreakAck {
  uint32_t flags = 0;
  uint8_t lease_key[16] = {};
  uint32_t lease_state = 0;
};

void EncodeOplockBreakAck(const OplockBreak& ack, WireWriter* w);
void EncodeLeaseBreakAck(const LeaseBreakAck& ack, WireWriter* w);

struct BreakNotification {
  bool is_lease = false;
  OplockBreak oplock;             // when !is_lease
  LeaseBreakNotification lease;   // when is_lease
};
// Decodes a server-sent OPLOCK_BREAK notification (StructureSize 24 or 44).
absl::StatusOr<BreakNotification> DecodeBreakNotification(WireReader message);

struct BreakResponse {
  bool is_lease = false;
  OplockBreak oplock;
  LeaseBreakAck lease;
};
// Decodes the response to an acknowledgement (StructureSize 24 or 36).
absl::StatusOr<BreakResponse> DecodeBreakResponse(WireReader message);

}  // namespace smbd

#endif  // SMBD_SMB2_PDU_OPLOCK_BREAK_H_
