#include "smb2/security/algorithms.h"

namespace smbd {

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
