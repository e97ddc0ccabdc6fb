#include "smb2/security/signing.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "buffers/wire.h"

namespace smbd {
namespace {

using security_internal::EvpMacCtxPtr;
using security_internal::EvpMacPtr;
using security_internal::OpenSslError;


struct HeaderFields {
  uint32_t flags = 0;
  uint16_t command = 0;
  uint64_t message_id = 0;
};

// Reads the fields signing needs from a 64-byte header copy, through the bounds-checked reader.
absl::StatusOr<HeaderFields> ParseHeader(absl::Span<const uint8_t> header, bool peer_input) {
  auto error = [&](absl::string_view what) {
    return peer_input ? absl::DataLossError(what) : absl::InvalidArgumentError(what);
  };
  WireReader r(header);
  uint8_t protocol[4];
  HeaderFields f;
  if (!r.Bytes(absl::MakeSpan(protocol)) || !r.Skip(hdr::kCommand - 4) ||
      !r.U16(&f.command) || !r.Skip(hdr::kFlags - hdr::kCommand - 2) ||
      !r.U32(&f.flags) || !r.Skip(hdr::kMessageId - hdr::kFlags - 4) ||
      !r.U64(&f.message_id)) {
    return error("SMB2 header shorter than 64 bytes");
  }
  if (std::memcmp(protocol, kSmb2ProtocolId, 4) != 0) {
    return error("not an SMB2 message (protocol id is not 0xFE 'S' 'M' 'B')");
  }
  return f;
}

// Copies the header out of the message (it may straddle slots).
absl::Status ReadHeader(BvecqIter it, absl::Span<uint8_t> header, bool peer_input) {
  if (it.remaining() < kSmb2HeaderSize) {
    const std::string what =
        absl::StrCat("SMB2 message of ", it.remaining(), " bytes is shorter than its header");
    return peer_input ? absl::DataLossError(what) : absl::InvalidArgumentError(what);
  }
  WireReader r(it);
  if (!r.Bytes(header)) return r.Error("SMB2 header");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Signer> Signer::Create(SigningAlgorithm algorithm, absl::Span<const uint8_t> key) {
  const char* mac_name = nullptr;
  switch (algorithm) {
    case SigningAlgorithm::kHmacSha256:
      mac_name = "HMAC";
      if (key.empty()) return absl::InvalidArgumentError("HMAC-SHA256 signing key is empty");
      break;
    case SigningAlgorithm::kAesCmac:
      mac_name = "CMAC";
      break;
    case SigningAlgorithm::kAesGmac:
      mac_name = "GMAC";
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown signing algorithm ", static_cast<int>(algorithm)));
  }
  if (algorithm != SigningAlgorithm::kHmacSha256 && key.size() != 16) {
    return absl::InvalidArgumentError(absl::StrCat(SigningAlgorithmName(algorithm),
                                                   " needs a 16-byte key, got ", key.size()));
  }
  EvpMacPtr mac;
  SMBD_RETURN_IF_ERROR(security_internal::FetchMac(mac_name, &mac));
  EvpMacCtxPtr keyed;
  if (algorithm != SigningAlgorithm::kAesGmac) {
    keyed.reset(EVP_MAC_CTX_new(mac.get()));
    if (keyed == nullptr) return OpenSslError("EVP_MAC_CTX_new");
    OSSL_PARAM params[2];
    if (algorithm == SigningAlgorithm::kHmacSha256) {
      params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                   const_cast<char*>("SHA256"), 0);
    } else {
      params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER,
                                                   const_cast<char*>("AES-128-CBC"), 0);
    }
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_MAC_init(keyed.get(), key.data(), key.size(), params) != 1) {
      return OpenSslError(absl::StrCat("EVP_MAC_init(", mac_name, ")"));
    }
  }
  return Signer(algorithm, SecretBytes(key), std::move(mac), std::move(keyed));
}

absl::Status Signer::Mac(absl::Span<const uint8_t> header, const BvecqIter* body_iter,
                         absl::Span<const uint8_t> body_span, Smb2Signature* out) const {
  EvpMacCtxPtr ctx;
  if (algorithm_ == SigningAlgorithm::kAesGmac) {
    // [MS-SMB2] 3.1.4.1: the 12-byte nonce is the MessageId (8 bytes, little-endian as in the
    // header) followed by a 32-bit little-endian word whose bit 0 is set when the sender is the
    // server (SMB2_FLAGS_SERVER_TO_REDIR) and bit 1 when the message is an SMB2 CANCEL request.
    SMBD_ASSIGN_OR_RETURN(HeaderFields fields, ParseHeader(header, /*peer_input=*/true));
    uint8_t nonce[12];
    std::memcpy(nonce, header.data() + hdr::kMessageId, 8);
    uint32_t word = 0;
    if (fields.flags & kFlagServerToRedir) word |= 0x1;
    if (fields.command == static_cast<uint16_t>(Command::kCancel) && !(fields.flags & kFlagServerToRedir)) {
      word |= 0x2;
    }
    StoreLE<uint32_t>(nonce + 8, word);
    ctx.reset(EVP_MAC_CTX_new(mac_.get()));
    if (ctx == nullptr) return OpenSslError("EVP_MAC_CTX_new(GMAC)");
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, const_cast<char*>("AES-128-GCM"),
                                         0),
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_IV, nonce, sizeof(nonce)),
        OSSL_PARAM_construct_end()};
    if (EVP_MAC_init(ctx.get(), key_.data(), key_.size(), params) != 1) {
      return OpenSslError("EVP_MAC_init(GMAC)");
    }
  } else {
    ctx.reset(EVP_MAC_CTX_dup(keyed_.get()));
    if (ctx == nullptr) return OpenSslError("EVP_MAC_CTX_dup");
  }
  if (EVP_MAC_update(ctx.get(), header.data(), header.size()) != 1) {
    return OpenSslError("EVP_MAC_update");
  }
  if (body_iter != nullptr) {
    BvecqIter it = *body_iter;
    while (it.remaining() > 0) {
      absl::Span<uint8_t> piece = it.Peek();
      if (EVP_MAC_update(ctx.get(), piece.data(), piece.size()) != 1) {
        return OpenSslError("EVP_MAC_update");
      }
      SMBD_RETURN_IF_ERROR(it.Advance(piece.size()));
    }
  } else if (!body_span.empty() &&
             EVP_MAC_update(ctx.get(), body_span.data(), body_span.size()) != 1) {
    return OpenSslError("EVP_MAC_update");
  }
  uint8_t mac[EVP_MAX_MD_SIZE];
  size_t len = 0;
  if (EVP_MAC_final(ctx.get(), mac, &len, sizeof(mac)) != 1 || len < hdr::kSignatureSize) {
    return OpenSslError("EVP_MAC_final");
  }
  // HMAC-SHA256 yields 32 bytes; SMB2 keeps the first 16 ([MS-SMB2] 3.1.4.1).
  std::memcpy(out->data(), mac, hdr::kSignatureSize);
  return absl::OkStatus();
}

absl::StatusOr<Smb2Signature> Signer::Compute(BvecqIter message) const {
  uint8_t header[kSmb2HeaderSize];
  SMBD_RETURN_IF_ERROR(ReadHeader(message, absl::MakeSpan(header), /*peer_input=*/true));
  SMBD_RETURN_IF_ERROR(ParseHeader(header, /*peer_input=*/true).status());
  std::memset(header + hdr::kSignature, 0, hdr::kSignatureSize);
  BvecqIter body = message;
  SMBD_RETURN_IF_ERROR(body.Advance(kSmb2HeaderSize));
  Smb2Signature sig;
  SMBD_RETURN_IF_ERROR(Mac(header, &body, {}, &sig));
  return sig;
}

absl::Status Signer::Sign(BvecqIter message) const {
  uint8_t header[kSmb2HeaderSize];
  SMBD_RETURN_IF_ERROR(ReadHeader(message, absl::MakeSpan(header), /*peer_input=*/false));
  SMBD_ASSIGN_OR_RETURN(HeaderFields fields, ParseHeader(header, /*peer_input=*/false));
  // SMB2_FLAGS_SIGNED is part of the signed bytes, so it is set before hashing.
  StoreLE<uint32_t>(header + hdr::kFlags, fields.flags | kFlagSigned);
  std::memset(header + hdr::kSignature, 0, hdr::kSignatureSize);
  BvecqIter body = message;
  SMBD_RETURN_IF_ERROR(body.Advance(kSmb2HeaderSize));
  Smb2Signature sig;
  SMBD_RETURN_IF_ERROR(Mac(header, &body, {}, &sig));
  BvecqIter flags_at = message;
  SMBD_RETURN_IF_ERROR(flags_at.Advance(hdr::kFlags));
  flags_at.CopyIn(absl::MakeConstSpan(header + hdr::kFlags, 4));
  BvecqIter sig_at = message;
  SMBD_RETURN_IF_ERROR(sig_at.Advance(hdr::kSignature));
  if (sig_at.CopyIn(sig) != sig.size()) {
    return absl::InternalError("could not write the SMB2 signature");
  }
  return absl::OkStatus();
}

absl::Status Signer::Sign(absl::Span<uint8_t> message) const {
  if (message.size() < kSmb2HeaderSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("SMB2 message of ", message.size(), " bytes is shorter than its header"));
  }
  SMBD_ASSIGN_OR_RETURN(HeaderFields fields,
                        ParseHeader(message.first(kSmb2HeaderSize), /*peer_input=*/false));
  StoreLE<uint32_t>(message.data() + hdr::kFlags, fields.flags | kFlagSigned);
  std::memset(message.data() + hdr::kSignature, 0, hdr::kSignatureSize);
  Smb2Signature sig;
  SMBD_RETURN_IF_ERROR(
      Mac(message.first(kSmb2HeaderSize), nullptr, message.subspan(kSmb2HeaderSize), &sig));
  std::memcpy(message.data() + hdr::kSignature, sig.data(), sig.size());
  return absl::OkStatus();
}

namespace {

absl::Status CheckSignature(const uint8_t* header, const Smb2Signature& computed,
                            SigningAlgorithm algorithm) {
  if (CRYPTO_memcmp(header + hdr::kSignature, computed.data(), hdr::kSignatureSize) != 0) {
    const uint64_t message_id = LoadLE<uint64_t>(header + hdr::kMessageId);
    const uint16_t command = LoadLE<uint16_t>(header + hdr::kCommand);
    return absl::UnauthenticatedError(
        absl::StrCat("SMB2 signature mismatch (", SigningAlgorithmName(algorithm),
                     ", command 0x", absl::Hex(command), ", MessageId ", message_id, ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckSignedFlag(const uint8_t* header) {
  const uint32_t flags = LoadLE<uint32_t>(header + hdr::kFlags);
  if (!(flags & kFlagSigned)) {
    return absl::UnauthenticatedError(absl::StrCat(
        "SMB2 message is not signed (SMB2_FLAGS_SIGNED clear), MessageId ",
        LoadLE<uint64_t>(header + hdr::kMessageId)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Signer::Verify(BvecqIter message) const {
  uint8_t header[kSmb2HeaderSize];
  SMBD_RETURN_IF_ERROR(ReadHeader(message, absl::MakeSpan(header), /*peer_input=*/true));
  SMBD_RETURN_IF_ERROR(ParseHeader(header, /*peer_input=*/true).status());
  SMBD_RETURN_IF_ERROR(CheckSignedFlag(header));
  uint8_t zeroed[kSmb2HeaderSize];
  std::memcpy(zeroed, header, sizeof(zeroed));
  std::memset(zeroed + hdr::kSignature, 0, hdr::kSignatureSize);
  BvecqIter body = message;
  SMBD_RETURN_IF_ERROR(body.Advance(kSmb2HeaderSize));
  Smb2Signature sig;
  SMBD_RETURN_IF_ERROR(Mac(zeroed, &body, {}, &sig));
  return CheckSignature(header, sig, algorithm_);
}

absl::Status Signer::Verify(absl::Span<const uint8_t> message) const {
  if (message.size() < kSmb2HeaderSize) {
    return absl::DataLossError(
        absl::StrCat("SMB2 message of ", message.size(), " bytes is shorter than its header"));
  }
  SMBD_RETURN_IF_ERROR(ParseHeader(message.first(kSmb2HeaderSize), /*peer_input=*/true).status());
  SMBD_RETURN_IF_ERROR(CheckSignedFlag(message.data()));
  uint8_t zeroed[kSmb2HeaderSize];
  std::memcpy(zeroed, message.data(), sizeof(zeroed));
  std::memset(zeroed + hdr::kSignature, 0, hdr::kSignatureSize);
  Smb2Signature sig;
  SMBD_RETURN_IF_ERROR(Mac(zeroed, nullptr, message.subspan(kSmb2HeaderSize), &sig));
  return CheckSignature(message.data(), sig, algorithm_);
}

}  // namespace smbd
