#include "smb2/security/preauth.h"

#include <openssl/evp.h>

#include "smb2/security/openssl_util.h"

namespace smbd {
namespace {

using security_internal::EvpMdCtxPtr;
using security_internal::OpenSslError;

// SHA-512 is fetched once; EVP_MD objects are immutable and safe to share between threads.
const EVP_MD* Sha512() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA512", nullptr);
  return md;
}

template <typename Feed>
absl::Status Chain(PreauthHashValue* hash, Feed feed) {
  const EVP_MD* md = Sha512();
  if (md == nullptr) return OpenSslError("EVP_MD_fetch(SHA512)");
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr || EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1) {
    return OpenSslError("EVP_DigestInit_ex2(SHA512)");
  }
  if (EVP_DigestUpdate(ctx.get(), hash->data(), hash->size()) != 1 || !feed(ctx.get())) {
    return OpenSslError("EVP_DigestUpdate(SHA512)");
  }
  PreauthHashValue next;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), next.data(), &len) != 1 || len != next.size()) {
    return OpenSslError("EVP_DigestFinal_ex(SHA512)");
  }
  *hash = next;  // only replaced once the whole update succeeded
  return absl::OkStatus();
}

}  // namespace

absl::Status PreauthHashUpdate(PreauthHashValue* hash, absl::Span<const uint8_t> message) {
  return Chain(hash, [&](EVP_MD_CTX* ctx) {
    return EVP_DigestUpdate(ctx, message.data(), message.size()) == 1;
  });
}

absl::Status PreauthHashUpdate(PreauthHashValue* hash, BvecqIter message) {
  return Chain(hash, [&](EVP_MD_CTX* ctx) {
    while (message.remaining() > 0) {
      absl::Span<uint8_t> piece = message.Peek();
      if (EVP_DigestUpdate(ctx, piece.data(), piece.size()) != 1) return false;
      if (!message.Advance(piece.size()).ok()) return false;
    }
    return true;
  });
}

}  // namespace smbd
