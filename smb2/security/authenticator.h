// The session-setup authentication loop's view of a security mechanism ([MS-SMB2] 3.2.4.2.3,
// 3.2.5.3): each SESSION_SETUP response's security buffer goes in, the next request's security
// buffer comes out, until the mechanism is done and a session key is known.
//
// Tokens are SPNEGO (RFC 4178). The first call takes the security buffer of the NEGOTIATE
// response (the server's NegTokenInit hint, possibly empty) and chooses the mechanism from the
// server's list; today NTLMSSP is the only one implemented, and the list is kept so that a
// Kerberos authenticator can be chosen the same way later (ChooseMechanism).
#ifndef SMBD_SMB2_SECURITY_AUTHENTICATOR_H_
#define SMBD_SMB2_SECURITY_AUTHENTICATOR_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "smb2/security/ntlmssp.h"
#include "smb2/security/secret.h"
#include "smb2/security/spnego.h"

namespace smbd {

class Authenticator {
 public:
  struct Step {
    // The next SESSION_SETUP request's security buffer; empty when there is nothing to send.
    std::vector<uint8_t> token;
    // The mechanism has finished (the server accepted); session_key() is final.
    bool done = false;
  };

  virtual ~Authenticator() = default;

  // First call: the NEGOTIATE response's security buffer (may be empty). Later calls: the
  // security buffer of each SESSION_SETUP response. kUnauthenticated if the server rejects,
  // kDataLoss for malformed tokens, kFailedPrecondition when called after done.
  virtual absl::StatusOr<Step> Next(absl::Span<const uint8_t> server_token) = 0;

  // The GSS session key (Session.FullSessionKey); empty for anonymous logons.
  virtual const SecretBytes& session_key() const = 0;
  // The client has sent its last token (NTLM: the AUTHENTICATE_MESSAGE), so session_key() is
  // known. A server that says STATUS_SUCCESS before this never checked who we are.
  virtual bool sent_final_token() const = 0;
  virtual bool anonymous() const = 0;
};

// The mechanisms the client can run, in preference order, intersected with what the server's
// NegTokenInit offers (an empty or absent list means "try ours"). Unimplemented if none fits.
absl::StatusOr<Oid> ChooseMechanism(absl::Span<const uint8_t> negotiate_security_buffer,
                                    absl::Span<const Oid> ours);

// NTLMSSP inside SPNEGO. Sends mechListMIC with the AUTHENTICATE when NTLM sent a MIC (as Windows
// does, [MS-SPNG] 3.1.5.1) and verifies the server's mechListMIC when it sends one.
class NtlmAuthenticator : public Authenticator {
 public:
  explicit NtlmAuthenticator(NtlmCredentials credentials, NtlmOptions options = {})
      : ntlm_(std::move(credentials), std::move(options)) {}

  absl::StatusOr<Step> Next(absl::Span<const uint8_t> server_token) override;
  const SecretBytes& session_key() const override { return ntlm_.session_key(); }
  bool sent_final_token() const override {
    return state_ == State::kSentAuthenticate || state_ == State::kDone;
  }
  bool anonymous() const override { return ntlm_.anonymous(); }

 private:
  enum class State { kStart, kSentNegotiate, kSentAuthenticate, kDone };
  NtlmClient ntlm_;
  State state_ = State::kStart;
  bool sent_mech_list_mic_ = false;
};

}  // namespace smbd

#endif  // SMBD_SMB2_SECURITY_AUTHENTICATOR_H_
