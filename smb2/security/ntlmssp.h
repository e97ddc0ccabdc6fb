// NTLMSSP client ([MS-NLMP]): NEGOTIATE_MESSAGE, CHALLENGE_MESSAGE parsing, AUTHENTICATE_MESSAGE
// with an NTLMv2 response, the MIC, session key exchange (KEY_EXCH), flag negotiation, anonymous
// and guest logons, and the NTLM message signature SPNEGO's mechListMIC needs.
//
// MD4 (NTOWFv1) and RC4 (key exchange, signatures) come from OpenSSL's legacy provider, which is
// loaded on first use (FailedPrecondition if it is not installed). The CHALLENGE_MESSAGE is peer
// input: every field offset and length and every AV pair is bounds-checked, and a malformed
// message is kDataLoss. Passwords and keys live in SecretBytes and never appear in errors.
#ifndef SMBD_SMB2_SECURITY_NTLMSSP_H_
#define SMBD_SMB2_SECURITY_NTLMSSP_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "smb2/security/openssl_util.h"
#include "smb2/security/secret.h"

namespace smbd {

// [MS-NLMP] 2.2.2.5 NEGOTIATE flags.
namespace ntlm_flags {
inline constexpr uint32_t kUnicode = 0x00000001;
inline constexpr uint32_t kOem = 0x00000002;
inline constexpr uint32_t kRequestTarget = 0x00000004;
inline constexpr uint32_t kSign = 0x00000010;
inline constexpr uint32_t kSeal = 0x00000020;
inline constexpr uint32_t kLmKey = 0x00000080;
inline constexpr uint32_t kNtlm = 0x00000200;
inline constexpr uint32_t kAnonymous = 0x00000800;
inline constexpr uint32_t kAlwaysSign = 0x00008000;
inline constexpr uint32_t kTargetTypeDomain = 0x00010000;
inline constexpr uint32_t kTargetTypeServer = 0x00020000;
inline constexpr uint32_t kExtendedSessionSecurity = 0x00080000;
inline constexpr uint32_t kTargetInfo = 0x00800000;
inline constexpr uint32_t kVersion = 0x02000000;
inline constexpr uint32_t k128 = 0x20000000;
inline constexpr uint32_t kKeyExchange = 0x40000000;
inline constexpr uint32_t k56 = 0x80000000;
}  // namespace ntlm_flags

// [MS-NLMP] 2.2.2.1 AV_PAIR ids.
enum class AvId : uint16_t {
  kEol = 0,
  kNbComputerName = 1,
  kNbDomainName = 2,
  kDnsComputerName = 3,
  kDnsDomainName = 4,
  kDnsTreeName = 5,
  kFlags = 6,
  kTimestamp = 7,
  kSingleHost = 8,
  kTargetName = 9,
  kChannelBindings = 10,
};
inline constexpr uint32_t kMsvAvFlagMicProvided = 0x00000002;

struct AvPair {
  uint16_t id = 0;
  std::vector<uint8_t> value;
};

struct ChallengeMessage {
  uint32_t flags = 0;
  std::array<uint8_t, 8> server_challenge{};
  std::vector<uint8_t> target_name;  // as sent (UTF-16LE when UNICODE)
  std::vector<AvPair> target_info;   // in order, without the terminating MsvAvEOL
  std::optional<uint64_t> timestamp;  // MsvAvTimestamp (FILETIME)
  std::optional<uint32_t> av_flags;   // MsvAvFlags
  std::optional<std::array<uint8_t, 8>> version;
};

// [MS-NLMP] 2.2.1.2. kDataLoss (naming the field) for anything malformed.
absl::StatusOr<ChallengeMessage> ParseChallengeMessage(absl::Span<const uint8_t> message);

struct NtlmCredentials {
  std::string user;         // UTF-8; empty with an empty password = anonymous
  std::string domain;       // UTF-8, as typed (not upper-cased)
  SecretBytes password;     // UTF-8
  std::string workstation;  // UTF-8, may be empty

  // [MS-NLMP] 3.2.5.1.2 anonymous: empty user and password (an SMB null session).
  static NtlmCredentials Anonymous() { return NtlmCredentials(); }
  // A guest logon is an ordinary NTLMv2 logon as "Guest" with an empty password; the server
  // decides to map it to its guest account (SMB2_SESSION_FLAG_IS_GUEST).
  static NtlmCredentials Guest() {
    NtlmCredentials c;
    c.user = "Guest";
    return c;
  }
  bool anonymous() const { return user.empty() && password.empty(); }
};

struct NtlmOptions {
  // MsvAvTargetName to add to the NTLMv2 response (e.g. "cifs/server"); empty adds none.
  std::string target_spn;
  // The VERSION structure sent ([MS-NLMP] 2.2.2.10): 10.0 build 0, NTLMSSP_REVISION_W2K3.
  std::array<uint8_t, 8> version = {10, 0, 0, 0, 0, 0, 0, 0x0F};
  // Test hooks ([MS-NLMP] 4.2 fixes these values): the time used when the CHALLENGE has no
  // MsvAvTimestamp, the client challenge and the random session key.
  std::optional<uint64_t> time;
  std::optional<std::array<uint8_t, 8>> client_challenge;
  std::optional<std::array<uint8_t, 16>> random_session_key;
};

// The flags this client asks for in its NEGOTIATE_MESSAGE: UNICODE, REQUEST_TARGET, SIGN, SEAL,
// NTLM, ALWAYS_SIGN, EXTENDED_SESSIONSECURITY, VERSION, 128, KEY_EXCH, 56.
inline constexpr uint32_t kNtlmClientFlags =
    ntlm_flags::kUnicode | ntlm_flags::kRequestTarget | ntlm_flags::kSign | ntlm_flags::kSeal |
    ntlm_flags::kNtlm | ntlm_flags::kAlwaysSign | ntlm_flags::kExtendedSessionSecurity |
    ntlm_flags::kVersion | ntlm_flags::k128 | ntlm_flags::kKeyExchange | ntlm_flags::k56;

class NtlmClient {
 public:
  explicit NtlmClient(NtlmCredentials credentials, NtlmOptions options = {});

  // The NEGOTIATE_MESSAGE ([MS-NLMP] 2.2.1.1), 40 bytes.
  absl::StatusOr<std::vector<uint8_t>> Negotiate();
  // Parses the server's CHALLENGE_MESSAGE and returns the AUTHENTICATE_MESSAGE ([MS-NLMP]
  // 2.2.1.3, 3.1.5.1.2). Afterwards session_key() holds the ExportedSessionKey.
  absl::StatusOr<std::vector<uint8_t>> Authenticate(absl::Span<const uint8_t> challenge);

  // ExportedSessionKey: the SMB session key. Empty for an anonymous logon.
  const SecretBytes& session_key() const { return exported_session_key_; }
  bool anonymous() const { return credentials_.anonymous(); }
  // Whether the AUTHENTICATE carried a MIC (the server's target info had a timestamp).
  bool mic_included() const { return mic_included_; }
  uint32_t negotiated_flags() const { return negotiated_flags_; }

  // [MS-NLMP] 3.4.4.2 MAC (with extended session security) of a client message with sequence
  // number `seq`, as SPNEGO's mechListMIC uses it; and the check of a server MAC.
  absl::StatusOr<std::array<uint8_t, 16>> SignClientMessage(absl::Span<const uint8_t> message,
                                                            uint32_t seq);
  absl::Status VerifyServerSignature(absl::Span<const uint8_t> message,
                                     absl::Span<const uint8_t> signature, uint32_t seq);

 private:
  absl::Status InitSigning();

  NtlmCredentials credentials_;
  NtlmOptions options_;
  std::vector<uint8_t> negotiate_message_;
  SecretBytes exported_session_key_;
  bool mic_included_ = false;
  uint32_t negotiated_flags_ = 0;
  // Signing state, set up on first use ([MS-NLMP] 3.4.5.2, 3.4.5.3).
  SecretBytes client_sign_key_, server_sign_key_;
  security_internal::EvpCipherCtxPtr client_seal_, server_seal_;
};

// The NTLM computations, public for the known-answer tests ([MS-NLMP] 3.3.2, 3.4.5).
absl::StatusOr<std::vector<uint8_t>> Utf16Le(absl::string_view utf8);
absl::StatusOr<SecretBytes> NtOwfV1(const SecretBytes& password);
absl::StatusOr<SecretBytes> NtOwfV2(const SecretBytes& password, absl::string_view user,
                                    absl::string_view domain);
struct NtlmV2Result {
  std::array<uint8_t, 16> nt_proof_str{};
  std::vector<uint8_t> nt_challenge_response;  // NTProofStr || temp
  SecretBytes session_base_key;
};
// NTProofStr = HMAC_MD5(ResponseKeyNT, ServerChallenge || temp) and SessionBaseKey =
// HMAC_MD5(ResponseKeyNT, NTProofStr), with `temp` the client blob (0x01 0x01 Z(6) Time
// ClientChallenge Z(4) AvPairs Z(4)).
absl::StatusOr<NtlmV2Result> ComputeNtlmV2(const SecretBytes& response_key_nt,
                                           absl::Span<const uint8_t> server_challenge,
                                           absl::Span<const uint8_t> temp);
absl::StatusOr<std::vector<uint8_t>> Rc4(absl::Span<const uint8_t> key,
                                         absl::Span<const uint8_t> data);
// MIC = HMAC_MD5(ExportedSessionKey, NEGOTIATE || CHALLENGE || AUTHENTICATE with MIC zeroed).
absl::StatusOr<std::array<uint8_t, 16>> ComputeMic(const SecretBytes& exported_session_key,
                                                   absl::Span<const uint8_t> negotiate,
                                                   absl::Span<const uint8_t> challenge,
                                                   absl::Span<const uint8_t> authenticate);
// SIGNKEY / SEALKEY ([MS-NLMP] 3.4.5.2 / 3.4.5.3, 128-bit, extended session security).
absl::StatusOr<SecretBytes> NtlmSignKey(const SecretBytes& exported_session_key,
                                        bool client_to_server);
absl::StatusOr<SecretBytes> NtlmSealKey(const SecretBytes& exported_session_key,
                                        bool client_to_server);

}  // namespace smbd

#endif  // SMBD_SMB2_SECURITY_NTLMSSP_H_
