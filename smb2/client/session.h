// Session: an authenticated user on a Client's connection ([MS-SMB2] 3.2.4.2.3). Made by
// Client::Login; trees are connected through it.
#ifndef SMBD_SMB2_CLIENT_SESSION_H_
#define SMBD_SMB2_CLIENT_SESSION_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "smb2/client/lost_state.h"
#include "smb2/client/tree.h"
#include "smb2/client/types.h"

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
          client_internal::LoginResult login, const Credentials& credentials);
  // Logs off if still logged on (errors ignored; use Logoff() to see them).
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  absl::StatusOr<std::unique_ptr<Tree>> TreeConnect(absl::string_view share);
  absl::Status Logoff();

  // The session's id: a new one after each reconnect.
  uint64_t id() const { return id_.load(std::memory_order_acquire); }
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
  friend class client_internal::ClientContext;
  friend class Tree;

  // A share connected: its id and whether it requires encryption.
  struct Connected {
    uint32_t tree_id = 0;
    bool encrypt = false;
  };
  // TREE_CONNECT (and VALIDATE_NEGOTIATE for 3.0/3.0.2, sealing turned on for a share that
  // requires it). On a refusal after the server connected the share, it is disconnected again.
  absl::StatusOr<Connected> ConnectTree(absl::string_view share);
  // [MS-SMB2] 3.2.5.5: 3.0/3.0.2 check the NEGOTIATE by a signed FSCTL_VALIDATE_NEGOTIATE_INFO.
  absl::Status ValidateNegotiate(uint32_t tree_id);
  // On a new connection (ClientContext::Recover, under its registry lock): SESSION_SETUP again
  // with PreviousSessionId, never weaker than before, then every tree and file. An error is
  // returned only when the new connection dropped too (the attempt is retried); a refusal makes
  // this session lost instead.
  absl::Status Reestablish();
  std::shared_ptr<SessionCrypto> crypto() const;
  // Multichannel (ClientOptions::multichannel), after a tree connect: the first session with
  // keys asks the server for its interfaces through `tree` and binds new channels; a later one
  // binds itself to those. Failures leave the session on the channels it has (and say why in
  // Client::multichannel_note()).
  void AddChannels(Tree* tree);
  // Logoff(); from the destructor without reconnecting first.
  absl::Status LogoffImpl(bool may_reconnect);
  void AddTree(Tree* tree);     // under the registry lock
  void RemoveTree(Tree* tree);  // under the registry lock

  client_internal::ClientContext* const context_;
  Client* const client_;
  std::atomic<uint64_t> id_;
  const bool guest_;
  const bool anonymous_;
  std::atomic<bool> logged_off_{false};  // read by a re-establishment on another thread
  mutable std::mutex crypto_mu_;
  std::shared_ptr<SessionCrypto> crypto_;  // null without keys (guest, anonymous)
  const std::string mechanism_;
  const std::string auth_note_;
  // What logs in again after a reconnect (kept only when reconnection is on; the password is
  // zeroed when the session is destroyed).
  Credentials credentials_;
  std::vector<Tree*> trees_;  // guarded by the context's registry lock
  client_internal::LostState lost_;
};

}  // namespace smbd

#endif  // SMBD_SMB2_CLIENT_SESSION_H_
