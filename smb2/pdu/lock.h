// SMB2 LOCK ([MS-SMB2] 2.2.26 request, 2.2.26.1 SMB2_LOCK_ELEMENT, 2.2.27 response): byte-range
// locks on an open file.
#ifndef SMBD_SMB2_PDU_LOCK_H_
#define SMBD_SMB2_PDU_LOCK_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "buffers/wire.h"
#include "smb2/pdu/common.h"

namespace smbd {

// SMB2_LOCK_ELEMENT Flags ([MS-SMB2] 2.2.26.1).
inline constexpr uint32_t kLockFlagShared = 0x00000001;
inline constexpr uint32_t kLockFlagExclusive = 0x00000002;
inline constexpr uint32_t kLockFlagUnlock = 0x00000004;
inline constexpr uint32_t kLockFlagFailImmediately = 0x00000010;

struct LockElement {
  uint64_t offset = 0;
  uint64_t length = 0;
  uint32_t flags = 0;
};

struct LockRequest {
  // LockSequenceNumber (4 bits) and LockSequenceIndex (28 bits), for resilient and durable
  // handles ([MS-SMB2] 3.2.4.19); 0 otherwise.
  uint8_t lock_sequence_number = 0;
  uint32_t lock_sequence_index = 0;
  FileId file_id;
  absl::Span<const LockElement> locks;
};

// StructureSize 48, LockCount, LockSequence (number in the low 4 bits, index in the upper 28),
// FileId, then LockCount elements of 24 bytes (Offset, Length, Flags, Reserved).
// kInvalidArgument for no elements, more than 65535, flags that [MS-SMB2] 3.2.4.19 forbids
// (an unlock combined with a lock flag, a lock that is neither shared nor exclusive, both),
// several elements that mix locks and unlocks or include a waiting lock (3.3.5.14), a range
// past 2^64, or a sequence number/index out of its 4/28 bits.
absl::Status EncodeLockRequest(const LockRequest& request, WireWriter* w);
// StructureSize 4, Reserved.
absl::Status DecodeLockResponse(WireReader message);

}  // namespace smbd

#endif  // SMBD_SMB2_PDU_LOCK_H_
