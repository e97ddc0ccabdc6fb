// SMB 3.x key derivation: the SP800-108 counter-mode KDF with HMAC-SHA256 ([MS-SMB2] 3.1.4.2),
// computed by OpenSSL's "KBKDF", and the session keys derived from it ([MS-SMB2] 3.2.5.3.1).
#ifndef SMBD_SMB2_SECURITY_KDF_H_
#define SMBD_SMB2_SECURITY_KDF_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "smb2/security/algorithms.h"
#include "smb2/security/secret.h"

namespace smbd {

// SP800-108 5.1 counter mode, PRF HMAC-SHA256, r = 32, the counter before the fixed input, and
// the fixed input formed as SMB forms it: Label || 0x00 || Context || [L]32 big-endian, with
// L = 8 * out_bytes. `label` and `context` are passed with any terminating NUL they carry
// ("SMB2AESCMAC\0" is 12 bytes). out_bytes is 1..64.
absl::StatusOr<SecretBytes> Sp800108HmacSha256(absl::Span<const uint8_t> key,
                                               absl::Span<const uint8_t> label,
                                               absl::Span<const uint8_t> context,
                                               size_t out_bytes);

// The same KDF with an opaque fixed input (no separator, no L appended), as NIST's CAVP
// KBKDF vectors define it; for tests of the primitive.
absl::StatusOr<SecretBytes> Sp800108HmacSha256Opaque(absl::Span<const uint8_t> key,
                                                     absl::Span<const uint8_t> fixed_input,
                                                     size_t out_bytes);

// The keys of one authenticated session, seen from the client.
struct SmbSessionKeys {
  SecretBytes signing;      // Session.SigningKey: 16 bytes
  SecretBytes encryption;   // Session.EncryptionKey: client -> server; 16 or 32 bytes
  SecretBytes decryption;   // Session.DecryptionKey: server -> client; 16 or 32 bytes
  SecretBytes application;  // Session.ApplicationKey: 16 bytes
};

// Derives a session's keys ([MS-SMB2] 3.2.5.3.1) from the key the authentication produced.
//
// `session_key` is the full GSS session key (Session.FullSessionKey: 16 bytes from NTLM, up to 32
// from Kerberos). Session.SessionKey is its first 16 bytes, right-padded with zeros when shorter
// ([MS-SMB2] 3.2.1.3).
//  - 2.0.2 / 2.1: no KDF; `signing` is Session.SessionKey (HMAC-SHA256 signing), the others are
//    empty. `cipher` is ignored.
//  - 3.0 / 3.0.2: labels "SMB2AESCMAC"/"SmbSign", "SMB2AESCCM"/"ServerIn " (client encrypts),
//    "SMB2AESCCM"/"ServerOut" (client decrypts), "SMB2APP"/"SmbRpc"; `cipher` must be AES-128
//    (these dialects only know AES-128-CCM, AES-128-GCM is accepted for 3.0.2 test setups).
//  - 3.1.1: labels "SMBSigningKey", "SMBC2SCipherKey", "SMBS2CCipherKey", "SMBAppKey" with the
//    64-byte `preauth_hash` (Session.PreauthIntegrityHashValue) as context.
// For AES-256-CCM/GCM the encryption and decryption keys are 32 bytes, derived with L = 256
// ([MS-SMB2] 3.1.4.2) from Session.FullSessionKey ([MS-SMB2] 3.2.5.3.1); the signing and
// application keys stay 16-byte keys derived with L = 128 from Session.SessionKey. (Samba derives
// them that way; Linux's cifs client hashes L = 256 into the signing key too. No published
// vector settles it: see the kdf_test for the L = 256 regression values.)
absl::StatusOr<SmbSessionKeys> DeriveSmbKeys(uint16_t dialect,
                                             absl::Span<const uint8_t> session_key,
                                             absl::Span<const uint8_t> preauth_hash,
                                             Cipher cipher);

}  // namespace smbd

#endif  // SMBD_SMB2_SECURITY_KDF_H_
