// The SMB 3.1.1 pre-authentication integrity hash ([MS-SMB2] 3.2.5.2, 3.2.5.3.1): a SHA-512 chain
// H(n) = SHA-512(H(n-1) || message) over the NEGOTIATE request and response (the connection's
// value) and then over every SESSION_SETUP request and every SESSION_SETUP response except the
// final successful one (the session's value, which seeds the 3.1.1 key derivation).
#ifndef SMBD_SMB2_SECURITY_PREAUTH_H_
#define SMBD_SMB2_SECURITY_PREAUTH_H_

#include <array>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "buffers/bvecq.h"

namespace smbd {

inline constexpr size_t kPreauthHashSize = 64;
using PreauthHashValue = std::array<uint8_t, kPreauthHashSize>;

// One link of the chain: *hash = SHA-512(*hash || message). The message may be contiguous or
// the bytes a BvecqIter covers (hashed in place, slot by slot).
absl::Status PreauthHashUpdate(PreauthHashValue* hash, absl::Span<const uint8_t> message);
absl::Status PreauthHashUpdate(PreauthHashValue* hash, BvecqIter message);

// A chain value with its update operation. Starts at 64 zero bytes ([MS-SMB2] 3.2.5.2). A
// session's chain starts as a copy of its connection's value after NEGOTIATE (Fork()).
class PreauthIntegrity {
 public:
  PreauthIntegrity() { value_.fill(0); }
  explicit PreauthIntegrity(const PreauthHashValue& value) : value_(value) {}

  absl::Status Update(absl::Span<const uint8_t> message) {
    return PreauthHashUpdate(&value_, message);
  }
  absl::Status Update(BvecqIter message) { return PreauthHashUpdate(&value_, message); }

  PreauthIntegrity Fork() const { return PreauthIntegrity(value_); }
  const PreauthHashValue& value() const { return value_; }

 private:
  PreauthHashValue value_;
};

}  // namespace smbd

#endif  // SMBD_SMB2_SECURITY_PREAUTH_H_
