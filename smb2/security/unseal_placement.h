// Where an unsealer may decrypt part of a message straight into a caller's buffer: the data of
// an encrypted READ response, which would otherwise be decrypted into pool pages and copied
// again ([MS-SMB2] 3.2.5.1.1.1 decrypts the whole message; nothing says where the plaintext
// must go).
#ifndef SMBD_SMB2_SECURITY_UNSEAL_PLACEMENT_H_
#define SMBD_SMB2_SECURITY_UNSEAL_PLACEMENT_H_

#include <cstddef>
#include <cstdint>
#include <functional>

#include "absl/types/span.h"

namespace smbd {

struct PlacedRange {
  uint64_t offset = 0;      // in the plaintext
  absl::Span<uint8_t> dst;  // empty: no placement
};

struct UnsealPlacement {
  // Plaintext bytes `choose` needs to see (a message shorter than this is not placed).
  size_t peek = 0;
  // Called once with the first `peek` plaintext bytes, before the tag is checked (they are only
  // looked at, never trusted: a wrong answer at worst writes unverified bytes into the caller's
  // buffer of a request that then fails). The range must lie after the peeked bytes and inside
  // the message, or it is ignored.
  std::function<PlacedRange(absl::Span<const uint8_t> head)> choose;
};

}  // namespace smbd

#endif  // SMBD_SMB2_SECURITY_UNSEAL_PLACEMENT_H_
