// Identifiers that the security layer shares with the rest of smb2/: dialect revisions, the
// encryption ciphers of the ENCRYPTION_CAPABILITIES negotiate context and the signing
// algorithms of the SIGNING_CAPABILITIES context. Values are the wire values.
#ifndef SMBD_SMB2_SECURITY_ALGORITHMS_H_
#define SMBD_SMB2_SECURITY_ALGORITHMS_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"

#include "smb2/constants.h"

namespace smbd {

// [MS-SMB2] 2.2.3 Dialects.

inline constexpr bool IsSmb3Dialect(uint16_t dialect) {
  return dialect == kDialect300 || dialect == kDialect302 || dialect == kDialect311;
}

// [MS-SMB2] 2.2.3.1.2 SMB2_ENCRYPTION_CAPABILITIES Ciphers. 3.0 and 3.0.2 always use
// AES-128-CCM (the TRANSFORM_HEADER's EncryptionAlgorithm field is 0x0001 there).
enum class Cipher : uint16_t {
  kAes128Ccm = 0x0001,
  kAes128Gcm = 0x0002,
  kAes256Ccm = 0x0003,
  kAes256Gcm = 0x0004,
};

inline constexpr bool IsValidCipher(Cipher c) {
  return c == Cipher::kAes128Ccm || c == Cipher::kAes128Gcm || c == Cipher::kAes256Ccm ||
         c == Cipher::kAes256Gcm;
}
inline constexpr bool IsAes256(Cipher c) {
  return c == Cipher::kAes256Ccm || c == Cipher::kAes256Gcm;
}
inline constexpr bool IsGcm(Cipher c) {
  return c == Cipher::kAes128Gcm || c == Cipher::kAes256Gcm;
}
// Key bytes of a cipher: 16 for AES-128, 32 for AES-256.
inline constexpr size_t CipherKeySize(Cipher c) { return IsAes256(c) ? 32 : 16; }
const char* CipherName(Cipher c);
// The cipher CipherName() names, in any case ("aes-128-gcm"); nullopt for anything else.
std::optional<Cipher> CipherFromName(absl::string_view name);

// Message signing algorithms. The values of the 3.x algorithms are those of [MS-SMB2]
// 2.2.3.1.7 SMB2_SIGNING_CAPABILITIES; HMAC-SHA256 is what 2.0.2/2.1 use ([MS-SMB2] 3.1.4.1).
enum class SigningAlgorithm : uint16_t {
  kHmacSha256 = 0x0000,
  kAesCmac = 0x0001,
  kAesGmac = 0x0002,
};
const char* SigningAlgorithmName(SigningAlgorithm a);

// The algorithm a dialect signs with when no SIGNING_CAPABILITIES context was negotiated
// ([MS-SMB2] 3.1.4.1): HMAC-SHA256 for 2.x, AES-128-CMAC for 3.x.
inline constexpr SigningAlgorithm DefaultSigningAlgorithm(uint16_t dialect) {
  return IsSmb3Dialect(dialect) ? SigningAlgorithm::kAesCmac : SigningAlgorithm::kHmacSha256;
}

}  // namespace smbd

#endif  // SMBD_SMB2_SECURITY_ALGORITHMS_H_
