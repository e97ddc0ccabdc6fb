#include "smb2/security/authenticator.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace smbd {

absl::StatusOr<Oid> ChooseMechanism(absl::Span<const uint8_t> negotiate_security_buffer,
                                    absl::Span<const Oid> ours) {
  if (ours.empty()) return absl::InvalidArgumentError("no client mechanisms");
  if (negotiate_security_buffer.empty()) return ours[0];
  SMBD_ASSIGN_OR_RETURN(NegTokenInit hint, ParseNegTokenInit(negotiate_security_buffer));
  if (hint.mech_types.empty()) return ours[0];
  for (const Oid& mine : ours) {
    for (const Oid& theirs : hint.mech_types) {
      if (mine == theirs) return mine;
    }
  }
  return absl::UnimplementedError(
      "the server offers no authentication mechanism this client implements (NTLMSSP)");
}

absl::StatusOr<Authenticator::Step> NtlmAuthenticator::Next(
    absl::Span<const uint8_t> server_token) {
  switch (state_) {
    case State::kStart: {
      const Oid mechs[] = {NtlmsspOid()};
      SMBD_RETURN_IF_ERROR(ChooseMechanism(server_token, mechs).status());
      SMBD_ASSIGN_OR_RETURN(std::vector<uint8_t> negotiate, ntlm_.Negotiate());
      state_ = State::kSentNegotiate;
      return Step{EncodeNegTokenInit(mechs, std::move(negotiate)), false};
    }
    case State::kSentNegotiate: {
      SMBD_ASSIGN_OR_RETURN(NegTokenResp resp, ParseNegTokenResp(server_token));
      if (resp.neg_state == NegState::kReject) {
        return absl::UnauthenticatedError("the server rejected NTLMSSP (SPNEGO negState reject)");
      }
      if (resp.supported_mech.has_value() && *resp.supported_mech != NtlmsspOid()) {
        return absl::UnimplementedError("the server selected a mechanism other than NTLMSSP");
      }
      if (!resp.response_token.has_value()) {
        return absl::DataLossError("SPNEGO response carries no NTLM CHALLENGE_MESSAGE");
      }
      SMBD_ASSIGN_OR_RETURN(std::vector<uint8_t> authenticate,
                            ntlm_.Authenticate(*resp.response_token));
      NegTokenResp out;
      out.response_token = std::move(authenticate);
      if (ntlm_.mic_included()) {
        // mechListMIC over the DER mechTypes list we sent, NTLM sequence number 0.
        const Oid mechs[] = {NtlmsspOid()};
        SMBD_ASSIGN_OR_RETURN(auto mic, ntlm_.SignClientMessage(EncodeMechTypeList(mechs), 0));
        out.mech_list_mic = std::vector<uint8_t>(mic.begin(), mic.end());
        sent_mech_list_mic_ = true;
      }
      state_ = State::kSentAuthenticate;
      return Step{EncodeNegTokenResp(out), false};
    }
    case State::kSentAuthenticate: {
      // Some servers end with an empty buffer on STATUS_SUCCESS.
      if (!server_token.empty()) {
        SMBD_ASSIGN_OR_RETURN(NegTokenResp resp, ParseNegTokenResp(server_token));
        if (resp.neg_state == NegState::kReject) {
          return absl::UnauthenticatedError("the server rejected the NTLM logon");
        }
        if (resp.neg_state.has_value() && resp.neg_state != NegState::kAcceptCompleted) {
          return absl::DataLossError(absl::StrCat(
              "unexpected SPNEGO negState ", static_cast<int>(*resp.neg_state),
              " after the NTLM AUTHENTICATE"));
        }
        if (resp.mech_list_mic.has_value()) {
          if (ntlm_.anonymous()) {
            return absl::UnauthenticatedError("mechListMIC on an anonymous logon");
          }
          const Oid mechs[] = {NtlmsspOid()};
          SMBD_RETURN_IF_ERROR(
              ntlm_.VerifyServerSignature(EncodeMechTypeList(mechs), *resp.mech_list_mic, 0));
        }
      }
      state_ = State::kDone;
      return Step{{}, true};
    }
    case State::kDone:
      break;
  }
  return absl::FailedPreconditionError("NtlmAuthenticator::Next after authentication finished");
}

}  // namespace smbd
