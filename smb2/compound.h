// Compound requests and responses ([MS-SMB2] 3.2.4.1.4, 3.3.5.2.7, 3.2.5.1.9).
//
// CompoundWriter encodes a chain of messages into ONE Bvecq: each member's header and body are
// written in sequence into shared pool pages, members after the first start 8-byte aligned,
// each NextCommand is the distance to the next header, and large payloads (WRITE data) are
// spliced in without copying. The chain can then be signed member by member and sent with one
// gathered send, or sealed once as a whole.
//
// CompoundReader walks a received frame member by member, validating every NextCommand.
#ifndef SMBD_SMB2_COMPOUND_H_
#define SMBD_SMB2_COMPOUND_H_

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buffers/bvecq.h"
#include "buffers/page_pool.h"
#include "buffers/wire.h"
#include "smb2/header.h"
#include "smb2/message.h"

namespace smbd {

class CompoundWriter {
 public:
  // Appends to `out` (normally the chain head's `request`), taking pages from `pool`.
  // With `frags`, the members' bytes are packed into that allocator's current page (WireWriter).
  CompoundWriter(Bvecq* out, PagePool* pool, FragAllocator* frags = nullptr);

  // Starts member `msg`: aligns, patches the previous member's NextCommand, writes msg->header
  // (NextCommand 0; RELATED set when `related`). Returns the writer for the body.
  WireWriter* Begin(SmbMessage* msg, bool related);
  // Ends the current member (records its wire_offset/wire_length).
  void End();
  // Returns the first error (overflow, pool exhaustion, a member left open).
  [[nodiscard]] absl::Status Finish();

  int members() const { return members_; }

 private:
  WireWriter w_;
  SmbMessage* current_ = nullptr;
  SmbMessage* previous_ = nullptr;
  uint64_t current_start_ = 0;
  int members_ = 0;
  absl::Status status_;
};

// Joins messages encoded on their own (each member's `request` holding just that member, as
// EncodeOne writes it) into one compound chain, as the seed splices smb_messages at submit
// ([MS-SMB2] 3.2.4.1.4): every member but the last is padded with zeros to 8 bytes and its
// NextCommand set to that padded length, its Flags field rewritten from header.flags (set
// kFlagRelatedOperations there for related members), and its bytes moved (not copied) behind
// the head's, in head->request; wire_offset and wire_length say where each member lies. A
// chain whose members after the head carry no bytes of their own (CompoundWriter's output) is
// left as it is. Connection::Submit calls this.
absl::Status JoinCompound(SmbMessage* head);

// One member of a received compound: its header and its bytes within the frame.
struct CompoundMember {
  Smb2Header header;
  uint64_t offset = 0;  // of the member's header within the frame
  uint64_t length = 0;  // up to the next member (padding included), or to the frame's end
};

class CompoundReader {
 public:
  // `frame` is one decrypted SMB2 frame (no transport framing).
  explicit CompoundReader(const Bvecq& frame) : frame_(frame) {}

  // The next member, std::nullopt after the last, or an error for a malformed chain: a
  // NextCommand that is not 8-aligned, below a header, or past the frame; too many members.
  absl::StatusOr<std::optional<CompoundMember>> Next();

  // Members are bounded: a frame cannot hold more than this many (64 bytes each at least).
  static constexpr int kMaxMembers = 1024;

 private:
  const Bvecq& frame_;
  uint64_t offset_ = 0;
  int count_ = 0;
  bool done_ = false;
};

}  // namespace smbd

#endif  // SMBD_SMB2_COMPOUND_H_
