#include "smb2/pdu/lock.h"

#include "absl/strings/str_cat.h"

namespace smbd {

absl::Status EncodeLockRequest(const LockRequest& req, WireWriter* w) {
  if (req.locks.empty() || req.locks.size() > 0xFFFF) {
    return absl::InvalidArgumentError(
        absl::StrCat("LOCK: ", req.locks.size(), " lock elements (1 to 65535)"));
  }
  for (const LockElement& e : req.locks) {
    const uint32_t kind = e.flags & (kLockFlagShared | kLockFlagExclusive | kLockFlagUnlock);
    // [MS-SMB2] 3.2.4.19: exactly one of shared, exclusive, unlock; FAIL_IMMEDIATELY only with
    // a lock.
    const bool valid = (kind == kLockFlagShared || kind == kLockFlagExclusive ||
                        kind == kLockFlagUnlock) &&
                       !(kind == kLockFlagUnlock && (e.flags & kLockFlagFailImmediately)) &&
                       (e.flags & ~(kind | kLockFlagFailImmediately)) == 0;
    if (!valid) {
      return absl::InvalidArgumentError(absl::StrCat("LOCK: invalid element flags 0x", absl::Hex(e.flags)));
    }
    // Offset + Length must not wrap ([MS-SMB2] 3.3.5.14: the server fails it with
    // STATUS_INVALID_LOCK_RANGE); say so here instead.
    if (e.length > 0 && e.offset + e.length - 1 < e.offset) {
      return absl::InvalidArgumentError("LOCK: offset + length passes 2^64");
    }
  }
  // [MS-SMB2] 3.3.5.14: several elements are all unlocks, or all locks with FAIL_IMMEDIATELY
  // (the server fails anything else with STATUS_INVALID_PARAMETER).
  if (req.locks.size() > 1) {
    const bool unlocks = (req.locks[0].flags & kLockFlagUnlock) != 0;
    for (const LockElement& e : req.locks) {
      if (((e.flags & kLockFlagUnlock) != 0) != unlocks ||
          (!unlocks && (e.flags & kLockFlagFailImmediately) == 0)) {
        return absl::InvalidArgumentError(
            "LOCK: several elements must all be unlocks, or all fail-immediately locks");
      }
    }
  }
  if (req.lock_sequence_number > 0xF || req.lock_sequence_index > 0x0FFFFFFF) {
    return absl::InvalidArgumentError("LOCK: sequence number above 15 or index above 2^28 - 1");
  }
  w->U16(48);  // StructureSize
  w->U16(static_cast<uint16_t>(req.locks.size()));
  w->U32(req.lock_sequence_number | (req.lock_sequence_index << 4));
  EncodeFileId(req.file_id, w);
  for (const LockElement& e : req.locks) {
    w->U64(e.offset);
    w->U64(e.length);
    w->U32(e.flags);
    w->U32(0);  // Reserved
  }
  return absl::OkStatus();
}

absl::Status DecodeLockResponse(WireReader message) {
  return DecodeEmptyBody(message, "LOCK response");
}

}  // namespace smbd
