#include "smb2/security/ntlmssp.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <chrono>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "buffers/wire.h"

namespace smbd {
namespace {

using security_internal::EnsureLegacyProvider;
using security_internal::EvpCipherCtxPtr;
using security_internal::Hmac;
using security_internal::OpenSslError;

constexpr uint8_t kSignature[8] = {'N', 'T', 'L', 'M', 'S', 'S', 'P', 0};
constexpr uint32_t kTypeNegotiate = 1;
constexpr uint32_t kTypeChallenge = 2;
constexpr uint32_t kTypeAuthenticate = 3;
constexpr size_t kAuthenticateFixed = 64;  // through NegotiateFlags
constexpr size_t kVersionSize = 8;
constexpr size_t kMicSize = 16;
constexpr size_t kMicOffset = kAuthenticateFixed + kVersionSize;  // 72

using Span = absl::Span<const uint8_t>;

// Reads a (Len u16, MaxLen u16, BufferOffset u32) field descriptor and returns the bytes it
// names, checked against the whole message in 64-bit arithmetic.
absl::StatusOr<std::vector<uint8_t>> ReadField(WireReader* fields, const WireReader& whole,
                                               absl::string_view name) {
  uint16_t len = 0, max_len = 0;
  uint32_t offset = 0;
  if (!fields->U16(&len) || !fields->U16(&max_len) || !fields->U32(&offset)) {
    return fields->Error(absl::StrCat("CHALLENGE_MESSAGE ", name, " fields"));
  }
  std::vector<uint8_t> out(len);
  if (len == 0) return out;
  absl::StatusOr<WireReader> sub = whole.Sub(offset, len);
  if (!sub.ok()) {
    return absl::DataLossError(absl::StrCat("CHALLENGE_MESSAGE ", name, " [", offset, ", +", len,
                                            ") lies past the end of the ", whole.size(),
                                            "-byte message"));
  }
  if (!sub->Bytes(absl::MakeSpan(out))) return sub->Error(name);
  return out;
}

// [MS-NLMP] 2.2.2.1: AV pairs up to and including MsvAvEOL.
absl::Status ParseAvPairs(Span bytes, ChallengeMessage* out) {
  WireReader r(bytes);
  while (true) {
    uint16_t id = 0, len = 0;
    if (!r.U16(&id) || !r.U16(&len)) {
      return absl::DataLossError("CHALLENGE_MESSAGE TargetInfo ends without MsvAvEOL");
    }
    if (len > r.remaining()) {
      return absl::DataLossError(absl::StrCat("CHALLENGE_MESSAGE AV pair ", id, " of length ", len,
                                              " runs past the end of TargetInfo"));
    }
    if (id == static_cast<uint16_t>(AvId::kEol)) return absl::OkStatus();
    AvPair pair;
    pair.id = id;
    pair.value.resize(len);
    if (!r.Bytes(absl::MakeSpan(pair.value))) return r.Error("AV pair");
    if (id == static_cast<uint16_t>(AvId::kTimestamp)) {
      if (len != 8) return absl::DataLossError("MsvAvTimestamp is not 8 bytes");
      out->timestamp = LoadLE<uint64_t>(pair.value.data());
    } else if (id == static_cast<uint16_t>(AvId::kFlags)) {
      if (len != 4) return absl::DataLossError("MsvAvFlags is not 4 bytes");
      out->av_flags = LoadLE<uint32_t>(pair.value.data());
    }
    out->target_info.push_back(std::move(pair));
  }
}

void PutAvPair(std::vector<uint8_t>* out, uint16_t id, Span value) {
  uint8_t h[4];
  StoreLE<uint16_t>(h, id);
  StoreLE<uint16_t>(h + 2, static_cast<uint16_t>(value.size()));
  out->insert(out->end(), h, h + 4);
  out->insert(out->end(), value.begin(), value.end());
}

uint64_t NowFiletime() {
  // FILETIME: 100 ns ticks since 1601-01-01; the Unix epoch is 11644473600 s later.
  const auto since_unix = std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  return static_cast<uint64_t>(since_unix / 100) + 116444736000000000ull;
}

absl::Status RandomBytes(absl::Span<uint8_t> out) {
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) return OpenSslError("RAND_bytes");
  return absl::OkStatus();
}

absl::StatusOr<EvpCipherCtxPtr> NewRc4(Span key) {
  SMBD_RETURN_IF_ERROR(EnsureLegacyProvider());
  security_internal::EvpCipherPtr rc4;
  SMBD_RETURN_IF_ERROR(security_internal::FetchCipher("RC4", &rc4));
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  size_t keylen = key.size();
  OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_KEYLEN, &keylen),
                         OSSL_PARAM_construct_end()};
  if (ctx == nullptr || EVP_EncryptInit_ex2(ctx.get(), rc4.get(), nullptr, nullptr, params) != 1 ||
      EVP_EncryptInit_ex2(ctx.get(), nullptr, key.data(), nullptr, nullptr) != 1) {
    return OpenSslError("EVP_EncryptInit_ex2(RC4)");
  }
  return ctx;
}

absl::Status Rc4Update(EVP_CIPHER_CTX* ctx, Span in, uint8_t* out) {
  int outl = 0;
  if (EVP_EncryptUpdate(ctx, out, &outl, in.data(), static_cast<int>(in.size())) != 1 ||
      static_cast<size_t>(outl) != in.size()) {
    return OpenSslError("EVP_EncryptUpdate(RC4)");
  }
  return absl::OkStatus();
}

// [MS-NLMP] 3.4.4.2 MAC with extended session security and key exchange:
// Version 1 || RC4(SealingKey handle, HMAC_MD5(SigningKey, SeqNum || Message)[0..7]) || SeqNum.
absl::StatusOr<std::array<uint8_t, 16>> NtlmMac(const SecretBytes& sign_key, EVP_CIPHER_CTX* seal,
                                                Span message, uint32_t seq) {
  uint8_t seq_le[4];
  StoreLE<uint32_t>(seq_le, seq);
  uint8_t hmac[16];
  Span parts[] = {Span(seq_le, 4), message};
  SMBD_RETURN_IF_ERROR(Hmac("MD5", sign_key.span(), parts, absl::MakeSpan(hmac)));
  std::array<uint8_t, 16> sig{};
  StoreLE<uint32_t>(sig.data(), 1);
  SMBD_RETURN_IF_ERROR(Rc4Update(seal, Span(hmac, 8), sig.data() + 4));
  std::memcpy(sig.data() + 12, seq_le, 4);
  return sig;
}

}  // namespace

absl::StatusOr<std::vector<uint8_t>> Utf16Le(absl::string_view utf8) {
  std::vector<uint8_t> out;
  out.reserve(utf8.size() * 2);
  size_t i = 0;
  auto bad = [] { return absl::InvalidArgumentError("string is not valid UTF-8"); };
  while (i < utf8.size()) {
    const uint8_t c = static_cast<uint8_t>(utf8[i]);
    uint32_t cp = 0;
    size_t extra = 0;
    if (c < 0x80) {
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F;
      extra = 1;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F;
      extra = 2;
    } else if ((c & 0xF8) == 0xF0) {
      cp = c & 0x07;
      extra = 3;
    } else {
      return bad();
    }
    if (extra > 0 && i + extra >= utf8.size()) return bad();
    for (size_t k = 1; k <= extra; ++k) {
      const uint8_t cc = static_cast<uint8_t>(utf8[i + k]);
      if ((cc & 0xC0) != 0x80) return bad();
      cp = (cp << 6) | (cc & 0x3F);
    }
    i += extra + 1;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return bad();
    if (cp >= 0x10000) {
      cp -= 0x10000;
      const uint16_t hi = static_cast<uint16_t>(0xD800 | (cp >> 10));
      const uint16_t lo = static_cast<uint16_t>(0xDC00 | (cp & 0x3FF));
      out.push_back(static_cast<uint8_t>(hi));
      out.push_back(static_cast<uint8_t>(hi >> 8));
      out.push_back(static_cast<uint8_t>(lo));
      out.push_back(static_cast<uint8_t>(lo >> 8));
    } else {
      out.push_back(static_cast<uint8_t>(cp));
      out.push_back(static_cast<uint8_t>(cp >> 8));
    }
  }
  return out;
}

absl::StatusOr<SecretBytes> NtOwfV1(const SecretBytes& password) {
  SMBD_RETURN_IF_ERROR(EnsureLegacyProvider());
  absl::string_view pw(reinterpret_cast<const char*>(password.data()), password.size());
  absl::StatusOr<std::vector<uint8_t>> unicode = Utf16Le(pw);
  // The UTF-8 error names no content; the password itself never reaches a message.
  if (!unicode.ok()) return absl::InvalidArgumentError("password is not valid UTF-8");
  SecretBytes wide(*unicode);
  OPENSSL_cleanse(unicode->data(), unicode->size());
  SecretBytes out(16);
  Span parts[] = {wide.span()};
  SMBD_RETURN_IF_ERROR(security_internal::Digest("MD4", parts, out.mutable_span()));
  return out;
}

absl::StatusOr<SecretBytes> NtOwfV2(const SecretBytes& password, absl::string_view user,
                                    absl::string_view domain) {
  SMBD_ASSIGN_OR_RETURN(SecretBytes nt_hash, NtOwfV1(password));
  // [MS-NLMP] 3.3.2: UNICODE(Uppercase(User) || UserDom). Only ASCII letters are upper-cased
  // here (Windows applies its Unicode upcase table; non-ASCII user names may not match).
  std::string upper(user);
  for (char& ch : upper) {
    if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
  }
  SMBD_ASSIGN_OR_RETURN(std::vector<uint8_t> text, Utf16Le(absl::StrCat(upper, domain)));
  SecretBytes out(16);
  Span parts[] = {text};
  SMBD_RETURN_IF_ERROR(Hmac("MD5", nt_hash.span(), parts, out.mutable_span()));
  return out;
}

absl::StatusOr<NtlmV2Result> ComputeNtlmV2(const SecretBytes& response_key_nt,
                                           Span server_challenge, Span temp) {
  if (server_challenge.size() != 8) {
    return absl::InvalidArgumentError("server challenge must be 8 bytes");
  }
  NtlmV2Result r;
  Span proof_parts[] = {server_challenge, temp};
  SMBD_RETURN_IF_ERROR(
      Hmac("MD5", response_key_nt.span(), proof_parts, absl::MakeSpan(r.nt_proof_str)));
  r.nt_challenge_response.assign(r.nt_proof_str.begin(), r.nt_proof_str.end());
  r.nt_challenge_response.insert(r.nt_challenge_response.end(), temp.begin(), temp.end());
  r.session_base_key = SecretBytes(16);
  Span key_parts[] = {r.nt_proof_str};
  SMBD_RETURN_IF_ERROR(
      Hmac("MD5", response_key_nt.span(), key_parts, r.session_base_key.mutable_span()));
  return r;
}

absl::StatusOr<std::vector<uint8_t>> Rc4(Span key, Span data) {
  SMBD_ASSIGN_OR_RETURN(EvpCipherCtxPtr ctx, NewRc4(key));
  std::vector<uint8_t> out(data.size());
  SMBD_RETURN_IF_ERROR(Rc4Update(ctx.get(), data, out.data()));
  return out;
}

absl::StatusOr<std::array<uint8_t, 16>> ComputeMic(const SecretBytes& exported_session_key,
                                                   Span negotiate, Span challenge,
                                                   Span authenticate) {
  if (authenticate.size() < kMicOffset + kMicSize) {
    return absl::InvalidArgumentError("AUTHENTICATE_MESSAGE too short to hold a MIC");
  }
  std::vector<uint8_t> zeroed(authenticate.begin(), authenticate.end());
  std::memset(zeroed.data() + kMicOffset, 0, kMicSize);
  std::array<uint8_t, 16> mic{};
  Span parts[] = {negotiate, challenge, zeroed};
  SMBD_RETURN_IF_ERROR(Hmac("MD5", exported_session_key.span(), parts, absl::MakeSpan(mic)));
  return mic;
}

namespace {

// The magic constants of [MS-NLMP] 3.4.5.2 / 3.4.5.3, each with its terminating NUL.
constexpr char kClientSignMagic[] = "session key to client-to-server signing key magic constant";
constexpr char kServerSignMagic[] = "session key to server-to-client signing key magic constant";
constexpr char kClientSealMagic[] = "session key to client-to-server sealing key magic constant";
constexpr char kServerSealMagic[] = "session key to server-to-client sealing key magic constant";

absl::StatusOr<SecretBytes> KeyFromMagic(const SecretBytes& key, const char* magic,
                                         size_t magic_size) {
  SecretBytes out(16);
  Span parts[] = {key.span(), Span(reinterpret_cast<const uint8_t*>(magic), magic_size)};
  SMBD_RETURN_IF_ERROR(security_internal::Digest("MD5", parts, out.mutable_span()));
  return out;
}

}  // namespace

absl::StatusOr<SecretBytes> NtlmSignKey(const SecretBytes& exported_session_key,
                                        bool client_to_server) {
  return client_to_server
             ? KeyFromMagic(exported_session_key, kClientSignMagic, sizeof(kClientSignMagic))
             : KeyFromMagic(exported_session_key, kServerSignMagic, sizeof(kServerSignMagic));
}

absl::StatusOr<SecretBytes> NtlmSealKey(const SecretBytes& exported_session_key,
                                        bool client_to_server) {
  return client_to_server
             ? KeyFromMagic(exported_session_key, kClientSealMagic, sizeof(kClientSealMagic))
             : KeyFromMagic(exported_session_key, kServerSealMagic, sizeof(kServerSealMagic));
}

absl::StatusOr<ChallengeMessage> ParseChallengeMessage(Span message) {
  WireReader r(message);
  uint8_t signature[8];
  uint32_t type = 0;
  if (!r.Bytes(absl::MakeSpan(signature))) return r.Error("CHALLENGE_MESSAGE signature");
  if (std::memcmp(signature, kSignature, 8) != 0) {
    return absl::DataLossError("not an NTLMSSP message (signature is not \"NTLMSSP\\0\")");
  }
  if (!r.U32(&type)) return r.Error("CHALLENGE_MESSAGE MessageType");
  if (type != kTypeChallenge) {
    return absl::DataLossError(
        absl::StrCat("expected an NTLMSSP CHALLENGE_MESSAGE (type 2), got type ", type));
  }
  ChallengeMessage out;
  // Fixed part ([MS-NLMP] 2.2.1.2): TargetNameFields, NegotiateFlags, ServerChallenge, Reserved,
  // TargetInfoFields, then Version when NEGOTIATE_VERSION is set.
  WireReader target_name_fields = r;
  if (!r.Skip(8) || !r.U32(&out.flags) || !r.Bytes(absl::MakeSpan(out.server_challenge)) ||
      !r.Skip(8)) {
    return r.Error("CHALLENGE_MESSAGE fixed fields");
  }
  WireReader target_info_fields = r;
  if (!r.Skip(8)) return r.Error("CHALLENGE_MESSAGE TargetInfoFields");
  SMBD_ASSIGN_OR_RETURN(out.target_name, ReadField(&target_name_fields, WireReader(message),
                                                   "TargetName"));
  SMBD_ASSIGN_OR_RETURN(std::vector<uint8_t> info, ReadField(&target_info_fields,
                                                             WireReader(message), "TargetInfo"));
  if (out.flags & ntlm_flags::kVersion) {
    std::array<uint8_t, 8> v;
    if (!r.Bytes(absl::MakeSpan(v))) return r.Error("CHALLENGE_MESSAGE Version");
    out.version = v;
  }
  if (!info.empty()) SMBD_RETURN_IF_ERROR(ParseAvPairs(info, &out));
  return out;
}

NtlmClient::NtlmClient(NtlmCredentials credentials, NtlmOptions options)
    : credentials_(std::move(credentials)), options_(std::move(options)) {}

absl::StatusOr<std::vector<uint8_t>> NtlmClient::Negotiate() {
  // [MS-NLMP] 2.2.1.1: no domain or workstation supplied (their flags are clear), Version last.
  std::vector<uint8_t> m(40);
  WireWriter w{absl::MakeSpan(m)};
  w.Bytes(Span(kSignature, 8));
  w.U32(kTypeNegotiate);
  w.U32(kNtlmClientFlags);
  w.U16(0);
  w.U16(0);
  w.U32(0);  // DomainNameFields
  w.U16(0);
  w.U16(0);
  w.U32(0);  // WorkstationFields
  w.Bytes(options_.version);
  SMBD_RETURN_IF_ERROR(w.Finish());
  negotiate_message_ = m;
  return m;
}

absl::StatusOr<std::vector<uint8_t>> NtlmClient::Authenticate(Span challenge_bytes) {
  if (negotiate_message_.empty()) {
    return absl::FailedPreconditionError("NtlmClient::Authenticate before Negotiate");
  }
  SMBD_RETURN_IF_ERROR(EnsureLegacyProvider());
  SMBD_ASSIGN_OR_RETURN(ChallengeMessage challenge, ParseChallengeMessage(challenge_bytes));
  if (!(challenge.flags & ntlm_flags::kUnicode)) {
    return absl::UnimplementedError("NTLM server does not offer UNICODE; OEM is not supported");
  }
  // Flags ([MS-NLMP] 3.1.5.1.2): what both sides support, plus the server's TARGET_INFO and our
  // REQUEST_TARGET (the [MS-NLMP] 4.2.4 example and Windows clients do the same).
  uint32_t flags = (kNtlmClientFlags & challenge.flags) |
                   (challenge.flags & ntlm_flags::kTargetInfo) | ntlm_flags::kRequestTarget;
  const bool anonymous = credentials_.anonymous();

  std::vector<uint8_t> lm_response, nt_response, encrypted_key;
  SecretBytes exported;
  bool with_mic = false;
  if (anonymous) {
    // [MS-NLMP] 3.2.5.1.2: NtChallengeResponse empty, LmChallengeResponse Z(1). No session key
    // is established (an SMB null session neither signs nor seals).
    flags |= ntlm_flags::kAnonymous;
    flags &= ~ntlm_flags::kKeyExchange;
    lm_response.assign(1, 0);
  } else {
    SMBD_ASSIGN_OR_RETURN(SecretBytes response_key,
                          NtOwfV2(credentials_.password, credentials_.user, credentials_.domain));
    std::array<uint8_t, 8> client_challenge;
    if (options_.client_challenge.has_value()) {
      client_challenge = *options_.client_challenge;
    } else {
      SMBD_RETURN_IF_ERROR(RandomBytes(absl::MakeSpan(client_challenge)));
    }
    // The server's timestamp when it sent one ([MS-NLMP] 3.1.5.1.2); then a MIC is due.
    const uint64_t time = challenge.timestamp.has_value()
                              ? *challenge.timestamp
                              : options_.time.value_or(NowFiletime());
    with_mic = challenge.timestamp.has_value();

    // The client's AV pairs: the server's, MsvAvFlags with MIC_PROVIDED when a MIC is sent, the
    // target SPN if configured, MsvAvEOL.
    std::vector<uint8_t> av;
    bool flags_written = false;
    for (const AvPair& p : challenge.target_info) {
      if (p.id == static_cast<uint16_t>(AvId::kFlags) && with_mic) {
        uint8_t v[4];
        StoreLE<uint32_t>(v, challenge.av_flags.value_or(0) | kMsvAvFlagMicProvided);
        PutAvPair(&av, p.id, v);
        flags_written = true;
      } else {
        PutAvPair(&av, p.id, p.value);
      }
    }
    if (with_mic && !flags_written) {
      uint8_t v[4];
      StoreLE<uint32_t>(v, kMsvAvFlagMicProvided);
      PutAvPair(&av, static_cast<uint16_t>(AvId::kFlags), v);
    }
    if (!options_.target_spn.empty()) {
      SMBD_ASSIGN_OR_RETURN(std::vector<uint8_t> spn, Utf16Le(options_.target_spn));
      PutAvPair(&av, static_cast<uint16_t>(AvId::kTargetName), spn);
    }
    PutAvPair(&av, static_cast<uint16_t>(AvId::kEol), {});

    // temp = 0x01 0x01 Z(6) Time ClientChallenge Z(4) AvPairs Z(4) ([MS-NLMP] 3.3.2).
    std::vector<uint8_t> temp = {0x01, 0x01, 0, 0, 0, 0, 0, 0};
    uint8_t t[8];
    StoreLE<uint64_t>(t, time);
    temp.insert(temp.end(), t, t + 8);
    temp.insert(temp.end(), client_challenge.begin(), client_challenge.end());
    temp.insert(temp.end(), 4, 0);
    temp.insert(temp.end(), av.begin(), av.end());
    temp.insert(temp.end(), 4, 0);
    SMBD_ASSIGN_OR_RETURN(NtlmV2Result v2,
                          ComputeNtlmV2(response_key, challenge.server_challenge, temp));
    nt_response = std::move(v2.nt_challenge_response);
    if (with_mic) {
      // With a server timestamp the LMv2 response is replaced by Z(24) ([MS-NLMP] 3.1.5.1.2).
      lm_response.assign(24, 0);
    } else {
      // LMv2 = HMAC_MD5(ResponseKeyLM, ServerChallenge || ClientChallenge) || ClientChallenge.
      lm_response.resize(16);
      Span parts[] = {challenge.server_challenge, client_challenge};
      SMBD_RETURN_IF_ERROR(
          Hmac("MD5", response_key.span(), parts, absl::MakeSpan(lm_response)));
      lm_response.insert(lm_response.end(), client_challenge.begin(), client_challenge.end());
    }
    // KeyExchangeKey = SessionBaseKey for NTLMv2 ([MS-NLMP] 3.4.5.1).
    SecretBytes key_exchange_key = std::move(v2.session_base_key);
    if (flags & ntlm_flags::kKeyExchange) {
      exported = SecretBytes(16);
      if (options_.random_session_key.has_value()) {
        std::memcpy(exported.data(), options_.random_session_key->data(), 16);
      } else {
        SMBD_RETURN_IF_ERROR(RandomBytes(exported.mutable_span()));
      }
      SMBD_ASSIGN_OR_RETURN(encrypted_key, Rc4(key_exchange_key.span(), exported.span()));
    } else {
      exported = std::move(key_exchange_key);
    }
  }

  SMBD_ASSIGN_OR_RETURN(std::vector<uint8_t> domain, Utf16Le(credentials_.domain));
  SMBD_ASSIGN_OR_RETURN(std::vector<uint8_t> user, Utf16Le(credentials_.user));
  SMBD_ASSIGN_OR_RETURN(std::vector<uint8_t> workstation, Utf16Le(credentials_.workstation));

  // [MS-NLMP] 2.2.1.3 layout; the payload order (Domain, User, Workstation, LM, NT, session key)
  // is the one of the 4.2.4.3 example and of Windows.
  const size_t header = kAuthenticateFixed + kVersionSize + (with_mic ? kMicSize : 0);
  const Span payloads[] = {lm_response, nt_response, domain, user, workstation, encrypted_key};
  const int order[] = {2, 3, 4, 0, 1, 5};
  uint32_t offsets[6] = {};
  size_t total = header;
  for (int i : order) {
    offsets[i] = static_cast<uint32_t>(total);
    total += payloads[i].size();
  }
  if (total > UINT32_MAX) return absl::InvalidArgumentError("AUTHENTICATE_MESSAGE too large");
  for (const Span& p : payloads) {
    if (p.size() > UINT16_MAX) {
      return absl::InvalidArgumentError("AUTHENTICATE_MESSAGE field longer than 65535 bytes");
    }
  }
  std::vector<uint8_t> m(total);
  WireWriter w{absl::MakeSpan(m)};
  w.Bytes(Span(kSignature, 8));
  w.U32(kTypeAuthenticate);
  for (int i = 0; i < 6; ++i) {
    w.U16(static_cast<uint16_t>(payloads[i].size()));
    w.U16(static_cast<uint16_t>(payloads[i].size()));
    w.U32(offsets[i]);
  }
  w.U32(flags);
  w.Bytes(options_.version);
  if (with_mic) w.Zeros(kMicSize);
  for (int i : order) w.Bytes(payloads[i]);
  SMBD_RETURN_IF_ERROR(w.Finish());

  if (with_mic) {
    using Mic = std::array<uint8_t, 16>;
    SMBD_ASSIGN_OR_RETURN(Mic mic, ComputeMic(exported, negotiate_message_, challenge_bytes, m));
    std::memcpy(m.data() + kMicOffset, mic.data(), mic.size());
  }
  exported_session_key_ = std::move(exported);
  mic_included_ = with_mic;
  negotiated_flags_ = flags;
  return m;
}

absl::Status NtlmClient::InitSigning() {
  if (client_seal_ != nullptr) return absl::OkStatus();
  if (exported_session_key_.empty()) {
    return absl::FailedPreconditionError("NTLM signing needs an authenticated, non-anonymous logon");
  }
  SMBD_ASSIGN_OR_RETURN(client_sign_key_, NtlmSignKey(exported_session_key_, true));
  SMBD_ASSIGN_OR_RETURN(server_sign_key_, NtlmSignKey(exported_session_key_, false));
  SMBD_ASSIGN_OR_RETURN(SecretBytes client_seal_key, NtlmSealKey(exported_session_key_, true));
  SMBD_ASSIGN_OR_RETURN(SecretBytes server_seal_key, NtlmSealKey(exported_session_key_, false));
  SMBD_ASSIGN_OR_RETURN(client_seal_, NewRc4(client_seal_key.span()));
  SMBD_ASSIGN_OR_RETURN(server_seal_, NewRc4(server_seal_key.span()));
  return absl::OkStatus();
}

absl::StatusOr<std::array<uint8_t, 16>> NtlmClient::SignClientMessage(Span message, uint32_t seq) {
  SMBD_RETURN_IF_ERROR(InitSigning());
  return NtlmMac(client_sign_key_, client_seal_.get(), message, seq);
}

absl::Status NtlmClient::VerifyServerSignature(Span message, Span signature, uint32_t seq) {
  SMBD_RETURN_IF_ERROR(InitSigning());
  using Mac = std::array<uint8_t, 16>;
  SMBD_ASSIGN_OR_RETURN(Mac expected, NtlmMac(server_sign_key_, server_seal_.get(), message, seq));
  if (signature.size() != expected.size() ||
      CRYPTO_memcmp(signature.data(), expected.data(), expected.size()) != 0) {
    return absl::UnauthenticatedError("NTLM message signature from the server does not verify");
  }
  return absl::OkStatus();
}

}  // namespace smbd
