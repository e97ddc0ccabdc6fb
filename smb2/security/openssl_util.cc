#include "smb2/security/openssl_util.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace smbd {
namespace security_internal {

absl::Status OpenSslError(absl::string_view what) {
  const unsigned long code = ERR_get_error();  // NOLINT(runtime/int): OpenSSL's type
  std::string reason;
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    reason = absl::StrCat(": ", buf);
  }
  ERR_clear_error();
  return absl::InternalError(absl::StrCat("OpenSSL ", what, " failed", reason));
}

namespace {
// Kept reachable so that leak checkers see the loaded providers as live, not leaked.
OSSL_PROVIDER* g_legacy_provider = nullptr;
OSSL_PROVIDER* g_default_provider = nullptr;
}  // namespace

absl::Status EnsureLegacyProvider() {
  // Function-local statics initialise once even with concurrent callers. The providers stay
  // loaded for the life of the process (they are never unloaded: other threads may be using
  // algorithms fetched from them).
  static const absl::Status* const status = [] {
    OSSL_PROVIDER* legacy = OSSL_PROVIDER_load(nullptr, "legacy");
    g_legacy_provider = legacy;
    if (legacy == nullptr) {
      ERR_clear_error();
      return new absl::Status(absl::FailedPreconditionError(
          "OpenSSL's legacy provider (legacy.so, needed for NTLM's MD4 and RC4) could not be "
          "loaded; install it or set OPENSSL_MODULES"));
    }
    OSSL_PROVIDER* deflt = OSSL_PROVIDER_load(nullptr, "default");
    g_default_provider = deflt;
    if (deflt == nullptr) {
      ERR_clear_error();
      return new absl::Status(
          absl::FailedPreconditionError("OpenSSL's default provider could not be loaded"));
    }
    return new absl::Status();
  }();
  return *status;
}

absl::Status FetchCipher(const char* name, EvpCipherPtr* out) {
  out->reset(EVP_CIPHER_fetch(nullptr, name, nullptr));
  if (*out == nullptr) return OpenSslError(absl::StrCat("EVP_CIPHER_fetch(", name, ")"));
  return absl::OkStatus();
}

absl::Status FetchMac(const char* name, EvpMacPtr* out) {
  out->reset(EVP_MAC_fetch(nullptr, name, nullptr));
  if (*out == nullptr) return OpenSslError(absl::StrCat("EVP_MAC_fetch(", name, ")"));
  return absl::OkStatus();
}

absl::Status FetchDigest(const char* name, EvpMdPtr* out) {
  out->reset(EVP_MD_fetch(nullptr, name, nullptr));
  if (*out == nullptr) return OpenSslError(absl::StrCat("EVP_MD_fetch(", name, ")"));
  return absl::OkStatus();
}

absl::Status Digest(const char* name, absl::Span<const absl::Span<const uint8_t>> parts,
                    absl::Span<uint8_t> out) {
  EvpMdPtr md;
  absl::Status s = FetchDigest(name, &md);
  if (!s.ok()) return s;
  if (out.size() != static_cast<size_t>(EVP_MD_get_size(md.get()))) {
    return absl::InvalidArgumentError(absl::StrCat(name, " output buffer has the wrong size"));
  }
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr || EVP_DigestInit_ex2(ctx.get(), md.get(), nullptr) != 1) {
    return OpenSslError("EVP_DigestInit_ex2");
  }
  for (absl::Span<const uint8_t> part : parts) {
    if (EVP_DigestUpdate(ctx.get(), part.data(), part.size()) != 1) {
      return OpenSslError("EVP_DigestUpdate");
    }
  }
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1) {
    return OpenSslError("EVP_DigestFinal_ex");
  }
  return absl::OkStatus();
}

absl::Status Hmac(const char* digest, absl::Span<const uint8_t> key,
                  absl::Span<const absl::Span<const uint8_t>> parts, absl::Span<uint8_t> out) {
  EvpMacPtr mac;
  absl::Status s = FetchMac("HMAC", &mac);
  if (!s.ok()) return s;
  EvpMacCtxPtr ctx(EVP_MAC_CTX_new(mac.get()));
  if (ctx == nullptr) return OpenSslError("EVP_MAC_CTX_new(HMAC)");
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest), 0),
      OSSL_PARAM_construct_end()};
  // An empty key is legal for HMAC (the anonymous NTLM case hashes with one); OpenSSL wants a
  // non-null pointer to tell "empty key" from "keep the previous key".
  static const uint8_t kEmpty[1] = {0};
  const uint8_t* key_data = key.empty() ? kEmpty : key.data();
  if (EVP_MAC_init(ctx.get(), key_data, key.size(), params) != 1) {
    return OpenSslError("EVP_MAC_init(HMAC)");
  }
  for (absl::Span<const uint8_t> part : parts) {
    if (EVP_MAC_update(ctx.get(), part.data(), part.size()) != 1) {
      return OpenSslError("EVP_MAC_update(HMAC)");
    }
  }
  uint8_t full[EVP_MAX_MD_SIZE];
  size_t len = 0;
  if (EVP_MAC_final(ctx.get(), full, &len, sizeof(full)) != 1) {
    return OpenSslError("EVP_MAC_final(HMAC)");
  }
  if (out.size() > len) {
    OPENSSL_cleanse(full, sizeof(full));
    return absl::InvalidArgumentError("HMAC output buffer is longer than the MAC");
  }
  std::memcpy(out.data(), full, out.size());
  OPENSSL_cleanse(full, sizeof(full));
  return absl::OkStatus();
}

}  // namespace security_internal
}  // namespace smbd
