#include "smb2/security/algorithms.h"

#include "absl/strings/match.h"

namespace smbd {

std::optional<Cipher> CipherFromName(absl::string_view name) {
  for (Cipher c : {Cipher::kAes128Ccm, Cipher::kAes128Gcm, Cipher::kAes256Ccm, Cipher::kAes256Gcm}) {
    if (absl::EqualsIgnoreCase(name, CipherName(c))) return c;
  }
  return std::nullopt;
}

const char* CipherName(Cipher c) {
  switch (c) {
    case Cipher::kAes128Ccm:
      return "AES-128-CCM";
    case Cipher::kAes128Gcm:
      return "AES-128-GCM";
    case Cipher::kAes256Ccm:
      return "AES-256-CCM";
    case Cipher::kAes256Gcm:
      return "AES-256-GCM";
  }
  return "unknown cipher";
}

const char* SigningAlgorithmName(SigningAlgorithm a) {
  switch (a) {
    case SigningAlgorithm::kHmacSha256:
      return "HMAC-SHA256";
    case SigningAlgorithm::kAesCmac:
      return "AES-128-CMAC";
    case SigningAlgorithm::kAesGmac:
      return "AES-128-GMAC";
  }
  return "unknown signing algorithm";
}

}  // namespace smbd
