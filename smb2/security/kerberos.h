// Kerberos 5 inside SPNEGO for SMB2 SESSION_SETUP ([MS-SMB2] 3.2.4.2.3, [MS-SPNG] 3.1.5,
// RFC 4121), through GSS-API: MIT krb5's libgssapi_krb5 does all of Kerberos (ticket cache,
// KDC exchange, AP-REQ/AP-REP); this file only wraps its tokens in SPNEGO and turns its errors
// into one line a user can act on.
//
// The initiator credential is whatever GSS-API finds: the default ticket cache, KRB5CCNAME, or
// a client keytab (KRB5_CLIENT_KTNAME) for services. The target is a Kerberos principal name,
// by default "cifs/<host as the user typed it>" in the default realm: no forward or reverse DNS
// canonicalization happens, because the name is imported as a principal name, not as a
// host-based service.
//
// Mutual authentication is required: the server's AP-REP must arrive and verify, or the logon
// fails. The session key is the GSS context's SSPI session key (the acceptor subkey where the
// server sent one), which [MS-SMB2] 3.2.5.3.1 makes Session.FullSessionKey.
#ifndef SMBD_SMB2_SECURITY_KERBEROS_H_
#define SMBD_SMB2_SECURITY_KERBEROS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "smb2/security/authenticator.h"
#include "smb2/security/secret.h"
#include "smb2/security/spnego.h"

namespace smbd {

struct KerberosOptions {
  // "service/host" or "service/host@REALM"; a name without a realm is in the default realm.
  std::string target_principal;
  // List NTLMSSP second in the SPNEGO mechTypes (RFC 4178: the client's preference order), as
  // the caller allows NTLM. The optimistic token is Kerberos either way; with two mechanisms
  // the server usually adds a mechListMIC, which is checked.
  bool offer_ntlm = false;
};

// "cifs/<host>" ([MS-SMB2] 3.2.4.2.3: the SPN is cifs/ and the server's name). Brackets around
// an IPv6 literal are kept out of the name.
std::string DefaultSmbPrincipal(absl::string_view host);

// The principal of the initiator credential GSS-API would use (for example "alice@EXAMPLE.COM"),
// or an error saying why there is none (no ticket cache, expired ticket): the same one-line
// messages the logon gives. Looks only at local state (ticket cache, client keytab); contacts
// no KDC.
absl::StatusOr<std::string> KerberosDefaultPrincipal();

// Whether `user` ("alice", "alice@REALM", "DOMAIN\\alice"; any case) names the same user as
// the principal "alice@REALM": the user parts are compared, and the realm too when the user
// carries one (a NetBIOS DOMAIN is not compared: it has no known mapping to a realm here). An
// empty `user` matches any principal.
bool KerberosPrincipalIsUser(absl::string_view principal, absl::string_view user);

// One line for a GSS-API failure, naming what to do (kinit, clock, principal); kUnauthenticated,
// or kUnavailable where no KDC could be reached. `what` says which step failed; `ap_rep` says
// the failure came from checking the server's AP-REP (so an integrity error is the server's
// answer not verifying, not the server failing to decrypt our ticket).
absl::Status KerberosError(uint32_t major, uint32_t minor, absl::string_view principal,
                           absl::string_view what, bool ap_rep = false);

class KerberosAuthenticator : public Authenticator {
 public:
  explicit KerberosAuthenticator(KerberosOptions options);
  ~KerberosAuthenticator() override;
  KerberosAuthenticator(const KerberosAuthenticator&) = delete;
  KerberosAuthenticator& operator=(const KerberosAuthenticator&) = delete;

  absl::StatusOr<Step> Next(absl::Span<const uint8_t> server_token) override;
  const SecretBytes& session_key() const override { return session_key_; }
  // The AP-REQ is the client's last token; the key is final once the AP-REP is processed.
  bool sent_final_token() const override { return state_ != State::kStart; }
  bool anonymous() const override { return false; }

  // The server answered as if it had accepted the ticket (an AP-REP, or no token where one was
  // due) and that answer did not prove it: the AP-REP did not verify, mutual authentication or
  // the mechListMIC failed. A sign of a man in the middle: the caller must not fall back to a
  // weaker mechanism on this connection.
  bool proof_failed() const { return proof_failed_; }
  // The client principal the ticket was for (known once authentication is done).
  const std::string& client_principal() const { return client_principal_; }

 private:
  enum class State { kStart, kSentApReq, kDone };
  struct Gss;  // GSS-API handles, kept out of this header.

  // Runs gss_init_sec_context on `input` (empty on the first call).
  absl::Status Init(absl::Span<const uint8_t> input, std::vector<uint8_t>* output,
                    bool* complete);
  absl::Status Finish();
  absl::Status CheckMechListMic(const std::vector<uint8_t>& mic);

  const KerberosOptions options_;
  std::vector<Oid> mechs_;  // the mechTypes sent, which mechListMIC covers
  std::unique_ptr<Gss> gss_;
  State state_ = State::kStart;
  SecretBytes session_key_;
  std::string client_principal_;
  bool proof_failed_ = false;
};

}  // namespace smbd

#endif  // SMBD_SMB2_SECURITY_KERBEROS_H_
