// SESSION_SETUP: authenticates a session and derives its keys ([MS-SMB2] 3.2.4.2.3, 3.2.5.3).
// Internal to smb2/client (Client::Login wraps it in a Session).
#ifndef SMBD_SMB2_CLIENT_LOGIN_H_
#define SMBD_SMB2_CLIENT_LOGIN_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "smb2/client/context.h"
#include "smb2/client/types.h"
#include "smb2/security/session_crypto.h"

namespace smbd {
namespace client_internal {

struct LoginResult {
  uint64_t session_id = 0;
  bool guest = false;
  bool anonymous = false;
  // Signing and sealing for the session; null for a guest or anonymous session (no keys). Already
  // installed on the connection.
  std::shared_ptr<SessionCrypto> crypto;
  // "Kerberos", "NTLM", "guest" or "anonymous", and one line on how and why (Session::auth_note).
  std::string mechanism;
  std::string note;
};

// Runs SESSION_SETUP rounds until the server accepts or refuses. A session is accepted only
// once the server has proved it knows the password (or the caller asked for guest/anonymous);
// see the comments in login.cc for what proves it under each dialect.
// `previous_session_id`: the session this one replaces after a reconnect (0: none).
absl::StatusOr<LoginResult> Login(ClientContext* ctx, const Credentials& credentials,
                                  uint64_t previous_session_id = 0);

// Binds the session `session_id` (whose keys are `session`) to the new channel `channel`
// ([MS-SMB2] 3.2.4.2.3, 3.2.5.3.3): SESSION_SETUP with SMB2_SESSION_FLAG_BINDING, signed with
// Session.SigningKey, authenticated again with the same credentials and mechanism (Kerberos
// when `kerberos`, else NTLM). Returns the channel's security (its own Channel.SigningKey,
// the session's encryption keys), already installed on the channel's connection.
absl::StatusOr<std::shared_ptr<SessionCrypto>> BindSession(
    ClientContext* ctx, Channel* channel, const Credentials& credentials, uint64_t session_id,
    std::shared_ptr<SessionCrypto> session, bool kerberos);

}  // namespace client_internal
}  // namespace smbd

#endif  // SMBD_SMB2_CLIENT_LOGIN_H_
