// Session: an authenticated user on a Client's connection ([MS-SMB2] 3.2.4.2.3). Made by
// Client::Login; trees are connected through it.
#ifndef SMBD_SMB2_CLIENT_SESSION_H_
#define SMBD_SMB2_CLIENT_SESSION_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "smb2/client/tree.h"

namespace smbd {

class Client;
class SessionCrypto;
namespace client_internal {
class ClientContext;
struct LoginResult;
}  // namespace client_internal

class Session {
 public:
  // Internal: made by Client::Login.
  Session(client_internal::ClientContext* context, Client* client,
          client_internal::LoginResult login);
  // Logs off if still logged on (errors ignored; use Logoff() to see them).
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  absl::StatusOr<std::unique_ptr<Tree>> TreeConnect(absl::string_view share);
  absl::Status Logoff();

  uint64_t id() const { return id_; }
  bool is_guest() const { return guest_; }
  bool is_anonymous() const { return anonymous_; }
  // How the session was authenticated: "Kerberos", "NTLM", "guest" or "anonymous".
  const std::string& auth_mechanism() const { return mechanism_; }
  // One line: the mechanism, who, and (for NTLM under KerberosUse::kAuto) why not Kerberos.
  const std::string& auth_note() const { return auth_note_; }
  bool signs() const;
  bool seals() const;
  Client* client() const { return client_; }
  // Whether READs and WRITEs of this session use the RDMA channel, in one line: "RDMA channel
  // on: ..." with the registration mode, or "RDMA channel off: " and why (connected over TCP,
  // a dialect before 3.0, the session signs or seals). smbd-cat -v prints it.
  std::string RdmaChannelNote() const;

 private:
  // [MS-SMB2] 3.2.5.5: 3.0/3.0.2 check the NEGOTIATE by a signed FSCTL_VALIDATE_NEGOTIATE_INFO.
  absl::Status ValidateNegotiate(uint32_t tree_id);

  client_internal::ClientContext* const context_;
  Client* const client_;
  const uint64_t id_;
  const bool guest_;
  const bool anonymous_;
  bool logged_off_ = false;
  const std::shared_ptr<SessionCrypto> crypto_;  // null without keys (guest, anonymous)
  const std::string mechanism_;
  const std::string auth_note_;
};

}  // namespace smbd

#endif  // SMBD_SMB2_CLIENT_SESSION_H_
