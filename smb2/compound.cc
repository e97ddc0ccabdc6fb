#include "smb2/compound.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace smbd {

CompoundWriter::CompoundWriter(Bvecq* out, PagePool* pool, FragAllocator* frags)
    : w_(out, pool, frags) {}

WireWriter* CompoundWriter::Begin(SmbMessage* msg, bool related) {
  if (current_ != nullptr && status_.ok()) {
    status_ = absl::FailedPreconditionError("CompoundWriter: Begin before End of a member");
  }
  if (previous_ != nullptr) {
    // [MS-SMB2] 3.2.4.1.4: every member after the first starts on an 8-byte boundary, and the
    // previous header's NextCommand is the offset from it to this one.
    w_.Align(8);
    const uint64_t distance = w_.position() - previous_->wire_offset;
    w_.U32At(previous_->wire_offset + hdr::kNextCommand, static_cast<uint32_t>(distance));
    previous_->wire_length = distance;
  }
  current_ = msg;
  current_start_ = w_.position();
  msg->wire_offset = current_start_;
  msg->header.next_command = 0;
  if (related) {
    msg->header.flags |= kFlagRelatedOperations;
  } else {
    msg->header.flags &= ~kFlagRelatedOperations;
  }
  EncodeHeader(msg->header, &w_);
  ++members_;
  return &w_;
}

void CompoundWriter::End() {
  if (current_ == nullptr) {
    if (status_.ok()) status_ = absl::FailedPreconditionError("CompoundWriter: End without Begin");
    return;
  }
  current_->wire_length = w_.position() - current_start_;
  previous_ = current_;
  current_ = nullptr;
}

absl::Status CompoundWriter::Finish() {
  if (current_ != nullptr && status_.ok()) {
    status_ = absl::FailedPreconditionError("CompoundWriter: a member was not ended");
  }
  absl::Status s = w_.Finish();
  if (status_.ok()) status_ = s;
  return status_;
}

namespace {

absl::Status PatchU32(Bvecq* q, uint64_t at, uint32_t v) {
  uint8_t b[4];
  StoreLE<uint32_t>(b, v);
  absl::StatusOr<BvecqIter> it = q->Range(at, 4);
  if (!it.ok()) return it.status();
  it->CopyIn(b);
  return absl::OkStatus();
}

// Padding between members: never written to (signing and sealing only read it).
uint8_t kPadding[8] = {};

}  // namespace

absl::Status JoinCompound(SmbMessage* head) {
  if (head == nullptr) return absl::InvalidArgumentError("JoinCompound: no chain");
  if (!head->next || head->next->request.empty()) return absl::OkStatus();
  // First every member's own header, while its bytes are still its own.
  for (SmbMessage* m = head; m != nullptr; m = m->next.get()) {
    if (m->request.size() < kSmb2HeaderSize) {
      return absl::FailedPreconditionError(absl::StrCat(
          "JoinCompound: a ", CommandName(m->header.command), " member of ", m->request.size(),
          " bytes is not an encoded message"));
    }
    m->wire_length = m->request.size();
    if (m->next) m->wire_length = (m->wire_length + 7) & ~uint64_t{7};
    m->header.next_command = m->next ? static_cast<uint32_t>(m->wire_length) : 0;
    SMBD_RETURN_IF_ERROR(PatchU32(&m->request, hdr::kFlags, m->header.flags));
    SMBD_RETURN_IF_ERROR(PatchU32(&m->request, hdr::kNextCommand, m->header.next_command));
  }
  // Then the splice: the head's queue takes every member's slots, padding between.
  head->wire_offset = 0;
  uint64_t offset = 0;
  for (SmbMessage* m = head; m != nullptr; m = m->next.get()) {
    const uint64_t own = m->request.size();
    if (m != head) {
      m->wire_offset = offset;
      head->request.Splice(std::move(m->request));
    }
    if (m->wire_length > own) {
      SMBD_RETURN_IF_ERROR(head->request.AppendExternal(kPadding, m->wire_length - own));
    }
    offset += m->wire_length;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<CompoundMember>> CompoundReader::Next() {
  if (done_ || offset_ == frame_.size()) {
    done_ = true;
    return std::optional<CompoundMember>();
  }
  if (++count_ > kMaxMembers) {
    return absl::DataLossError(absl::StrCat("compound response: more than ", kMaxMembers,
                                            " members"));
  }
  absl::StatusOr<BvecqIter> it = frame_.Range(offset_, frame_.size() - offset_);
  if (!it.ok()) return it.status();
  WireReader r(*it);
  absl::StatusOr<Smb2Header> header = DecodeHeader(&r);
  if (!header.ok()) {
    return absl::Status(header.status().code(),
                        absl::StrCat("compound member ", count_, " at byte ", offset_, ": ",
                                     header.status().message()));
  }
  CompoundMember m;
  m.header = *header;
  m.offset = offset_;
  const uint64_t left = frame_.size() - offset_;
  const uint64_t next = header->next_command;
  if (next == 0) {
    m.length = left;
    done_ = true;
  } else {
    // 64-bit arithmetic on a peer-supplied offset: it must leave room for a header, keep the
    // 8-byte alignment, and stay inside the frame.
    if (next < kSmb2HeaderSize || next % 8 != 0 || next >= left) {
      return absl::DataLossError(absl::StrCat("compound member ", count_, " at byte ", offset_,
                                              ": NextCommand ", next, " is invalid (", left,
                                              " bytes left)"));
    }
    m.length = next;
    offset_ += next;
  }
  return std::optional<CompoundMember>(m);
}

}  // namespace smbd
