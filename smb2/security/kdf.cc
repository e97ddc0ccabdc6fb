#include "smb2/security/kdf.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "base/status_macros.h"
#include "smb2/security/openssl_util.h"

namespace smbd {
namespace {

using security_internal::EvpKdfCtxPtr;
using security_internal::EvpKdfPtr;
using security_internal::OpenSslError;

absl::StatusOr<SecretBytes> Kbkdf(absl::Span<const uint8_t> key, absl::Span<const uint8_t> label,
                                  absl::Span<const uint8_t> context, bool smb_fixed_input,
                                  size_t out_bytes) {
  if (out_bytes == 0 || out_bytes > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("KDF output length ", out_bytes, " is outside 1..64 bytes"));
  }
  if (key.empty()) return absl::InvalidArgumentError("KDF key is empty");
  EvpKdfPtr kdf(EVP_KDF_fetch(nullptr, "KBKDF", nullptr));
  if (kdf == nullptr) return OpenSslError("EVP_KDF_fetch(KBKDF)");
  EvpKdfCtxPtr ctx(EVP_KDF_CTX_new(kdf.get()));
  if (ctx == nullptr) return OpenSslError("EVP_KDF_CTX_new(KBKDF)");

  // OpenSSL's KBKDF hashes [i]32 || salt || 0x00 || info || [L]32, where "salt" is SP800-108's
  // Label and "info" its Context; the separator and L can be switched off for opaque input.
  int use_separator = smb_fixed_input ? 1 : 0;
  int use_l = smb_fixed_input ? 1 : 0;
  static const uint8_t kEmpty[1] = {0};
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, const_cast<char*>("COUNTER"), 0),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, const_cast<char*>("HMAC"), 0),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(key.data()),
                                        key.size()),
      OSSL_PARAM_construct_octet_string(
          OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(label.empty() ? kEmpty : label.data()),
          label.size()),
      OSSL_PARAM_construct_octet_string(
          OSSL_KDF_PARAM_INFO, const_cast<uint8_t*>(context.empty() ? kEmpty : context.data()),
          context.size()),
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_KBKDF_USE_SEPARATOR, &use_separator),
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_KBKDF_USE_L, &use_l),
      OSSL_PARAM_construct_end()};
  SecretBytes out(out_bytes);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    return OpenSslError("EVP_KDF_derive(KBKDF)");
  }
  return out;
}

absl::Span<const uint8_t> Bytes(absl::string_view s) {
  return absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// Labels and contexts of [MS-SMB2] 3.2.5.3.1, each with its terminating NUL (sizeof includes it).
// Note the trailing space in "ServerIn ".
#define SMBD_KDF_STRING(name, text) \
  constexpr absl::string_view name(text, sizeof(text))
SMBD_KDF_STRING(kLabel30Signing, "SMB2AESCMAC");
SMBD_KDF_STRING(kContext30Signing, "SmbSign");
SMBD_KDF_STRING(kLabel30Cipher, "SMB2AESCCM");
SMBD_KDF_STRING(kContext30Encrypt, "ServerIn ");
SMBD_KDF_STRING(kContext30Decrypt, "ServerOut");
SMBD_KDF_STRING(kLabel30App, "SMB2APP");
SMBD_KDF_STRING(kContext30App, "SmbRpc");
SMBD_KDF_STRING(kLabel311Signing, "SMBSigningKey");
SMBD_KDF_STRING(kLabel311Encrypt, "SMBC2SCipherKey");
SMBD_KDF_STRING(kLabel311Decrypt, "SMBS2CCipherKey");
SMBD_KDF_STRING(kLabel311App, "SMBAppKey");
#undef SMBD_KDF_STRING

}  // namespace

absl::StatusOr<SecretBytes> Sp800108HmacSha256(absl::Span<const uint8_t> key,
                                               absl::Span<const uint8_t> label,
                                               absl::Span<const uint8_t> context,
                                               size_t out_bytes) {
  return Kbkdf(key, label, context, /*smb_fixed_input=*/true, out_bytes);
}

absl::StatusOr<SecretBytes> Sp800108HmacSha256Opaque(absl::Span<const uint8_t> key,
                                                     absl::Span<const uint8_t> fixed_input,
                                                     size_t out_bytes) {
  return Kbkdf(key, {}, fixed_input, /*smb_fixed_input=*/false, out_bytes);
}

absl::StatusOr<SmbSessionKeys> DeriveSmbKeys(uint16_t dialect,
                                             absl::Span<const uint8_t> session_key,
                                             absl::Span<const uint8_t> preauth_hash,
                                             Cipher cipher) {
  if (session_key.empty()) {
    return absl::FailedPreconditionError(
        "the session has no session key (anonymous or guest): nothing to derive keys from");
  }
  // [MS-SMB2] 3.2.1.3: Session.SessionKey is the first 16 bytes, zero-padded if shorter.
  SecretBytes full(session_key);
  SecretBytes session = full.Prefix(16);
  SmbSessionKeys keys;

  if (dialect == kDialect202 || dialect == kDialect210) {
    keys.signing = std::move(session);
    return keys;
  }
  if (!IsValidCipher(cipher)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown cipher id ", static_cast<int>(cipher), " for key derivation"));
  }
  const bool aes256 = IsAes256(cipher);
  const SecretBytes& cipher_kdk = aes256 ? full : session;
  const size_t cipher_bytes = CipherKeySize(cipher);

  if (dialect == kDialect300 || dialect == kDialect302) {
    if (aes256) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dialect 0x", absl::Hex(dialect), " cannot use ", CipherName(cipher)));
    }
    SMBD_ASSIGN_OR_RETURN(keys.signing, Sp800108HmacSha256(session.span(), Bytes(kLabel30Signing),
                                                           Bytes(kContext30Signing), 16));
    SMBD_ASSIGN_OR_RETURN(keys.encryption,
                          Sp800108HmacSha256(cipher_kdk.span(), Bytes(kLabel30Cipher),
                                             Bytes(kContext30Encrypt), cipher_bytes));
    SMBD_ASSIGN_OR_RETURN(keys.decryption,
                          Sp800108HmacSha256(cipher_kdk.span(), Bytes(kLabel30Cipher),
                                             Bytes(kContext30Decrypt), cipher_bytes));
    SMBD_ASSIGN_OR_RETURN(keys.application, Sp800108HmacSha256(session.span(), Bytes(kLabel30App),
                                                               Bytes(kContext30App), 16));
    return keys;
  }
  if (dialect == kDialect311) {
    if (preauth_hash.size() != 64) {
      return absl::InvalidArgumentError(absl::StrCat(
          "3.1.1 key derivation needs the 64-byte preauth integrity hash, got ",
          preauth_hash.size(), " bytes"));
    }
    SMBD_ASSIGN_OR_RETURN(keys.signing, Sp800108HmacSha256(session.span(), Bytes(kLabel311Signing),
                                                           preauth_hash, 16));
    SMBD_ASSIGN_OR_RETURN(keys.encryption, Sp800108HmacSha256(cipher_kdk.span(),
                                                              Bytes(kLabel311Encrypt),
                                                              preauth_hash, cipher_bytes));
    SMBD_ASSIGN_OR_RETURN(keys.decryption, Sp800108HmacSha256(cipher_kdk.span(),
                                                              Bytes(kLabel311Decrypt),
                                                              preauth_hash, cipher_bytes));
    SMBD_ASSIGN_OR_RETURN(keys.application,
                          Sp800108HmacSha256(session.span(), Bytes(kLabel311App), preauth_hash, 16));
    return keys;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown SMB2 dialect 0x", absl::Hex(dialect, absl::kZeroPad4)));
}

}  // namespace smbd
