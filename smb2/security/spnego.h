// SPNEGO (RFC 4178) tokens as SMB2 SESSION_SETUP carries them ([MS-SPNG], [MS-SMB2] 3.2.4.2.3),
// with a small DER encoder and a strict DER decoder.
//
//   InitialContextToken ::= [APPLICATION 0] { thisMech OID 1.3.6.1.5.5.2, NegotiationToken }
//   NegotiationToken    ::= CHOICE { negTokenInit [0] NegTokenInit, negTokenResp [1] NegTokenResp }
//   NegTokenInit        ::= SEQUENCE { mechTypes [0] SEQUENCE OF OID, reqFlags [1],
//                                      mechToken [2] OCTET STRING, mechListMIC [3] ... }
//   NegTokenResp        ::= SEQUENCE { negState [0] ENUMERATED, supportedMech [1] OID,
//                                      responseToken [2] OCTET STRING, mechListMIC [3] OCTET STRING }
// Servers send Microsoft's NegTokenInit2 ([MS-SPNG] 2.2.1: negHints [3], mechListMIC [4]); the
// parser reads mechTypes and mechToken and checks but skips the other fields.
//
// The decoder rejects (kDataLoss) indefinite lengths, lengths of more than four bytes, lengths
// past the enclosing element, high tag numbers, unexpected tags and trailing bytes.
#ifndef SMBD_SMB2_SECURITY_SPNEGO_H_
#define SMBD_SMB2_SECURITY_SPNEGO_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace smbd {

// An OBJECT IDENTIFIER as its DER content octets (without tag and length).
using Oid = std::vector<uint8_t>;

// 1.3.6.1.5.5.2 SPNEGO.
const Oid& SpnegoOid();
// 1.3.6.1.4.1.311.2.2.10 NTLMSSP.
const Oid& NtlmsspOid();
// 1.2.840.113554.1.2.2 Kerberos 5 and 1.2.840.48018.1.2.2 the Microsoft Kerberos 5 OID.
const Oid& KerberosOid();
const Oid& MsKerberosOid();
// 1.3.6.1.4.1.311.2.2.30 NEGOEX.
const Oid& NegoexOid();

struct NegTokenInit {
  std::vector<Oid> mech_types;
  std::optional<std::vector<uint8_t>> mech_token;
};

enum class NegState : uint8_t {
  kAcceptCompleted = 0,
  kAcceptIncomplete = 1,
  kReject = 2,
  kRequestMic = 3,
};

struct NegTokenResp {
  std::optional<NegState> neg_state;
  std::optional<Oid> supported_mech;
  std::optional<std::vector<uint8_t>> response_token;
  std::optional<std::vector<uint8_t>> mech_list_mic;
};

// The DER MechTypeList (SEQUENCE OF OID): what mechListMIC signs (RFC 4178 section 5).
std::vector<uint8_t> EncodeMechTypeList(absl::Span<const Oid> mech_types);

// The client's first token: InitialContextToken wrapping a NegTokenInit.
std::vector<uint8_t> EncodeNegTokenInit(absl::Span<const Oid> mech_types,
                                        const std::optional<std::vector<uint8_t>>& mech_token);
// Parses an InitialContextToken carrying a NegTokenInit (the NEGOTIATE response's security
// buffer; an empty mechTypes list is accepted).
absl::StatusOr<NegTokenInit> ParseNegTokenInit(absl::Span<const uint8_t> token);

// NegTokenResp ([1] NegTokenResp, not wrapped in an InitialContextToken).
std::vector<uint8_t> EncodeNegTokenResp(const NegTokenResp& resp);
absl::StatusOr<NegTokenResp> ParseNegTokenResp(absl::Span<const uint8_t> token);

}  // namespace smbd

#endif  // SMBD_SMB2_SECURITY_SPNEGO_H_
