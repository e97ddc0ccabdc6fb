// Internal helpers over OpenSSL 3: owning pointers for EVP objects, error conversion, and the
// one-time loading of the providers the NTLM code needs. Not part of the package's API.
#ifndef SMBD_SMB2_SECURITY_OPENSSL_UTIL_H_
#define SMBD_SMB2_SECURITY_OPENSSL_UTIL_H_

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace smbd {
namespace security_internal {

struct EvpMdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct EvpMdFree {
  void operator()(EVP_MD* p) const { EVP_MD_free(p); }
};
struct EvpMacFree {
  void operator()(EVP_MAC* p) const { EVP_MAC_free(p); }
};
struct EvpMacCtxFree {
  void operator()(EVP_MAC_CTX* p) const { EVP_MAC_CTX_free(p); }
};
struct EvpCipherFree {
  void operator()(EVP_CIPHER* p) const { EVP_CIPHER_free(p); }
};
struct EvpCipherCtxFree {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
struct EvpKdfFree {
  void operator()(EVP_KDF* p) const { EVP_KDF_free(p); }
};
struct EvpKdfCtxFree {
  void operator()(EVP_KDF_CTX* p) const { EVP_KDF_CTX_free(p); }
};

using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, EvpMdCtxFree>;
using EvpMdPtr = std::unique_ptr<EVP_MD, EvpMdFree>;
using EvpMacPtr = std::unique_ptr<EVP_MAC, EvpMacFree>;
using EvpMacCtxPtr = std::unique_ptr<EVP_MAC_CTX, EvpMacCtxFree>;
using EvpCipherPtr = std::unique_ptr<EVP_CIPHER, EvpCipherFree>;
using EvpCipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, EvpCipherCtxFree>;
using EvpKdfPtr = std::unique_ptr<EVP_KDF, EvpKdfFree>;
using EvpKdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, EvpKdfCtxFree>;

// An Internal error naming the failed OpenSSL step and the first queued OpenSSL reason (which
// never contains key material); the thread's OpenSSL error queue is cleared.
absl::Status OpenSslError(absl::string_view what);

// Loads OpenSSL's "legacy" provider (MD4, RC4 live there in OpenSSL 3) and, because loading any
// provider explicitly stops the default one from being loaded implicitly, the "default" provider,
// into the default library context. Runs once per process, thread-safely; later calls return the
// first result. FailedPrecondition if the legacy provider is not installed.
absl::Status EnsureLegacyProvider();

// Fetches an algorithm, with a clear error when the providers lack it.
absl::Status FetchCipher(const char* name, EvpCipherPtr* out);
absl::Status FetchMac(const char* name, EvpMacPtr* out);
absl::Status FetchDigest(const char* name, EvpMdPtr* out);

// One-shot helpers for the small computations of NTLM and the KDF tests.
absl::Status Digest(const char* name, absl::Span<const absl::Span<const uint8_t>> parts,
                    absl::Span<uint8_t> out);
// HMAC with digest `digest` over the concatenation of `parts`; `out` receives the first
// out.size() bytes of the MAC.
absl::Status Hmac(const char* digest, absl::Span<const uint8_t> key,
                  absl::Span<const absl::Span<const uint8_t>> parts, absl::Span<uint8_t> out);

}  // namespace security_internal
}  // namespace smbd

#endif  // SMBD_SMB2_SECURITY_OPENSSL_UTIL_H_
