// What the connection needs from a session's security state: signing and sealing of outgoing
// messages and checking of incoming ones ([MS-SMB2] 3.2.4.1.1, 3.2.4.1.8, 3.2.5.1.1.1,
// 3.2.5.1.3). Implemented over smb2/security by the session once its keys exist.
#ifndef SMBD_SMB2_SESSION_SECURITY_H_
#define SMBD_SMB2_SESSION_SECURITY_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buffers/bvecq.h"
#include "buffers/page_pool.h"
#include "smb2/constants.h"
#include "smb2/header.h"
#include "smb2/security/unseal_placement.h"

namespace smbd {

class SessionSecurity {
 public:
  virtual ~SessionSecurity() = default;
  // Every request of the session is signed / the whole frame is encrypted.
  virtual bool signs() const = 0;
  virtual bool seals() const = 0;
  // Whether this request is signed. More than signs(): 3.1.1 signs every TREE_CONNECT of an
  // authenticated session even when signing is otherwise off ([MS-SMB2] 3.2.4.1.1).
  virtual bool SignsRequest(Command command) const { return signs(); }
  // Whether an unsigned answer to a request this signed is accepted anyway (its proof comes
  // later). Only a channel binding's intermediate SESSION_SETUP answer is: ksmbd leaves it
  // unsigned, and the final answer, signed with the new channel's key, proves the server.
  virtual bool AcceptsUnsignedAnswer(const Smb2Header& answer) const { return false; }
  // Signs one member in place (its SIGNED flag already set): `member` covers its bytes.
  virtual absl::Status Sign(BvecqIter member) = 0;
  // Verifies one response member's signature.
  virtual absl::Status Verify(BvecqIter member) = 0;
  // Encrypts a whole frame (one or more members) into a transform message. With `frags`, the
  // transform header and the start of the ciphertext go into the rest of that allocator's
  // page (a small request does not take a page of its own); null: whole pool pages.
  virtual absl::StatusOr<Bvecq> Seal(const Bvecq& frame, PagePool* pool, FragAllocator* frags) = 0;
  // Decrypts a transform message after checking its tag; nothing is returned unverified.
  virtual absl::StatusOr<Bvecq> Unseal(const Bvecq& transformed, PagePool* pool) = 0;
  // Unseal, decrypting the range `placement` picks straight into a caller's buffer (a READ's
  // destination) instead of pool pages, and the rest into fragments from `frags` (null: whole
  // pool pages). The default ignores both.
  virtual absl::StatusOr<Bvecq> UnsealPlaced(const Bvecq& transformed, PagePool* pool,
                                             const UnsealPlacement& placement,
                                             FragAllocator* frags) {
    return Unseal(transformed, pool);
  }
};

}  // namespace smbd

#endif  // SMBD_SMB2_SESSION_SECURITY_H_
