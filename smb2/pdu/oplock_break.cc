#include "smb2/pdu/oplock_break.h"

#include "absl/strings/str_cat.h"

namespace smbd {
namespace {

constexpr uint16_t kOplockSize = 24;
constexpr uint16_t kLeaseNotificationSize = 44;
constexpr uint16_t kLeaseAckSize = 36;

// Reads the body's StructureSize (after the header).
bool ReadStructureSize(WireReader* r, uint16_t* size) {
  return (r->position() >= kSmb2HeaderSize || r->Skip(kSmb2HeaderSize - r->position())) &&
         r->U16(size);
}

bool ReadOplock(WireReader* r, OplockBreak* o) {
  uint8_t reserved;
  uint32_t reserved2;
  return r->U8(&o->oplock_level) && r->U8(&reserved) && r->U32(&reserved2) &&
         DecodeFileId(r, &o->file_id);
}

bool ReadLeaseAck(WireReader* r, LeaseBreakAck* a) {
  uint16_t reserved;
  uint64_t duration;
  return r->U16(&reserved) && r->U32(&a->flags) && r->Bytes(absl::MakeSpan(a->lease_key)) &&
         r->U32(&a->lease_state) && r->U64(&duration);
}

}  // namespace

void EncodeOplockBreakAck(const OplockBreak& ack, WireWriter* w) {
  w->U16(kOplockSize);
  w->U8(ack.oplock_level);
  w->U8(0);   // Reserved
  w->U32(0);  // Reserved2
  EncodeFileId(ack.file_id, w);
}

void EncodeLeaseBreakAck(const LeaseBreakAck& ack, WireWriter* w) {
  w->U16(kLeaseAckSize);
  w->U16(0);  // Reserved
  w->U32(ack.flags);
  w->Bytes(absl::MakeConstSpan(ack.lease_key));
  w->U32(ack.lease_state);
  w->U64(0);  // LeaseDuration
}

absl::StatusOr<BreakNotification> DecodeBreakNotification(WireReader r) {
  constexpr absl::string_view kWhat = "OPLOCK_BREAK notification";
  uint16_t size;
  if (!ReadStructureSize(&r, &size)) return r.Error(kWhat);
  BreakNotification n;
  if (size == kOplockSize) {
    if (!ReadOplock(&r, &n.oplock)) return r.Error(kWhat);
    return n;
  }
  if (size != kLeaseNotificationSize) {
    return BadField(kWhat, "StructureSize", size, "is neither 24 (oplock) nor 44 (lease)");
  }
  n.is_lease = true;
  LeaseBreakNotification& l = n.lease;
  if (!r.U16(&l.new_epoch) || !r.U32(&l.flags) || !r.Bytes(absl::MakeSpan(l.lease_key)) ||
      !r.U32(&l.current_lease_state) || !r.U32(&l.new_lease_state) || !r.U32(&l.break_reason) ||
      !r.U32(&l.access_mask_hint) || !r.U32(&l.share_mask_hint)) {
    return r.Error(kWhat);
  }
  return n;
}

absl::StatusOr<BreakResponse> DecodeBreakResponse(WireReader r) {
  constexpr absl::string_view kWhat = "OPLOCK_BREAK response";
  uint16_t size;
  if (!ReadStructureSize(&r, &size)) return r.Error(kWhat);
  BreakResponse b;
  if (size == kOplockSize) {
    if (!ReadOplock(&r, &b.oplock)) return r.Error(kWhat);
    return b;
  }
  if (size != kLeaseAckSize) {
    return BadField(kWhat, "StructureSize", size, "is neither 24 (oplock) nor 36 (lease)");
  }
  b.is_lease = true;
  if (!ReadLeaseAck(&r, &b.lease)) return r.Error(kWhat);
  return b;
}

}  // namespace smbd
