#include "smb2/client/session.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "smb2/client/context.h"
#include "smb2/client/login.h"
#include "smb2/pdu/ioctl.h"
#include "smb2/pdu/logoff.h"
#include "smb2/pdu/tree_connect.h"
#include "smb2/security/session_crypto.h"

namespace smbd {

using client_internal::ClientContext;
using client_internal::EncodeOne;
using client_internal::Reader;
using client_internal::ResponseStatus;

Session::Session(ClientContext* context, Client* client, client_internal::LoginResult login)
    : context_(context),
      client_(client),
      id_(login.session_id),
      guest_(login.guest),
      anonymous_(login.anonymous),
      crypto_(std::move(login.crypto)),
      mechanism_(std::move(login.mechanism)),
      auth_note_(std::move(login.note)) {}

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
  if (!logged_off_) (void)Logoff();
}

bool Session::signs() const { return crypto_ != nullptr && crypto_->signs(); }
bool Session::seals() const { return crypto_ != nullptr && crypto_->seals(); }

absl::Status Session::Logoff() {
  if (logged_off_) return absl::OkStatus();
  logged_off_ = true;
  Connection* connection = context_->connection();
  if (!connection->status().ok()) return connection->status();
  absl::Status s = context_->Exchange(Command::kLogoff, id_, 0, EncodeLogoffRequest, "LOGOFF");
  connection->SetSessionSecurity(id_, nullptr);
  return s;
}

absl::StatusOr<std::unique_ptr<Tree>> Session::TreeConnect(absl::string_view share) {
  const std::string& server_name = context_->options().server_name;
  const std::string path =
      absl::StrCat("\\\\", server_name.empty() ? "server" : server_name, "\\", share);
  SmbMessageRef m = context_->NewMessage(Command::kTreeConnect, id_, 0);
  TreeConnectRequest req;
  req.path = path;
  SMBD_RETURN_IF_ERROR(EncodeOne(m.get(), *context_,
                                 [&](WireWriter* w) { return EncodeTreeConnectRequest(req, w); }));
  SMBD_RETURN_IF_ERROR(context_->RoundTrip(m));
  SMBD_RETURN_IF_ERROR(ResponseStatus(*m, absl::StrCat("TREE_CONNECT ", path)));
  SMBD_ASSIGN_OR_RETURN(TreeConnectResponse resp, DecodeTreeConnectResponse(Reader(*m)));
  const uint32_t tree_id = m->response_header.tree_id;
  const uint16_t dialect = context_->negotiated().dialect;
  if ((dialect == kDialect300 || dialect == kDialect302) && crypto_ != nullptr) {
    // A downgrade of the NEGOTIATE by a man in the middle is caught here ([MS-SMB2] 3.2.5.5).
    // On failure nothing more is sent on a connection that is not to be trusted.
    SMBD_RETURN_IF_ERROR(ValidateNegotiate(tree_id));
  }
  const bool encrypt = (resp.share_flags & kShareFlagEncryptData) != 0;
  // Made before the encryption check, so that a refused share is disconnected again.
  auto tree = std::make_unique<Tree>(context_, this, tree_id, encrypt);
  if (encrypt && !seals()) {
    // [MS-SMB2] 3.2.5.5: a share that requires encryption gets it, or nothing.
    if (crypto_ == nullptr || !crypto_->can_seal()) {
      return absl::PermissionDeniedError(
          absl::StrCat("share ", share, " requires encryption, which this session cannot do (",
                       guest_ || anonymous_ ? "guest/anonymous session" : "no cipher agreed", ")"));
    }
    crypto_->EnableSealing();
  }
  return tree;
}

absl::Status Session::ValidateNegotiate(uint32_t tree_id) {
  ValidateNegotiateInfoRequest v;
  v.capabilities = kCapLargeMtu | kCapEncryption;
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
  SmbMessageRef m = context_->NewMessage(Command::kIoctl, id_, tree_id);
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
