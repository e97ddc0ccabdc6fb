#include "smb2/client/session.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "smb2/client/context.h"
#include "smb2/client/login.h"
#include "smb2/pdu/ioctl.h"
#include "smb2/pdu/logoff.h"
#include "smb2/pdu/tree_connect.h"
#include "smb2/pdu/tree_disconnect.h"
#include "smb2/security/session_crypto.h"

namespace smbd {

using client_internal::ClientContext;
using client_internal::EncodeOne;
using client_internal::Reader;
using client_internal::ResponseStatus;
using client_internal::RetryAfterReconnect;

Session::Session(ClientContext* context, Client* client, client_internal::LoginResult login,
                 const Credentials& credentials)
    : context_(context),
      client_(client),
      id_(login.session_id),
      guest_(login.guest),
      anonymous_(login.anonymous),
      crypto_(std::move(login.crypto)),
      mechanism_(std::move(login.mechanism)),
      auth_note_(std::move(login.note)) {
  // Kept to log in again after a reconnect, and to bind extra channels (multichannel).
  if (context_->reconnect_enabled() || context_->options().multichannel.max_channels > 1) {
    credentials_.user = credentials.user;
    credentials_.domain = credentials.domain;
    credentials_.password = credentials.password.Clone();
    credentials_.workstation = credentials.workstation;
    credentials_.anonymous = credentials.anonymous;
    credentials_.guest = credentials.guest;
    credentials_.kerberos = credentials.kerberos;
    credentials_.kerberos_principal = credentials.kerberos_principal;
  }
  context_->AddSession(this, [](Session* s) { return s->Reestablish(); }, crypto_ != nullptr);
}

std::shared_ptr<SessionCrypto> Session::crypto() const {
  std::lock_guard<std::mutex> l(crypto_mu_);
  return crypto_;
}

void Session::AddTree(Tree* tree) { trees_.push_back(tree); }

void Session::RemoveTree(Tree* tree) {
  trees_.erase(std::remove(trees_.begin(), trees_.end(), tree), trees_.end());
}

absl::Status Session::Reestablish() {
  if (logged_off_ || !lost_.status().ok()) return absl::OkStatus();
  const uint64_t old_id = id();
  // The same mechanism as before: a Kerberos session does not come back over NTLM.
  const KerberosUse saved = credentials_.kerberos;
  if (mechanism_ == "Kerberos") credentials_.kerberos = KerberosUse::kRequire;
  absl::StatusOr<client_internal::LoginResult> login =
      client_internal::Login(context_, credentials_, old_id);
  credentials_.kerberos = saved;
  auto lose = [&](absl::Status why) {
    lost_.Set(absl::Status(why.code(), absl::StrCat("session lost in a reconnect: ", why.message())));
    for (Tree* t : trees_) t->Lose(lost_.status());
    return absl::OkStatus();
  };
  if (!login.ok()) {
    // The network again, or no answer (a KDC or server that did not answer): the attempt is
    // retried; only the server's refusal loses the session.
    if (!context_->connection()->status().ok() || absl::IsDeadlineExceeded(login.status()) ||
        absl::IsUnavailable(login.status())) {
      return login.status();
    }
    return lose(login.status());
  }
  const std::shared_ptr<SessionCrypto> before = crypto();
  std::shared_ptr<SessionCrypto> after = login->crypto;
  // Never weaker than the session the caller had: the same kind of login, signing kept, and
  // sealing kept (turned on again where a share had turned it on).
  absl::Status weaker;
  if (login->guest != guest_ || login->anonymous != anonymous_ ||
      (before != nullptr) != (after != nullptr)) {
    weaker = absl::PermissionDeniedError("the server gave another kind of session");
  } else if (before != nullptr && before->signs() && !after->signs()) {
    weaker = absl::PermissionDeniedError("the new session would not sign");
  } else if (before != nullptr && before->seals() && !after->seals()) {
    if (after->can_seal()) {
      after->EnableSealing();
    } else {
      weaker = absl::PermissionDeniedError("the new session cannot encrypt");
    }
  }
  if (!weaker.ok()) {
    context_->connection()->SetSessionSecurity(login->session_id, nullptr);
    return lose(weaker);
  }
  {
    std::lock_guard<std::mutex> l(crypto_mu_);
    crypto_ = std::move(after);
  }
  id_.store(login->session_id, std::memory_order_release);
  for (Tree* t : trees_) SMBD_RETURN_IF_ERROR(t->Reestablish());
  return absl::OkStatus();
}

std::string Session::RdmaChannelNote() const {
  Transport* t = context_->transport();
  if (!t->supports_rdma()) {
    return absl::StrCat("RDMA channel off: connected over ", t->name());
  }
  if (context_->negotiated().dialect < kDialect300) {
    return "RDMA channel off: the dialect negotiated is older than 3.0, which has none "
           "([MS-SMB2] 2.2.19)";
  }
  // [MS-SMB2] 3.2.4.6: bytes placed by RDMA are covered by neither a signature nor the
  // encryption, so a signing or sealing session keeps its data inline.
  if (seals()) return "RDMA channel off: the session encrypts (placed bytes would be clear)";
  if (signs()) return "RDMA channel off: the session signs (placed bytes would be unsigned)";
  const ClientOptions& o = context_->options();
  return absl::StrCat("RDMA channel on for I/O of ",
                      std::max(o.rdma_threshold, o.rdma_threshold_per_io), " bytes and more (",
                      o.rdma_threshold, " in a registered buffer with windows); ",
                      t->registration_note());
}

Session::~Session() {
  if (!logged_off_) (void)LogoffImpl(false);  // no reconnect from a destructor
  std::lock_guard<std::mutex> l(context_->registry_mutex());
  context_->RemoveSession(this);
}

bool Session::signs() const {
  std::lock_guard<std::mutex> l(crypto_mu_);
  return crypto_ != nullptr && crypto_->signs();
}
bool Session::seals() const {
  std::lock_guard<std::mutex> l(crypto_mu_);
  return crypto_ != nullptr && crypto_->seals();
}

absl::Status Session::Logoff() { return LogoffImpl(true); }

absl::Status Session::LogoffImpl(bool may_reconnect) {
  if (logged_off_) return absl::OkStatus();
  if (!lost_.status().ok()) {
    logged_off_ = true;
    return absl::OkStatus();  // the server no longer has it
  }
  // After a drop, LOGOFF of the session set up again (a drop in flight: the server ends the
  // session with the connection anyway).
  auto logoff = [&]() -> absl::Status {
    Connection* connection = context_->connection();
    if (!connection->status().ok()) return connection->status();
    const uint64_t id = this->id();
    absl::Status r = context_->Exchange(Command::kLogoff, id, 0, EncodeLogoffRequest, "LOGOFF");
    if (r.ok() || connection->status().ok()) {
      // LOGOFF ends the session on every channel ([MS-SMB2] 3.3.5.6).
      for (const std::shared_ptr<client_internal::Channel>& ch : context_->channels()) {
        context_->MarkBound(ch.get(), id, false);
        ch->connection->SetSessionSecurity(id, nullptr);
      }
    }
    return r;
  };
  absl::Status s = may_reconnect ? context_->Resilient(true, "LOGOFF", logoff) : logoff();
  logged_off_ = true;
  return s;
}

absl::StatusOr<std::unique_ptr<Tree>> Session::TreeConnect(absl::string_view share) {
  SMBD_RETURN_IF_ERROR(lost_.status());
  absl::StatusOr<std::unique_ptr<Tree>> result = context_->Resilient(
      true, "TREE_CONNECT", [&]() -> absl::StatusOr<std::unique_ptr<Tree>> {
        const uint64_t generation = context_->generation();
        SMBD_ASSIGN_OR_RETURN(Connected c, ConnectTree(share));
        auto tree = std::make_unique<Tree>(context_, this, c.tree_id, c.encrypt, share);
        // Connected on a connection that dropped before the tree was listed for the reconnect:
        // connect again on the new one.
        if (context_->generation() != generation) return RetryAfterReconnect("TREE_CONNECT");
        return tree;
      });
  if (result.ok() && context_->options().multichannel.max_channels > 1) AddChannels(result->get());
  return result;
}

void Session::AddChannels(Tree* tree) {
  std::string why;
  if (!context_->MultichannelPossible(&why)) {
    context_->set_multichannel_note(absl::StrCat("multichannel off: ", why));
    return;
  }
  const std::shared_ptr<SessionCrypto> crypto = this->crypto();
  if (crypto == nullptr) {
    // [MS-SMB2] 3.3.5.5.2: a binding is signed with the session's key, which a guest or
    // anonymous session does not have.
    context_->set_multichannel_note(
        "multichannel off for a guest or anonymous session (a binding needs a signing key)");
    return;
  }
  const bool kerberos = mechanism_ == "Kerberos";
  if (!context_->ClaimMultichannelSetup()) {
    // The channels exist (another session set them up): this session binds to them too.
    for (const std::shared_ptr<client_internal::Channel>& ch : context_->channels()) {
      if (ch->connection == context_->connection() || ch->dropped.load() ||
          context_->IsBound(ch.get(), id())) {
        continue;
      }
      // Requests of this session go there only once the binding completed (MarkBound).
      if (client_internal::BindSession(context_, ch.get(), credentials_, id(), crypto, kerberos)
              .ok()) {
        context_->MarkBound(ch.get(), id(), true);
      }
    }
    return;
  }
  absl::StatusOr<std::vector<ServerInterface>> listed = tree->QueryNetworkInterfaces();
  if (!listed.ok()) {
    context_->set_multichannel_note(absl::StrCat(
        "multichannel off: the server did not list its interfaces (", listed.status().message(),
        ")"));
    return;
  }
  // RDMA-capable ones first, then the fastest ([MS-SMB2] 3.2.4.20.10 leaves the choice to the
  // client); one channel per address, none to the address the first connection already uses,
  // except an SMB Direct one beside a first connection over TCP (what Windows adds).
  std::vector<ServerInterface> interfaces = *std::move(listed);
  std::stable_sort(interfaces.begin(), interfaces.end(),
                   [](const ServerInterface& a, const ServerInterface& b) {
                     if (a.rdma != b.rdma) return a.rdma;
                     return a.link_speed_bps > b.link_speed_bps;
                   });
  const bool first_is_rdma = context_->transport()->supports_rdma();
  const std::string first = context_->transport()->peer_address();
  for (const ServerInterface& i : interfaces) {
    if (i.address == first) {
      context_->set_primary_link_speed(i.link_speed_bps);
      break;
    }
  }
  std::vector<std::string> used;
  std::vector<std::string> added, failed;
  const uint32_t wanted = context_->options().multichannel.max_channels - 1;
  for (const ServerInterface& i : interfaces) {
    if (added.size() >= wanted) break;
    // Never to an unspecified address (ksmbd lists one as 0.0.0.0): that is no server.
    if (i.address.empty() || i.address == "0.0.0.0" || i.address == "::" ||
        std::find(used.begin(), used.end(), i.address) != used.end()) {
      continue;
    }
    // A link-local IPv6 address without its scope cannot be connected to.
    if (absl::StartsWithIgnoreCase(i.address, "fe80:") &&
        i.address.find('%') == std::string::npos) {
      continue;
    }
    const bool same_as_first = i.address == first;
    if (same_as_first && (first_is_rdma || !i.rdma)) continue;
    used.push_back(i.address);
    absl::StatusOr<std::shared_ptr<client_internal::Channel>> ch = context_->OpenChannel(i);
    absl::Status s = ch.status();
    if (ch.ok() && same_as_first && !(*ch)->rdma) {
      // The factory made TCP (no RDMA device here): a second TCP connection to the same
      // address is not what was wanted.
      (*ch)->connection->Close(absl::CancelledError("not SMB Direct"));
      continue;
    }
    if (ch.ok()) {
      s = client_internal::BindSession(context_, ch->get(), credentials_, id(), crypto, kerberos)
              .status();
      if (s.ok()) {
        context_->MarkBound(ch->get(), id(), true);
        context_->ActivateChannel(*ch);
      } else {
        (*ch)->connection->Close(absl::CancelledError("binding refused"));
      }
    }
    if (s.ok()) {
      added.push_back(absl::StrCat(i.address, (*ch)->rdma ? " (SMB Direct, " : " (TCP, ",
                                   i.link_speed_bps / 1000000, " Mbit/s)"));
    } else {
      failed.push_back(absl::StrCat(i.address, ": ", s.message()));
    }
  }
  std::string note;
  if (!added.empty()) {
    note = absl::StrCat("multichannel: ", added.size() + 1, " channels: ", first,
                        " (the first) + ", absl::StrJoin(added, " + "));
  } else if (failed.empty()) {
    note = absl::StrCat("multichannel: no channel added (the server lists ", interfaces.size(),
                        " interface(s), none at another address than ", first, ")");
  } else {
    note = "multichannel: no channel added";
  }
  if (!failed.empty()) absl::StrAppend(&note, "; not added: ", absl::StrJoin(failed, "; "));
  context_->set_multichannel_note(std::move(note));
}

absl::StatusOr<Session::Connected> Session::ConnectTree(absl::string_view share) {
  const std::string& server_name = context_->options().server_name;
  const std::string path =
      absl::StrCat("\\\\", server_name.empty() ? "server" : server_name, "\\", share);
  const uint64_t session_id = id();
  const std::shared_ptr<SessionCrypto> crypto = this->crypto();
  SmbMessageRef m = context_->NewMessage(Command::kTreeConnect, session_id, 0);
  TreeConnectRequest req;
  req.path = path;
  SMBD_RETURN_IF_ERROR(EncodeOne(m.get(), *context_,
                                 [&](WireWriter* w) { return EncodeTreeConnectRequest(req, w); }));
  SMBD_RETURN_IF_ERROR(context_->RoundTrip(m));
  SMBD_RETURN_IF_ERROR(ResponseStatus(*m, absl::StrCat("TREE_CONNECT ", path)));
  SMBD_ASSIGN_OR_RETURN(TreeConnectResponse resp, DecodeTreeConnectResponse(Reader(*m)));
  Connected c;
  c.tree_id = m->response_header.tree_id;
  const uint16_t dialect = context_->negotiated().dialect;
  if ((dialect == kDialect300 || dialect == kDialect302) && crypto != nullptr) {
    // A downgrade of the NEGOTIATE by a man in the middle is caught here ([MS-SMB2] 3.2.5.5).
    // On failure nothing more is sent on a connection that is not to be trusted.
    SMBD_RETURN_IF_ERROR(ValidateNegotiate(c.tree_id));
  }
  c.encrypt = (resp.share_flags & kShareFlagEncryptData) != 0;
  if (c.encrypt && (crypto == nullptr || !crypto->seals())) {
    // [MS-SMB2] 3.2.5.5: a share that requires encryption gets it, or nothing.
    if (crypto == nullptr || !crypto->can_seal()) {
      // Disconnected again: the server keeps no tree the client refused.
      if (context_->connection()->status().ok()) {
        (void)context_->Exchange(Command::kTreeDisconnect, session_id, c.tree_id,
                                 EncodeTreeDisconnectRequest, "TREE_DISCONNECT");
      }
      return absl::PermissionDeniedError(
          absl::StrCat("share ", share, " requires encryption, which this session cannot do (",
                       guest_ || anonymous_ ? "guest/anonymous session" : "no cipher agreed", ")"));
    }
    crypto->EnableSealing();
  }
  return c;
}

absl::Status Session::ValidateNegotiate(uint32_t tree_id) {
  ValidateNegotiateInfoRequest v;
  v.capabilities = context_->Capabilities();  // what NEGOTIATE sent
  std::memcpy(v.guid, context_->client_guid(), 16);
  v.security_mode = context_->SecurityMode();
  const std::vector<uint16_t> dialects = context_->OfferedDialects();
  v.dialects = dialects;
  uint8_t input[64];
  WireWriter iw(absl::MakeSpan(input));
  EncodeValidateNegotiateInfo(v, &iw);
  SMBD_RETURN_IF_ERROR(iw.Finish());
  IoctlRequest req;
  req.ctl_code = kFsctlValidateNegotiateInfo;
  req.input = iw.written();
  req.max_output_response = 24;
  SmbMessageRef m = context_->NewMessage(Command::kIoctl, id(), tree_id);
  SMBD_RETURN_IF_ERROR(EncodeOne(m.get(), *context_,
                                 [&](WireWriter* w) { return EncodeIoctlRequest(req, w); }));
  SMBD_RETURN_IF_ERROR(context_->RoundTrip(m));
  // Authenticated either by its signature or, on an encrypted session, by the AEAD tag (the
  // connection refuses plaintext answers there).
  if (!m->response_header.is_signed() && !seals()) {
    return absl::PermissionDeniedError(
        "FSCTL_VALIDATE_NEGOTIATE_INFO response is not signed; refusing the connection");
  }
  SMBD_RETURN_IF_ERROR(ResponseStatus(*m, "FSCTL_VALIDATE_NEGOTIATE_INFO"));
  SMBD_ASSIGN_OR_RETURN(IoctlResponse resp, DecodeIoctlResponse(Reader(*m)));
  SMBD_ASSIGN_OR_RETURN(WireReader out, IoctlOutput(Reader(*m), resp));
  SMBD_ASSIGN_OR_RETURN(ValidateNegotiateInfoResponse vr, DecodeValidateNegotiateInfo(out));
  const NegotiatedInfo& n = context_->negotiated();
  if (vr.dialect != n.dialect || vr.security_mode != n.server_security_mode ||
      vr.capabilities != n.server_capabilities || std::memcmp(vr.guid, n.server_guid, 16) != 0) {
    return absl::PermissionDeniedError(
        "FSCTL_VALIDATE_NEGOTIATE_INFO does not match the NEGOTIATE: possible downgrade attack");
  }
  return absl::OkStatus();
}

}  // namespace smbd
