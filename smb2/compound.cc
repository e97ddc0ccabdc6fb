#include "smb2/compound.h"

#include "absl/strings/str_cat.h"

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
