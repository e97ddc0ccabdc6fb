// SMB2 message signing ([MS-SMB2] 3.1.4.1 signing an outgoing message, 3.1.5.1 verifying an
// incoming one): HMAC-SHA256 for 2.0.2/2.1 (the first 16 bytes of the MAC), AES-128-CMAC for 3.x,
// AES-128-GMAC for 3.1.1 when SIGNING_CAPABILITIES negotiated it. All three through OpenSSL's
// EVP_MAC ("HMAC", "CMAC", "GMAC").
//
// A signature covers one SMB2 message: one member of a compound, from its header up to the next
// member's header, trailing padding included ([MS-SMB2] 3.1.4.1), with the 16-byte Signature
// field (header offset 48) taken as zero. The message is fed to the MAC piece by piece straight
// from its Bvecq slots; only the 64-byte header is copied (to zero its Signature field).
//
// Errors: a signature that does not match, or a message that should be signed and is not, is
// kUnauthenticated (the peer could not be authenticated: drop the message, fail its waiter). A
// message too short to hold an SMB2 header, or without the 0xFE 'S' 'M' 'B' protocol id, is
// kDataLoss when verifying (peer input) and kInvalidArgument when signing (our own bytes).
#ifndef SMBD_SMB2_SECURITY_SIGNING_H_
#define SMBD_SMB2_SECURITY_SIGNING_H_

#include <array>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "buffers/bvecq.h"
#include "smb2/security/algorithms.h"
#include "smb2/security/openssl_util.h"
#include "smb2/security/secret.h"

#include "smb2/constants.h"

namespace smbd {


using Smb2Signature = std::array<uint8_t, hdr::kSignatureSize>;

class Signer {
 public:
  // `key` is Session.SessionKey for HMAC-SHA256 (any non-empty length) and the 16-byte
  // Session.SigningKey / Channel.SigningKey for CMAC and GMAC.
  static absl::StatusOr<Signer> Create(SigningAlgorithm algorithm, absl::Span<const uint8_t> key);

  Signer(Signer&&) = default;
  Signer& operator=(Signer&&) = default;

  // Sets SMB2_FLAGS_SIGNED in the header, computes the signature of the message the iterator
  // covers (exactly one message) and writes it into the Signature field. The header may straddle
  // slots. Thread-safe (each call uses its own MAC context).
  absl::Status Sign(BvecqIter message) const;
  absl::Status Sign(absl::Span<uint8_t> message) const;

  // Checks that the message has SMB2_FLAGS_SIGNED set and that its Signature field matches
  // (compared in constant time). The message is not modified.
  absl::Status Verify(BvecqIter message) const;
  absl::Status Verify(absl::Span<const uint8_t> message) const;

  // The signature the message should carry (its current Signature field and SIGNED flag are
  // ignored: the flag is hashed as currently set).
  absl::StatusOr<Smb2Signature> Compute(BvecqIter message) const;

  SigningAlgorithm algorithm() const { return algorithm_; }

 private:
  Signer(SigningAlgorithm algorithm, SecretBytes key, security_internal::EvpMacPtr mac,
         security_internal::EvpMacCtxPtr keyed)
      : algorithm_(algorithm), key_(std::move(key)), mac_(std::move(mac)),
        keyed_(std::move(keyed)) {}

  // MAC over `header` (64 bytes, Signature field already zeroed) followed by the body.
  absl::Status Mac(absl::Span<const uint8_t> header, const BvecqIter* body_iter,
                   absl::Span<const uint8_t> body_span, Smb2Signature* out) const;

  SigningAlgorithm algorithm_;
  SecretBytes key_;
  security_internal::EvpMacPtr mac_;
  // HMAC and CMAC: a context keyed once, duplicated per message. GMAC (whose nonce changes per
  // message) keys a fresh context each time.
  security_internal::EvpMacCtxPtr keyed_;
};

}  // namespace smbd

#endif  // SMBD_SMB2_SECURITY_SIGNING_H_
