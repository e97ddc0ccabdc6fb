#include "smb2/client/client.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <functional>
#include <new>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "buffers/status_macros.h"
#include "buffers/wire.h"
#include "smb2/client/session_security.h"
#include "smb2/compound.h"
#include "smb2/constants.h"
#include "smb2/ntstatus.h"
#include "smb2/pdu/change_notify.h"
#include "smb2/pdu/close.h"
#include "smb2/pdu/create.h"
#include "smb2/pdu/flush.h"
#include "smb2/pdu/ioctl.h"
#include "smb2/pdu/logoff.h"
#include "smb2/pdu/negotiate.h"
#include "smb2/pdu/query_directory.h"
#include "smb2/pdu/query_info.h"
#include "smb2/pdu/read.h"
#include "smb2/pdu/session_setup.h"
#include "smb2/pdu/set_info.h"
#include "smb2/pdu/tree_connect.h"
#include "smb2/pdu/tree_disconnect.h"
#include "smb2/pdu/write.h"
#include "smb2/security/authenticator.h"
#include "smb2/security/kdf.h"
#include "smb2/tcp_transport.h"

namespace smbd {
namespace {

// [MS-SMB2] 2.2.3.1.7 / 2.2.5: the negotiate request offers every dialect in range.
constexpr uint16_t kAllDialects[] = {kDialect202, kDialect210, kDialect300, kDialect302,
                                     kDialect311};

absl::Status RandomBytes(absl::Span<uint8_t> out) {
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    return absl::InternalError("OpenSSL RAND_bytes failed");
  }
  return absl::OkStatus();
}

// The member's bytes as a reader.
WireReader Reader(const SmbMessage& m) { return WireReader(m.response.begin()); }

// Turns a response's NTSTATUS into a Status (OK for success and warnings).
absl::Status ResponseStatus(const SmbMessage& m, absl::string_view what) {
  return NtStatusToStatus(m.response_header.status, what);
}

struct AlignedDelete {
  void operator()(uint8_t* p) const { ::operator delete[](p, std::align_val_t(kPageSize)); }
};

// Encodes one request member into m->request with `body` writing the command's body; `body`
// returns void or absl::Status.
template <typename Body>
absl::Status EncodeOne(SmbMessage* m, PagePool* pool, Body&& body) {
  CompoundWriter cw(&m->request, pool);
  WireWriter* w = cw.Begin(m, false);
  absl::Status s;
  if constexpr (std::is_void_v<decltype(body(w))>) {
    body(w);
  } else {
    s = body(w);
  }
  cw.End();
  SMBD_RETURN_IF_ERROR(s);
  return cw.Finish();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Client

Client::Client(std::shared_ptr<PagePool> pool, const ClientOptions& options)
    : pool_(std::move(pool)), options_(options) {}

Client::~Client() {
  if (connection_ != nullptr) connection_->Close(absl::CancelledError("client closed"));
}

absl::StatusOr<std::unique_ptr<Client>> Client::ConnectTcp(absl::string_view host, uint16_t port,
                                                           const ClientOptions& options) {
  PagePoolOptions po;
  po.max_bytes = options.pool_bytes;
  SMBD_ASSIGN_OR_RETURN(std::unique_ptr<PagePool> pool_owned, PagePool::Create(po));
  std::shared_ptr<PagePool> pool(std::move(pool_owned));
  TcpOptions to;
  // Room for the largest READ response plus its header, or a whole sealed frame.
  to.max_receive_frame = std::max<uint64_t>(options.max_io, 1 << 20) + (64 << 10);
  SMBD_ASSIGN_OR_RETURN(std::unique_ptr<TcpTransport> transport,
                        TcpTransport::Connect(host, port == 0 ? 445 : port, pool.get(), to));
  ClientOptions o = options;
  if (o.server_name.empty()) o.server_name = std::string(host);
  return Create(std::move(transport), std::move(pool), o);
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(std::unique_ptr<Transport> transport,
                                                       std::shared_ptr<PagePool> pool,
                                                       const ClientOptions& options) {
  if (options.min_dialect > options.max_dialect) {
    return absl::InvalidArgumentError("min_dialect is above max_dialect");
  }
  if (options.require_encryption && options.max_dialect < kDialect300) {
    return absl::InvalidArgumentError("encryption needs SMB 3.0 or later (max_dialect)");
  }
  std::unique_ptr<Client> c(new Client(std::move(pool), options));
  ConnectionOptions co;
  co.credits = options.credits;
  co.credit_timeout = options.request_timeout;
  SMBD_ASSIGN_OR_RETURN(c->connection_,
                        Connection::Create(std::move(transport), c->pool_.get(), co));
  SMBD_RETURN_IF_ERROR(c->Negotiate());
  return c;
}

ClientStats Client::stats() const {
  ClientStats s;
  s.round_trips = connection_->stats().frames_sent;
  s.bytes_read = bytes_read_.load();
  s.bytes_written = bytes_written_.load();
  s.rdma_reads = rdma_reads_.load();
  s.rdma_writes = rdma_writes_.load();
  s.rdma_bytes_read = rdma_bytes_read_.load();
  s.rdma_bytes_written = rdma_bytes_written_.load();
  return s;
}

uint32_t Client::max_read(bool rdma) const {
  uint32_t m = std::min(rdma ? options_.max_rdma_io : options_.max_io, negotiated_.max_read_size);
  const uint32_t rdma_io = connection_->transport()->limits().max_rdma_io;
  if (rdma_io > 0) m = std::min(m, rdma_io);
  if (negotiated_.dialect == kDialect202) m = std::min<uint32_t>(m, 65536);
  return std::max<uint32_t>(m, 1);
}

uint32_t Client::max_write(bool rdma) const {
  uint32_t m = std::min(rdma ? options_.max_rdma_io : options_.max_io, negotiated_.max_write_size);
  const uint32_t rdma_io = connection_->transport()->limits().max_rdma_io;
  if (rdma_io > 0) m = std::min(m, rdma_io);
  if (negotiated_.dialect == kDialect202) m = std::min<uint32_t>(m, 65536);
  return std::max<uint32_t>(m, 1);
}

size_t Client::Depth(uint32_t chunk) const {
  // Whatever was asked for, at most 1 GiB in flight: ReadTo allocates its window up front.
  constexpr uint64_t kMaxInFlight = uint64_t{1} << 30;
  chunk = std::max<uint32_t>(chunk, 1);
  const uint64_t wanted = options_.depth > 0 ? options_.depth : options_.window_bytes / chunk;
  return static_cast<size_t>(
      std::clamp<uint64_t>(wanted, 1, std::max<uint64_t>(1, kMaxInFlight / chunk)));
}

uint16_t Client::Charge(uint64_t bytes) const {
  // [MS-SMB2] 3.2.4.1.5: CreditCharge only with 2.1+ and CAP_LARGE_MTU; 2.0.2 sends 0.
  if (negotiated_.dialect == 0 || negotiated_.dialect == kDialect202 ||
      (negotiated_.server_capabilities & kCapLargeMtu) == 0) {
    return negotiated_.dialect == kDialect202 ? 0 : 1;
  }
  return CreditChargeFor(bytes);
}

int Client::Cancel() {
  cancel_epoch_.fetch_add(1, std::memory_order_acq_rel);
  return connection_->CancelAll();
}

absl::Status Client::Submit(const SmbMessageRef& chain) {
  // One absolute deadline per request, from now: the send and the wait for the answer both
  // end by it (issue 13).
  for (SmbMessage* m = chain.get(); m != nullptr; m = m->next.get()) {
    m->SetDeadlineIn(options_.request_timeout);
  }
  return connection_->Submit(chain);
}

absl::Status Client::Await(SmbMessage* m) {
  const absl::Duration left = m->TimeLeft();
  absl::Status s = m->Wait(left == absl::InfiniteDuration() ? options_.request_timeout : left);
  if (s.ok()) return s;
  if (s.code() == absl::StatusCode::kDeadlineExceeded) {
    // Ask the server to drop it ([MS-SMB2] 3.2.4.24): one that does answers STATUS_CANCELLED
    // and the request's credits come back instead of staying charged for good.
    (void)connection_->Cancel(m);
  }
  connection_->Abandon(m);  // its destination is not written after we return
  return s;
}

absl::Status Client::RoundTrip(const SmbMessageRef& chain) {
  SMBD_RETURN_IF_ERROR(Submit(chain));
  for (SmbMessage* m = chain.get(); m != nullptr; m = m->next.get()) {
    SMBD_RETURN_IF_ERROR(Await(m));
  }
  return absl::OkStatus();
}

absl::Status Client::Negotiate() {
  std::vector<uint16_t> dialects;
  for (uint16_t d : kAllDialects) {
    if (d >= options_.min_dialect && d <= options_.max_dialect) dialects.push_back(d);
  }
  if (dialects.empty()) return absl::InvalidArgumentError("no dialect in the requested range");
  const bool offer_311 = dialects.back() == kDialect311;

  NegotiateRequest req;
  req.dialects = dialects;
  req.security_mode = kSigningEnabled | (options_.require_signing ? kSigningRequired : 0);
  req.capabilities = kCapLargeMtu | kCapEncryption;
  SMBD_RETURN_IF_ERROR(RandomBytes(absl::MakeSpan(client_guid_)));
  std::memcpy(req.client_guid, client_guid_, 16);
  uint8_t salt[32];
  std::vector<uint16_t> ciphers, signing;
  if (offer_311) {
    SMBD_RETURN_IF_ERROR(RandomBytes(absl::MakeSpan(salt)));
    req.preauth_salt = salt;
    for (Cipher c : options_.ciphers) ciphers.push_back(static_cast<uint16_t>(c));
    req.ciphers = ciphers;
    if (options_.offer_gmac) signing.push_back(kSigningAesGmac);
    signing.push_back(kSigningAesCmac);
    signing.push_back(kSigningHmacSha256);
    req.signing_algorithms = signing;
    req.netname = options_.server_name;
  }

  SmbMessageRef m = SmbMessage::New();
  m->header.command = Command::kNegotiate;
  m->header.credit_charge = 0;  // not yet known whether the server does multi-credit
  SMBD_RETURN_IF_ERROR(EncodeOne(m.get(), pool_.get(),
                                 [&](WireWriter* w) { return EncodeNegotiateRequest(req, w); }));
  SMBD_RETURN_IF_ERROR(RoundTrip(m));
  SMBD_RETURN_IF_ERROR(ResponseStatus(*m, "NEGOTIATE"));
  SMBD_ASSIGN_OR_RETURN(NegotiateResponse resp, DecodeNegotiateResponse(Reader(*m)));

  // A dialect we did not offer (or the 2.x wildcard) is a protocol violation or a downgrade.
  if (std::find(dialects.begin(), dialects.end(), resp.dialect) == dialects.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "server chose dialect 0x", absl::Hex(resp.dialect), ", which was not offered"));
  }
  NegotiatedInfo& n = negotiated_;
  n.dialect = resp.dialect;
  n.server_security_mode = resp.security_mode;
  n.server_capabilities = resp.capabilities;
  n.max_transact_size = resp.max_transact_size;
  n.max_read_size = resp.max_read_size;
  n.max_write_size = resp.max_write_size;
  std::memcpy(n.server_guid, resp.server_guid, 16);
  n.signing = DefaultSigningAlgorithm(resp.dialect);
  if (resp.security_buffer_length > 0) {
    WireReader r = Reader(*m);
    SMBD_ASSIGN_OR_RETURN(WireReader token,
                          r.Sub(resp.security_buffer_offset, resp.security_buffer_length));
    negotiate_token_.resize(resp.security_buffer_length);
    if (!token.Bytes(absl::MakeSpan(negotiate_token_))) return token.Error("NEGOTIATE token");
  }
  if (n.max_read_size < 65536 || n.max_write_size < 65536) {
    return absl::DataLossError(absl::StrCat("server's MaxReadSize ", n.max_read_size,
                                            " / MaxWriteSize ", n.max_write_size,
                                            " are below the 64 KiB every dialect allows"));
  }

  if (n.dialect == kDialect311) {
    // [MS-SMB2] 3.2.5.2: the response MUST carry exactly one preauth context with SHA-512.
    if (!resp.preauth.has_value() ||
        std::find(resp.preauth->hash_algorithms.begin(), resp.preauth->hash_algorithms.end(),
                  kHashSha512) == resp.preauth->hash_algorithms.end()) {
      return absl::DataLossError("3.1.1 NEGOTIATE response without a SHA-512 preauth context");
    }
    SMBD_RETURN_IF_ERROR(preauth_.Update(m->request.begin()));
    SMBD_RETURN_IF_ERROR(preauth_.Update(m->response.begin()));
    if (resp.ciphers.has_value() && !resp.ciphers->empty() && (*resp.ciphers)[0] != 0) {
      const uint16_t c = (*resp.ciphers)[0];
      if (std::find(ciphers.begin(), ciphers.end(), c) == ciphers.end()) {
        return absl::DataLossError(absl::StrCat("server chose cipher ", c, ", not offered"));
      }
      n.cipher = static_cast<Cipher>(c);
      n.can_encrypt = true;
    }
    if (resp.signing_algorithms.has_value() && !resp.signing_algorithms->empty()) {
      const uint16_t a = (*resp.signing_algorithms)[0];
      if (std::find(signing.begin(), signing.end(), a) == signing.end()) {
        return absl::DataLossError(
            absl::StrCat("server chose signing algorithm ", a, ", not offered"));
      }
      n.signing = static_cast<SigningAlgorithm>(a);
    }
  } else if (n.dialect >= kDialect300) {
    n.can_encrypt = (n.server_capabilities & kCapEncryption) != 0;
    n.cipher = Cipher::kAes128Ccm;
  }
  if (options_.require_encryption && !n.can_encrypt) {
    return absl::FailedPreconditionError(
        absl::StrCat("encryption required, but the server (dialect 0x", absl::Hex(n.dialect),
                     ") offers none; refusing to continue unencrypted"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Session>> Client::Login(const Credentials& creds) {
  std::unique_ptr<Session> session(new Session(this));
  NtlmCredentials nc;
  nc.user = creds.anonymous ? "" : creds.user;
  nc.domain = creds.domain;
  nc.workstation = creds.workstation;
  if (!creds.anonymous) nc.password = creds.password.Clone();
  NtlmAuthenticator auth(std::move(nc));
  PreauthIntegrity preauth = preauth_.Fork();
  std::vector<uint8_t> server_token = negotiate_token_;
  const bool is_311 = negotiated_.dialect == kDialect311;
  SmbMessageRef final_response;

  for (int round = 0;; ++round) {
    if (round > 8) return absl::DataLossError("SESSION_SETUP: too many rounds");
    SMBD_ASSIGN_OR_RETURN(Authenticator::Step step, auth.Next(server_token));
    SmbMessageRef m = SmbMessage::New();
    m->header.command = Command::kSessionSetup;
    m->header.credit_charge = Charge(0);
    m->header.session_id = session->id_;
    SessionSetupRequest req;
    req.security_mode =
        static_cast<uint8_t>(kSigningEnabled | (options_.require_signing ? kSigningRequired : 0));
    req.security_buffer = step.token;
    SMBD_RETURN_IF_ERROR(EncodeOne(
        m.get(), pool_.get(), [&](WireWriter* w) { return EncodeSessionSetupRequest(req, w); }));
    SMBD_RETURN_IF_ERROR(RoundTrip(m));
    if (is_311) SMBD_RETURN_IF_ERROR(preauth.Update(m->request.begin()));
    const uint32_t status = m->response_header.status;
    if (status != ntstatus::kSuccess && status != ntstatus::kMoreProcessingRequired) {
      return NtStatusToStatus(
          status,
          absl::StrCat("SESSION_SETUP as '", creds.anonymous ? "(anonymous)" : creds.user, "'"));
    }
    SMBD_ASSIGN_OR_RETURN(SessionSetupResponse resp, DecodeSessionSetupResponse(Reader(*m)));
    session->id_ = m->response_header.session_id;
    server_token.clear();
    if (resp.security_buffer_length > 0) {
      WireReader r = Reader(*m);
      SMBD_ASSIGN_OR_RETURN(WireReader t,
                            r.Sub(resp.security_buffer_offset, resp.security_buffer_length));
      server_token.resize(resp.security_buffer_length);
      if (!t.Bytes(absl::MakeSpan(server_token))) return t.Error("SESSION_SETUP token");
    }
    if (status == ntstatus::kMoreProcessingRequired) {
      // [MS-SMB2] 3.2.5.3.1: every response but the final successful one is hashed.
      if (is_311) SMBD_RETURN_IF_ERROR(preauth.Update(m->response.begin()));
      continue;
    }
    // Success. Credentials given: accept it only once the mechanism ran to its end and produced
    // a session key, with which the server then proves that it knows the password: 3.1.1's
    // final answer is signed and checked below ([MS-SMB2] 3.2.5.3.1), 3.0/3.0.2 sign
    // VALIDATE_NEGOTIATE at TREE_CONNECT (3.2.5.5), 2.x sessions are signed
    // (ClientOptions::sign_unproven_sessions). A server that says SUCCESS on the first leg, or
    // hands out a guest or null session, never proved anything: without this it could serve
    // any bytes it likes on an unsigned session (issue 13). Guest and anonymous are accepted
    // only when the caller asked for them.
    const bool asked_unauthenticated = creds.anonymous || creds.guest;
    if (auth.sent_final_token()) {
      if (!step.done) {
        // Let the mechanism check the server's final token (mechListMIC), if any.
        SMBD_ASSIGN_OR_RETURN(Authenticator::Step last, auth.Next(server_token));
        (void)last;
      }
    } else if (!asked_unauthenticated) {
      return absl::UnauthenticatedError(absl::StrCat(
          "SESSION_SETUP as '", creds.user,
          "': the server accepted the session before authentication finished (STATUS_SUCCESS "
          "on round ",
          round + 1, "); refusing an unauthenticated session"));
    }
    session->guest_ = (resp.session_flags & kSessionFlagIsGuest) != 0;
    session->anonymous_ = (resp.session_flags & kSessionFlagIsNull) != 0 || creds.anonymous;
    const bool server_wants_encryption = (resp.session_flags & kSessionFlagEncryptData) != 0;
    final_response = m;

    if (!asked_unauthenticated) {
      if (session->guest_ || session->anonymous_) {
        return absl::UnauthenticatedError(absl::StrCat(
            "SESSION_SETUP as '", creds.user, "': the server logged us in as ",
            session->guest_ ? "guest" : "an anonymous (null) user",
            ", not as the user given; refusing (ask for a guest or anonymous session to accept "
            "one)"));
      }
      if (auth.session_key().empty()) {
        return absl::UnauthenticatedError(absl::StrCat(
            "SESSION_SETUP as '", creds.user, "': authentication produced no session key"));
      }
    }
    const bool has_keys = !session->guest_ && !session->anonymous_ && !auth.session_key().empty();
    const bool server_requires_signing =
        (negotiated_.server_security_mode & kSigningRequired) != 0;
    // SMB 2.0.2/2.1 have no signed final SESSION_SETUP answer (3.1.1) and no signed
    // VALIDATE_NEGOTIATE (3.0/3.0.2): nothing would prove that the server knows the password,
    // and a man in the middle can downgrade a NEGOTIATE to 2.1. Signing the session makes every
    // answer prove it (issue 13); 2.x never uses the RDMA channel, so this costs only CPU.
    const bool unproven = negotiated_.dialect < kDialect300 && has_keys;
    const bool sign = options_.require_signing || server_requires_signing ||
                      (unproven && options_.sign_unproven_sessions);
    const bool seal = options_.require_encryption || server_wants_encryption;
    if (!has_keys && (options_.require_signing || server_requires_signing ||
                      options_.require_encryption)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "SESSION_SETUP: the server gave a ", session->guest_ ? "guest" : "anonymous",
          " session, which cannot be signed or encrypted as ",
          options_.require_signing || options_.require_encryption ? "required"
                                                                   : "the server requires"));
    }
    if (!has_keys) {
      // Guest/anonymous, as asked: nothing can be signed, and nothing is (the caller chose it).
      break;
    }
    if (seal && !negotiated_.can_encrypt) {
      return absl::FailedPreconditionError("session must be encrypted but no cipher was agreed");
    }
    absl::Span<const uint8_t> hash;
    if (is_311) hash = preauth.value();
    SMBD_ASSIGN_OR_RETURN(
        SmbSessionKeys keys,
        DeriveSmbKeys(negotiated_.dialect, auth.session_key().span(), hash, negotiated_.cipher));
    SMBD_ASSIGN_OR_RETURN(Signer signer, Signer::Create(negotiated_.signing, keys.signing.span()));
    // [MS-SMB2] 3.2.5.3.1: the final SESSION_SETUP response of 3.x is signed; check it. With
    // signing required, an unsigned final response is a downgrade. (A 2.x session signed only
    // by sign_unproven_sessions gets an unsigned final answer from a server that does not
    // require signing; its first signed answer proves the key.)
    if (m->response_header.is_signed()) {
      SMBD_RETURN_IF_ERROR(signer.Verify(m->response.begin()));
    } else if (options_.require_signing || server_requires_signing || (is_311 && !seal)) {
      return absl::PermissionDeniedError(
          "SESSION_SETUP: the final response is not signed; refusing the session");
    }
    std::unique_ptr<Sealer> sealer;
    std::unique_ptr<Unsealer> unsealer;
    if (negotiated_.can_encrypt) {
      SMBD_ASSIGN_OR_RETURN(
          sealer, Sealer::Create(negotiated_.cipher, keys.encryption.span(), session->id_));
      SMBD_ASSIGN_OR_RETURN(unsealer, Unsealer::Create(negotiated_.cipher, keys.decryption.span()));
    }
    session->security_ = std::make_shared<Smb2SessionSecurity>(
        session->id_, std::move(signer), std::move(sealer), std::move(unsealer), sign, seal,
        // [MS-SMB2] 3.2.4.1.1: 3.1.1 signs TREE_CONNECT; 3.0/3.0.2 sign the
        // FSCTL_VALIDATE_NEGOTIATE_INFO IOCTL (3.2.5.5), whatever the session's signing.
        is_311 ? (1u << static_cast<uint16_t>(Command::kTreeConnect))
               : (1u << static_cast<uint16_t>(Command::kIoctl)));
    connection_->SetSessionSecurity(session->id_, session->security_);
    break;
  }
  (void)final_response;
  return session;
}

// ---------------------------------------------------------------------------------------------
// Session

Session::~Session() {
  if (!logged_off_) (void)Logoff();
}

bool Session::signs() const { return security_ != nullptr && security_->signs(); }
bool Session::seals() const { return security_ != nullptr && security_->seals(); }

SmbMessageRef Session::NewMessage(Command command, uint32_t tree_id, uint64_t payload) const {
  SmbMessageRef m = SmbMessage::New();
  m->header.command = command;
  m->header.session_id = id_;
  m->header.tree_id = tree_id;
  m->header.credit_charge = client_->Charge(payload);
  return m;
}

absl::Status Session::Exchange(Command command, uint32_t tree_id,
                               const std::function<void(WireWriter*)>& body,
                               absl::string_view what) {
  SmbMessageRef m = NewMessage(command, tree_id);
  SMBD_RETURN_IF_ERROR(EncodeOne(m.get(), client_->pool(), body));
  SMBD_RETURN_IF_ERROR(client_->RoundTrip(m));
  return ResponseStatus(*m, what);
}

absl::Status Session::Logoff() {
  if (logged_off_) return absl::OkStatus();
  logged_off_ = true;
  if (!client_->connection_->status().ok()) return client_->connection_->status();
  absl::Status s = Exchange(Command::kLogoff, 0, EncodeLogoffRequest, "LOGOFF");
  client_->connection_->SetSessionSecurity(id_, nullptr);
  return s;
}

absl::StatusOr<std::unique_ptr<Tree>> Session::TreeConnect(absl::string_view share) {
  const std::string server =
      client_->options_.server_name.empty() ? std::string("server") : client_->options_.server_name;
  const std::string path = absl::StrCat("\\\\", server, "\\", share);
  SmbMessageRef m = NewMessage(Command::kTreeConnect, 0);
  TreeConnectRequest req;
  req.path = path;
  SMBD_RETURN_IF_ERROR(EncodeOne(m.get(), client_->pool(),
                                 [&](WireWriter* w) { return EncodeTreeConnectRequest(req, w); }));
  SMBD_RETURN_IF_ERROR(client_->RoundTrip(m));
  SMBD_RETURN_IF_ERROR(ResponseStatus(*m, absl::StrCat("TREE_CONNECT ", path)));
  SMBD_ASSIGN_OR_RETURN(TreeConnectResponse resp, DecodeTreeConnectResponse(Reader(*m)));
  std::unique_ptr<Tree> tree(new Tree(this));
  tree->id_ = m->response_header.tree_id;
  const uint16_t dialect = client_->negotiated_.dialect;
  if ((dialect == kDialect300 || dialect == kDialect302) && security_ != nullptr) {
    // A downgrade of the NEGOTIATE by a man in the middle is caught here ([MS-SMB2] 3.2.5.5).
    absl::Status v = ValidateNegotiate(tree->id_);
    if (!v.ok()) {
      tree->disconnected_ = true;
      return v;
    }
  }
  tree->encrypt_ = (resp.share_flags & kShareFlagEncryptData) != 0;
  if (tree->encrypt_ && !seals()) {
    // [MS-SMB2] 3.2.5.5: a share that requires encryption gets it, or nothing.
    if (security_ == nullptr || !security_->can_seal()) {
      return absl::PermissionDeniedError(
          absl::StrCat("share ", share, " requires encryption, which this session cannot do (",
                       guest_ || anonymous_ ? "guest/anonymous session" : "no cipher agreed", ")"));
    }
    security_->EnableSealing();
  }
  return tree;
}

// ---------------------------------------------------------------------------------------------
// Tree

Tree::~Tree() {
  if (!disconnected_) (void)Disconnect();
}

absl::Status Tree::Disconnect() {
  if (disconnected_) return absl::OkStatus();
  disconnected_ = true;
  Client* c = session_->client_;
  if (!c->connection_->status().ok()) return c->connection_->status();
  return session_->Exchange(Command::kTreeDisconnect, id_, EncodeTreeDisconnectRequest,
                            "TREE_DISCONNECT");
}

namespace {

std::string SmbPath(absl::string_view path) {
  std::string p(path);
  std::replace(p.begin(), p.end(), '/', '\\');
  while (!p.empty() && p.front() == '\\') p.erase(p.begin());
  return p;
}

absl::StatusOr<CreateRequest> MakeCreate(const OpenOptions& o, const std::string& name) {
  CreateRequest req;
  req.name = name;
  req.desired_access = kFileReadAttributes | kSynchronize |
                       (o.read ? (o.directory ? kFileReadData : kFileReadData | kFileReadEa) : 0) |
                       (o.write ? kFileWriteData | kFileAppendData | kFileWriteAttributes : 0);
  req.share_access = kShareRead | kShareWrite | kShareDelete;
  req.create_disposition = o.disposition;
  req.create_options = o.directory ? kFileDirectoryFile : kFileNonDirectoryFile;
  req.file_attributes = o.directory ? kFileAttributeDirectory : kFileAttributeNormal;
  return req;
}

FileInfo InfoFromCreate(const CreateResponse& r, std::string name) {
  FileInfo fi;
  fi.name = std::move(name);
  fi.size = r.end_of_file;
  fi.allocation_size = r.allocation_size;
  fi.attributes = r.file_attributes;
  fi.creation_time = r.creation_time;
  fi.last_access_time = r.last_access_time;
  fi.last_write_time = r.last_write_time;
  fi.change_time = r.change_time;
  return fi;
}

}  // namespace

absl::StatusOr<std::unique_ptr<File>> Tree::Open(absl::string_view path,
                                                 const OpenOptions& options) {
  Client* c = session_->client_;
  const std::string name = SmbPath(path);
  SMBD_ASSIGN_OR_RETURN(CreateRequest req, MakeCreate(options, name));
  SmbMessageRef m = session_->NewMessage(Command::kCreate, id_);
  SMBD_RETURN_IF_ERROR(
      EncodeOne(m.get(), c->pool(), [&](WireWriter* w) { return EncodeCreateRequest(req, w); }));
  SMBD_RETURN_IF_ERROR(c->RoundTrip(m));
  SMBD_RETURN_IF_ERROR(ResponseStatus(*m, absl::StrCat("CREATE ", path)));
  SMBD_ASSIGN_OR_RETURN(CreateResponse resp, DecodeCreateResponse(Reader(*m)));
  std::unique_ptr<File> f(new File(this));
  f->id_ = resp.file_id;
  f->size_at_open_ = resp.end_of_file;
  return f;
}

absl::StatusOr<FileInfo> Tree::Stat(absl::string_view path) {
  Client* c = session_->client_;
  const std::string name = SmbPath(path);
  OpenOptions oo;
  oo.read = false;
  SMBD_ASSIGN_OR_RETURN(CreateRequest create, MakeCreate(oo, name));
  create.create_options = 0;  // a file or a directory
  create.file_attributes = 0;
  SmbMessageRef open = session_->NewMessage(Command::kCreate, id_);
  SmbMessageRef query = session_->NewMessage(Command::kQueryInfo, id_, 4096);
  SmbMessageRef close = session_->NewMessage(Command::kClose, id_);
  open->next = query;
  query->next = close;
  QueryInfoRequest q;
  q.info_type = kInfoFile;
  q.file_info_class = kFileAllInformation;
  q.output_buffer_length = 4096;
  q.file_id = FileId::Related();
  CloseRequest cl;
  cl.file_id = FileId::Related();
  {
    CompoundWriter cw(&open->request, c->pool());
    SMBD_RETURN_IF_ERROR(EncodeCreateRequest(create, cw.Begin(open.get(), false)));
    cw.End();
    EncodeQueryInfoRequest(q, cw.Begin(query.get(), true));
    cw.End();
    EncodeCloseRequest(cl, cw.Begin(close.get(), true));
    cw.End();
    SMBD_RETURN_IF_ERROR(cw.Finish());
  }
  SMBD_RETURN_IF_ERROR(c->RoundTrip(open));
  SMBD_RETURN_IF_ERROR(ResponseStatus(*open, absl::StrCat("CREATE ", path)));
  SMBD_ASSIGN_OR_RETURN(CreateResponse cr, DecodeCreateResponse(Reader(*open)));
  FileInfo fi = InfoFromCreate(cr, std::string(path));
  // The QUERY_INFO result refines the CREATE's; an error there is reported.
  SMBD_RETURN_IF_ERROR(ResponseStatus(*query, absl::StrCat("QUERY_INFO ", path)));
  SMBD_ASSIGN_OR_RETURN(QueryInfoResponse qr, DecodeQueryInfoResponse(Reader(*query)));
  SMBD_ASSIGN_OR_RETURN(WireReader buf,
                        Reader(*query).Sub(qr.output_buffer_offset, qr.output_buffer_length));
  SMBD_ASSIGN_OR_RETURN(FileAllInfo all, DecodeFileAllInformation(buf));
  fi.size = all.standard.end_of_file;
  fi.allocation_size = all.standard.allocation_size;
  fi.attributes = all.basic.file_attributes;
  fi.last_write_time = all.basic.last_write_time;
  return fi;
}

absl::StatusOr<std::string> Tree::ReadSmallFile(absl::string_view path, uint32_t max_bytes) {
  Client* c = session_->client_;
  // Inline in a compound frame: within the transport's frame limit too.
  const uint64_t frame = c->connection_->transport()->limits().max_receive_frame;
  const uint32_t len = static_cast<uint32_t>(
      std::min<uint64_t>({max_bytes, c->max_read(), frame > 2048 ? frame - 2048 : 4096}));
  const std::string name = SmbPath(path);
  SMBD_ASSIGN_OR_RETURN(CreateRequest create, MakeCreate(OpenOptions(), name));
  SmbMessageRef open = session_->NewMessage(Command::kCreate, id_);
  SmbMessageRef read = session_->NewMessage(Command::kRead, id_, len);
  SmbMessageRef close = session_->NewMessage(Command::kClose, id_);
  open->next = read;
  read->next = close;
  ReadRequest rr;
  rr.length = len;
  rr.file_id = FileId::Related();
  CloseRequest cl;
  cl.file_id = FileId::Related();
  cl.flags = 1;  // POSTQUERY_ATTRIB: the size, to tell whether the file was longer
  {
    CompoundWriter cw(&open->request, c->pool());
    SMBD_RETURN_IF_ERROR(EncodeCreateRequest(create, cw.Begin(open.get(), false)));
    cw.End();
    EncodeReadRequest(rr, cw.Begin(read.get(), true));
    cw.End();
    EncodeCloseRequest(cl, cw.Begin(close.get(), true));
    cw.End();
    SMBD_RETURN_IF_ERROR(cw.Finish());
  }
  SMBD_RETURN_IF_ERROR(c->RoundTrip(open));
  SMBD_RETURN_IF_ERROR(ResponseStatus(*open, absl::StrCat("CREATE ", path)));
  std::string out;
  if (read->response_header.status != ntstatus::kEndOfFile) {
    SMBD_RETURN_IF_ERROR(ResponseStatus(*read, absl::StrCat("READ ", path)));
    SMBD_ASSIGN_OR_RETURN(ReadResponse resp, DecodeReadResponse(Reader(*read)));
    out.resize(resp.data_length);
    SMBD_ASSIGN_OR_RETURN(BvecqIter it, read->response.Range(resp.data_offset, resp.data_length));
    it.CopyOut(absl::MakeSpan(reinterpret_cast<uint8_t*>(out.data()), out.size()));
  }
  SMBD_ASSIGN_OR_RETURN(CloseResponse cr, DecodeCloseResponse(Reader(*close)));
  if (cr.end_of_file > out.size()) {
    return absl::OutOfRangeError(
        absl::StrCat(path, " is ", cr.end_of_file, " bytes, more than the ", len, " read"));
  }
  c->bytes_read_ += out.size();
  return out;
}

// ---------------------------------------------------------------------------------------------
// File

File::~File() {
  if (!closed_) (void)Close();
}

absl::Status File::Close() {
  if (closed_) return absl::OkStatus();
  closed_ = true;
  Session* s = tree_->session_;
  Client* c = s->client_;
  if (!c->connection_->status().ok()) return c->connection_->status();
  CloseRequest req;
  req.file_id = id_;
  return s->Exchange(
      Command::kClose, tree_->id_, [&](WireWriter* w) { EncodeCloseRequest(req, w); }, "CLOSE");
}

absl::StatusOr<FileInfo> File::Stat() {
  Session* s = tree_->session_;
  Client* c = s->client_;
  SmbMessageRef m = s->NewMessage(Command::kQueryInfo, tree_->id_, 4096);
  QueryInfoRequest q;
  q.info_type = kInfoFile;
  q.file_info_class = kFileAllInformation;
  q.output_buffer_length = 4096;
  q.file_id = id_;
  SMBD_RETURN_IF_ERROR(
      EncodeOne(m.get(), c->pool(), [&](WireWriter* w) { return EncodeQueryInfoRequest(q, w); }));
  SMBD_RETURN_IF_ERROR(c->RoundTrip(m));
  SMBD_RETURN_IF_ERROR(ResponseStatus(*m, "QUERY_INFO"));
  SMBD_ASSIGN_OR_RETURN(QueryInfoResponse qr, DecodeQueryInfoResponse(Reader(*m)));
  SMBD_ASSIGN_OR_RETURN(WireReader buf,
                        Reader(*m).Sub(qr.output_buffer_offset, qr.output_buffer_length));
  SMBD_ASSIGN_OR_RETURN(FileAllInfo all, DecodeFileAllInformation(buf));
  FileInfo fi;
  fi.name = all.name;
  fi.size = all.standard.end_of_file;
  fi.allocation_size = all.standard.allocation_size;
  fi.attributes = all.basic.file_attributes;
  fi.creation_time = all.basic.creation_time;
  fi.last_access_time = all.basic.last_access_time;
  fi.last_write_time = all.basic.last_write_time;
  fi.change_time = all.basic.change_time;
  return fi;
}

absl::StatusOr<std::vector<FileNotification>> File::WaitForChanges(
    const ChangeNotifyOptions& options) {
  Session* s = tree_->session_;
  Client* c = s->client_;
  SmbMessageRef m = s->NewMessage(Command::kChangeNotify, tree_->id_, options.buffer_bytes);
  ChangeNotifyRequest req;
  req.flags = options.watch_tree ? kWatchTree : 0;
  req.output_buffer_length = options.buffer_bytes;
  req.file_id = id_;
  req.completion_filter = options.filter;
  SMBD_RETURN_IF_ERROR(EncodeOne(m.get(), c->pool(), [&](WireWriter* w) {
    EncodeChangeNotifyRequest(req, w);
    return absl::OkStatus();
  }));
  SMBD_RETURN_IF_ERROR(c->connection_->Submit(m));
  const absl::Duration timeout =
      options.timeout > absl::ZeroDuration() ? options.timeout : c->options_.request_timeout;
  absl::Status waited = m->Wait(timeout);
  bool timed_out = false;
  if (waited.code() == absl::StatusCode::kDeadlineExceeded) {
    // Nothing changed in time: cancel it ([MS-SMB2] 3.2.4.24) and wait for its end, so that the
    // server holds no request of ours and the credits come back.
    timed_out = true;
    SMBD_RETURN_IF_ERROR(c->connection_->Cancel(m.get()));
    waited = m->Wait(c->options_.request_timeout);
  }
  if (!waited.ok()) {
    c->connection_->Abandon(m.get());
    return waited;
  }
  if (timed_out && m->response_header.status == ntstatus::kCancelled) {
    return absl::DeadlineExceededError(
        absl::StrCat("CHANGE_NOTIFY: no change within ", absl::FormatDuration(timeout)));
  }
  SMBD_RETURN_IF_ERROR(ResponseStatus(*m, "CHANGE_NOTIFY"));
  if (m->response_header.status == ntstatus::kNotifyEnumDir) {
    return std::vector<FileNotification>();
  }
  return DecodeChangeNotifyResponse(Reader(*m));
}

bool File::UseRdma(uint64_t bytes) const {
  const Session* s = tree_->session_;
  const Client* c = s->client_;
  return bytes >= c->options_.rdma_threshold && c->connection_->transport()->supports_rdma() &&
         !s->signs() && !s->seals() && c->negotiated_.dialect >= kDialect300;
}

absl::StatusOr<SmbMessageRef> File::SubmitRead(uint64_t offset, absl::Span<uint8_t> dst,
                                               std::unique_ptr<RdmaRegistration>* reg) {
  SMBD_ASSIGN_OR_RETURN(SmbMessageRef m, PrepareRead(offset, dst, reg));
  SMBD_RETURN_IF_ERROR(tree_->session_->client_->Submit(m));
  return m;
}

absl::StatusOr<SmbMessageRef> File::PrepareRead(uint64_t offset, absl::Span<uint8_t> dst,
                                                std::unique_ptr<RdmaRegistration>* reg) {
  Session* s = tree_->session_;
  Client* c = s->client_;
  const bool rdma = reg != nullptr && UseRdma(dst.size());
  // An RDMA read's data does not travel in the response: it costs a credit only for the
  // request/response ([MS-SMB2] 3.1.5.2 counts the payload either way; charge the payload).
  SmbMessageRef m = s->NewMessage(Command::kRead, tree_->id_, dst.size());
  m->expected_response_bytes = dst.size();
  m->read_destination = dst;
  ReadRequest req;
  req.length = static_cast<uint32_t>(dst.size());
  req.offset = offset;
  req.file_id = id_;
  if (rdma) {
    // The server may write exactly dst, for exactly this request.
    SMBD_ASSIGN_OR_RETURN(*reg, c->connection_->transport()->RegisterForPeer(dst, true));
    req.channel = kChannelRdmaV1;
    req.channel_info = (*reg)->descriptors();
    req.padding = 0;
  }
  SMBD_RETURN_IF_ERROR(
      EncodeOne(m.get(), c->pool(), [&](WireWriter* w) { return EncodeReadRequest(req, w); }));
  return m;
}

absl::StatusOr<uint32_t> File::FinishRead(const SmbMessageRef& m, absl::Span<uint8_t> dst,
                                          bool rdma) {
  Client* c = tree_->session_->client_;
  SMBD_RETURN_IF_ERROR(c->Await(m.get()));
  SMBD_ASSIGN_OR_RETURN(uint32_t n, ReadResult(m.get(), dst, rdma));
  c->bytes_read_ += n;
  if (rdma) {
    c->rdma_reads_++;
    c->rdma_bytes_read_ += n;
  }
  return n;
}

uint32_t File::ChunkSize(bool write) const {
  const Client* c = tree_->session_->client_;
  // The RDMA channel (when this session can use it at all) takes larger transfers.
  if (UseRdma(c->options_.rdma_threshold)) {
    const uint32_t rdma_chunk = write ? c->max_write(true) : c->max_read(true);
    if (UseRdma(rdma_chunk)) return rdma_chunk;
  }
  uint32_t chunk = write ? c->max_write() : c->max_read();
  if (!UseRdma(chunk)) {
    // Inline data travels in the frame: keep it inside the transport's frame limits (SMB Direct
    // reassembles at most MaxFragmentedSize), with room for headers and a transform header.
    const TransportLimits l = c->connection_->transport()->limits();
    const uint64_t frame = write ? l.max_send_frame : l.max_receive_frame;
    if (frame < uint64_t{chunk} + 1024) {
      chunk = static_cast<uint32_t>(std::max<uint64_t>(4096, (frame - 1024) & ~uint64_t{4095}));
    }
  }
  return chunk;
}

absl::StatusOr<uint64_t> File::PipelinedRead(
    uint64_t offset, uint64_t length,
    const std::function<absl::Span<uint8_t>(uint64_t at, size_t n)>& destination,
    const std::function<absl::Status(absl::Span<const uint8_t>)>& deliver) {
  Client* c = tree_->session_->client_;
  const uint32_t chunk = ChunkSize(false);
  const size_t depth = c->Depth(chunk);
  struct InFlight {
    SmbMessageRef m;
    absl::Span<uint8_t> dst;
    std::unique_ptr<RdmaRegistration> reg;  // deregistered as soon as the read is done
  };
  std::deque<InFlight> inflight;
  uint64_t next = 0, delivered = 0;
  bool eof = false;
  absl::Status error;
  const uint64_t epoch = c->cancel_epoch_.load(std::memory_order_acquire);
  while ((next < length && !eof && error.ok()) || !inflight.empty()) {
    while (next < length && !eof && error.ok() && inflight.size() < depth) {
      if (c->cancel_epoch_.load(std::memory_order_acquire) != epoch) {
        error = absl::CancelledError("read cancelled");
        break;
      }
      const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk, length - next));
      absl::Span<uint8_t> part = destination(next, n);
      std::unique_ptr<RdmaRegistration> reg;
      absl::StatusOr<SmbMessageRef> m = SubmitRead(offset + next, part, &reg);
      if (!m.ok()) {
        error = m.status();
        break;
      }
      inflight.push_back({*std::move(m), part, std::move(reg)});
      next += n;
    }
    if (inflight.empty()) break;
    InFlight f = std::move(inflight.front());
    inflight.pop_front();
    absl::StatusOr<uint32_t> got = FinishRead(f.m, f.dst, f.reg != nullptr);
    f.reg.reset();
    if (!got.ok()) {
      if (error.ok()) error = got.status();
      continue;  // drain the rest so that no buffer is written after we return
    }
    if (error.ok() && !eof && *got > 0) {
      absl::Status s = deliver(f.dst.subspan(0, *got));
      if (!s.ok()) error = s;
      delivered += *got;
    }
    if (*got < f.dst.size()) eof = true;  // short read: end of file
  }
  SMBD_RETURN_IF_ERROR(error);
  return delivered;
}

absl::StatusOr<uint64_t> File::Read(uint64_t offset, absl::Span<uint8_t> dst) {
  // Each chunk lands in its own part of dst: nothing to deliver.
  return PipelinedRead(
      offset, dst.size(), [&](uint64_t at, size_t n) { return dst.subspan(at, n); },
      [](absl::Span<const uint8_t>) { return absl::OkStatus(); });
}

absl::StatusOr<uint64_t> File::ReadTo(
    uint64_t offset, uint64_t length,
    const std::function<absl::Status(absl::Span<const uint8_t>)>& sink) {
  Client* c = tree_->session_->client_;
  const uint32_t chunk = ChunkSize(false);
  // No more slots than the range has chunks: requests in flight never outnumber either.
  const uint64_t chunks = length == UINT64_MAX ? UINT64_MAX : (length + chunk - 1) / chunk;
  const size_t depth =
      static_cast<size_t>(std::max<uint64_t>(1, std::min<uint64_t>(c->Depth(chunk), chunks)));
  // One window of buffers for the whole call (not per request), recycled slot by slot: chunks
  // complete in order, so a slot is free again by the time it comes round.
  // Page-aligned, so that an RDMA registration of a chunk covers no more pages than it must
  // (rxe: 512 pages per region, so a 2 MiB chunk fits one region only when aligned).
  std::unique_ptr<uint8_t[], AlignedDelete> window(new (std::align_val_t(kPageSize))
                                                       uint8_t[depth * chunk]);
  size_t slot = 0;
  return PipelinedRead(
      offset, length,
      [&](uint64_t, size_t n) {
        absl::Span<uint8_t> part(window.get() + slot * chunk, n);
        slot = (slot + 1) % depth;
        return part;
      },
      sink);
}

absl::StatusOr<SmbMessageRef> File::SubmitWrite(uint64_t offset, absl::Span<const uint8_t> src,
                                                std::unique_ptr<RdmaRegistration>* reg) {
  Session* s = tree_->session_;
  Client* c = s->client_;
  const bool rdma = reg != nullptr && UseRdma(src.size());
  SmbMessageRef m = s->NewMessage(Command::kWrite, tree_->id_, src.size());
  Bvecq payload;
  WriteRequest req;
  req.length = static_cast<uint32_t>(src.size());
  req.offset = offset;
  req.file_id = id_;
  if (rdma) {
    // The server reads exactly src, for exactly this request ([MS-SMB2] 3.2.4.7).
    SMBD_ASSIGN_OR_RETURN(*reg,
                          c->connection_->transport()->RegisterForPeer(
                              absl::MakeSpan(const_cast<uint8_t*>(src.data()), src.size()), false));
    req.channel = kChannelRdmaV1;
    req.channel_info = (*reg)->descriptors();
  } else {
    // The caller's bytes go out as they are: sendmsg gathers them (or the sealer reads them).
    SMBD_RETURN_IF_ERROR(payload.AppendExternal(const_cast<uint8_t*>(src.data()), src.size()));
  }
  SMBD_RETURN_IF_ERROR(EncodeOne(
      m.get(), c->pool(), [&](WireWriter* w) { return EncodeWriteRequest(req, &payload, w); }));
  SMBD_RETURN_IF_ERROR(c->Submit(m));
  return m;
}

absl::Status File::FinishWrite(const SmbMessageRef& m, uint32_t expected) {
  Client* c = tree_->session_->client_;
  SMBD_RETURN_IF_ERROR(c->Await(m.get()));
  // The request no longer references the caller's memory once answered.
  m->request.Clear();
  SMBD_RETURN_IF_ERROR(ResponseStatus(*m, "WRITE"));
  SMBD_ASSIGN_OR_RETURN(WriteResponse resp, DecodeWriteResponse(Reader(*m)));
  if (resp.count != expected) {
    return absl::DataLossError(
        absl::StrCat("WRITE wrote ", resp.count, " of ", expected, " bytes"));
  }
  c->bytes_written_ += resp.count;
  return absl::OkStatus();
}

absl::Status File::Write(uint64_t offset, absl::Span<const uint8_t> src) {
  Client* c = tree_->session_->client_;
  const uint32_t chunk = ChunkSize(true);
  const size_t depth = c->Depth(chunk);
  struct InFlight {
    SmbMessageRef m;
    uint32_t len;
    std::unique_ptr<RdmaRegistration> reg;
  };
  std::deque<InFlight> inflight;
  uint64_t next = 0;
  absl::Status error;
  const uint64_t epoch = c->cancel_epoch_.load(std::memory_order_acquire);
  while ((next < src.size() && error.ok()) || !inflight.empty()) {
    while (next < src.size() && error.ok() && inflight.size() < depth) {
      if (c->cancel_epoch_.load(std::memory_order_acquire) != epoch) {
        error = absl::CancelledError("write cancelled");
        break;
      }
      const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(chunk, src.size() - next));
      std::unique_ptr<RdmaRegistration> reg;
      absl::StatusOr<SmbMessageRef> m = SubmitWrite(offset + next, src.subspan(next, n), &reg);
      if (!m.ok()) {
        error = m.status();
        break;
      }
      inflight.push_back({*std::move(m), n, std::move(reg)});
      next += n;
    }
    if (inflight.empty()) break;
    InFlight f = std::move(inflight.front());
    inflight.pop_front();
    absl::Status s = FinishWrite(f.m, f.len);
    if (f.reg != nullptr && s.ok()) {
      c->rdma_writes_++;
      c->rdma_bytes_written_ += f.len;
    }
    f.reg.reset();
    if (!s.ok() && error.ok()) error = s;
  }
  return error;
}

// ---------------------------------------------------------------------------------------------
// Operations added on top of the basics.

absl::Status Session::ValidateNegotiate(uint32_t tree_id) {
  Client* c = client_;
  std::vector<uint16_t> dialects;
  for (uint16_t d : kAllDialects) {
    if (d >= c->options_.min_dialect && d <= c->options_.max_dialect) dialects.push_back(d);
  }
  ValidateNegotiateInfoRequest v;
  v.capabilities = kCapLargeMtu | kCapEncryption;
  std::memcpy(v.guid, c->client_guid_, 16);
  v.security_mode = kSigningEnabled | (c->options_.require_signing ? kSigningRequired : 0);
  v.dialects = dialects;
  uint8_t input[64];
  WireWriter iw(absl::MakeSpan(input));
  EncodeValidateNegotiateInfo(v, &iw);
  SMBD_RETURN_IF_ERROR(iw.Finish());
  IoctlRequest req;
  req.ctl_code = kFsctlValidateNegotiateInfo;
  req.input = iw.written();
  req.max_output_response = 24;
  SmbMessageRef m = NewMessage(Command::kIoctl, tree_id);
  SMBD_RETURN_IF_ERROR(
      EncodeOne(m.get(), c->pool(), [&](WireWriter* w) { return EncodeIoctlRequest(req, w); }));
  SMBD_RETURN_IF_ERROR(c->RoundTrip(m));
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
  const NegotiatedInfo& n = c->negotiated_;
  if (vr.dialect != n.dialect || vr.security_mode != n.server_security_mode ||
      vr.capabilities != n.server_capabilities || std::memcmp(vr.guid, n.server_guid, 16) != 0) {
    return absl::PermissionDeniedError(
        "FSCTL_VALIDATE_NEGOTIATE_INFO does not match the NEGOTIATE: possible downgrade attack");
  }
  return absl::OkStatus();
}

// CREATE + the related member `encode_middle` writes + CLOSE, as one compound round trip.
absl::Status Tree::OpenDoClose(const CreateRequest& create, Command middle_command,
                               const std::function<absl::Status(WireWriter*)>& encode_middle,
                               absl::string_view what) {
  Client* c = session_->client_;
  SmbMessageRef open = session_->NewMessage(Command::kCreate, id_);
  SmbMessageRef middle = session_->NewMessage(middle_command, id_);
  SmbMessageRef close = session_->NewMessage(Command::kClose, id_);
  open->next = middle;
  middle->next = close;
  CloseRequest cl;
  cl.file_id = FileId::Related();
  {
    CompoundWriter cw(&open->request, c->pool());
    SMBD_RETURN_IF_ERROR(EncodeCreateRequest(create, cw.Begin(open.get(), false)));
    cw.End();
    SMBD_RETURN_IF_ERROR(encode_middle(cw.Begin(middle.get(), true)));
    cw.End();
    EncodeCloseRequest(cl, cw.Begin(close.get(), true));
    cw.End();
    SMBD_RETURN_IF_ERROR(cw.Finish());
  }
  SMBD_RETURN_IF_ERROR(c->RoundTrip(open));
  SMBD_RETURN_IF_ERROR(ResponseStatus(*open, absl::StrCat("CREATE ", what)));
  SMBD_RETURN_IF_ERROR(
      ResponseStatus(*middle, absl::StrCat(CommandName(middle_command), " ", what)));
  return ResponseStatus(*close, absl::StrCat("CLOSE ", what));
}

absl::Status Tree::ListEach(absl::string_view dir,
                            const std::function<absl::Status(const FileInfo&)>& visit) {
  Client* c = session_->client_;
  OpenOptions oo;
  oo.directory = true;
  SMBD_ASSIGN_OR_RETURN(std::unique_ptr<File> d, Open(dir, oo));
  int empty_rounds = 0;
  for (int round = 0;; ++round) {
    SmbMessageRef m = session_->NewMessage(Command::kQueryDirectory, id_, 65536);
    QueryDirectoryRequest q;
    q.file_id = d->id();
    q.flags = round == 0 ? kQueryDirRestartScans : 0;
    q.output_buffer_length = 65536;
    SMBD_RETURN_IF_ERROR(EncodeOne(
        m.get(), c->pool(), [&](WireWriter* w) { return EncodeQueryDirectoryRequest(q, w); }));
    SMBD_RETURN_IF_ERROR(c->RoundTrip(m));
    if (m->response_header.status == ntstatus::kNoMoreFiles) break;
    SMBD_RETURN_IF_ERROR(ResponseStatus(*m, absl::StrCat("QUERY_DIRECTORY ", dir)));
    SMBD_ASSIGN_OR_RETURN(QueryDirectoryResponse resp, DecodeQueryDirectoryResponse(Reader(*m)));
    SMBD_ASSIGN_OR_RETURN(DirectoryEntryIterator it,
                          DirectoryEntryIterator::Create(Reader(*m), resp));
    DirectoryEntry e;
    int entries = 0;  // visited: "." and ".." alone are no progress
    while (true) {
      SMBD_ASSIGN_OR_RETURN(bool more, it.Next(&e));
      if (!more) break;
      if (e.name == "." || e.name == "..") continue;
      ++entries;
      FileInfo fi;
      fi.name = std::move(e.name);
      fi.size = e.end_of_file;
      fi.allocation_size = e.allocation_size;
      fi.attributes = e.file_attributes;
      fi.creation_time = e.creation_time;
      fi.last_access_time = e.last_access_time;
      fi.last_write_time = e.last_write_time;
      fi.change_time = e.change_time;
      SMBD_RETURN_IF_ERROR(visit(fi));
    }
    // A server answering SUCCESS with nothing new in it, again and again, never ends the
    // listing.
    empty_rounds = entries == 0 ? empty_rounds + 1 : 0;
    if (empty_rounds > 16) {
      return absl::DataLossError(
          absl::StrCat("QUERY_DIRECTORY ", dir, ": the server keeps answering with no entries"));
    }
  }
  return d->Close();
}

absl::StatusOr<std::vector<FileInfo>> Tree::List(absl::string_view dir) {
  const ClientOptions& o = session_->client_->options_;
  std::vector<FileInfo> out;
  uint64_t bytes = 0;
  SMBD_RETURN_IF_ERROR(ListEach(dir, [&](const FileInfo& fi) {
    bytes += sizeof(FileInfo) + fi.name.size();
    if (out.size() >= o.max_list_entries || bytes > o.max_list_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "listing ", dir, ": more than ", out.size(), " entries (", bytes,
          " bytes; ClientOptions::max_list_entries ", o.max_list_entries, ", max_list_bytes ",
          o.max_list_bytes, "); use Tree::ListEach to stream a directory this large"));
    }
    out.push_back(fi);
    return absl::OkStatus();
  }));
  return out;
}

absl::Status Tree::Mkdir(absl::string_view path) {
  Client* c = session_->client_;
  OpenOptions oo;
  oo.directory = true;
  oo.read = false;
  oo.disposition = kFileCreate;
  const std::string name = SmbPath(path);
  SMBD_ASSIGN_OR_RETURN(CreateRequest create, MakeCreate(oo, name));
  SmbMessageRef open = session_->NewMessage(Command::kCreate, id_);
  SmbMessageRef close = session_->NewMessage(Command::kClose, id_);
  open->next = close;
  CloseRequest cl;
  cl.file_id = FileId::Related();
  {
    CompoundWriter cw(&open->request, c->pool());
    SMBD_RETURN_IF_ERROR(EncodeCreateRequest(create, cw.Begin(open.get(), false)));
    cw.End();
    EncodeCloseRequest(cl, cw.Begin(close.get(), true));
    cw.End();
    SMBD_RETURN_IF_ERROR(cw.Finish());
  }
  SMBD_RETURN_IF_ERROR(c->RoundTrip(open));
  return ResponseStatus(*open, absl::StrCat("CREATE (mkdir) ", path));
}

namespace {
absl::StatusOr<CreateRequest> DeleteCreate(const std::string& name, bool directory) {
  OpenOptions oo;
  oo.read = false;
  oo.directory = directory;
  SMBD_ASSIGN_OR_RETURN(CreateRequest create, MakeCreate(oo, name));
  create.desired_access = kDelete | kFileReadAttributes | kSynchronize;
  create.file_attributes = 0;
  return create;
}
}  // namespace

absl::Status Tree::Rmdir(absl::string_view path) {
  const std::string name = SmbPath(path);
  SMBD_ASSIGN_OR_RETURN(CreateRequest create, DeleteCreate(name, true));
  return OpenDoClose(
      create, Command::kSetInfo,
      [](WireWriter* w) {
        EncodeSetDispositionRequest(FileId::Related(), true, w);
        return absl::OkStatus();
      },
      path);
}

absl::Status Tree::Delete(absl::string_view path) {
  const std::string name = SmbPath(path);
  SMBD_ASSIGN_OR_RETURN(CreateRequest create, DeleteCreate(name, false));
  return OpenDoClose(
      create, Command::kSetInfo,
      [](WireWriter* w) {
        EncodeSetDispositionRequest(FileId::Related(), true, w);
        return absl::OkStatus();
      },
      path);
}

absl::Status Tree::Rename(absl::string_view from, absl::string_view to, bool replace) {
  const std::string name = SmbPath(from);
  const std::string target = SmbPath(to);
  SMBD_ASSIGN_OR_RETURN(CreateRequest create, DeleteCreate(name, false));
  create.create_options = 0;  // files and directories
  return OpenDoClose(
      create, Command::kSetInfo,
      [&](WireWriter* w) { return EncodeSetRenameRequest(FileId::Related(), target, replace, w); },
      from);
}

absl::Status File::Truncate(uint64_t size) {
  return tree_->session_->Exchange(
      Command::kSetInfo, tree_->id_,
      [&](WireWriter* w) { EncodeSetEndOfFileRequest(id_, size, w); }, "SET_INFO (end of file)");
}

absl::Status File::Flush() {
  FlushRequest req;
  req.file_id = id_;
  return tree_->session_->Exchange(
      Command::kFlush, tree_->id_, [&](WireWriter* w) { EncodeFlushRequest(req, w); }, "FLUSH");
}

namespace {
struct AsyncRead {
  File::ReadCallback callback;
  void* arg;
  absl::Span<uint8_t> dst;
  RdmaRegistration* reg;  // owned; null for inline data
  Client* client;
};
}  // namespace

absl::Status File::ReadAsync(uint64_t offset, absl::Span<uint8_t> dst, ReadCallback callback,
                             void* arg) {
  Client* c = tree_->session_->client_;
  const uint32_t limit = c->max_read(UseRdma(dst.size()));
  if (dst.size() > limit) {
    return absl::InvalidArgumentError(
        absl::StrCat("ReadAsync of ", dst.size(), " bytes exceeds the max read size ", limit));
  }
  // Over SMB Direct large enough reads use the RDMA channel, as File::Read does.
  std::unique_ptr<RdmaRegistration> reg;
  SMBD_ASSIGN_OR_RETURN(SmbMessageRef m, PrepareRead(offset, dst, &reg));
  // The callback's state travels in the message itself: no allocation per request.
  static_assert(sizeof(AsyncRead) <= sizeof(m->user_data), "user_data too small");
  static_assert(std::is_trivially_destructible_v<AsyncRead>);
  auto* state = new (m->user_data) AsyncRead{callback, arg, dst, reg.get(), c};
  m->SetCallback(
      [](SmbMessage* msg, void*) {
        AsyncRead* st = reinterpret_cast<AsyncRead*>(msg->user_data);
        std::unique_ptr<RdmaRegistration> owned(st->reg);
        const bool rdma = owned != nullptr;
        absl::StatusOr<uint32_t> r = msg->result().ok() ? File::ReadResult(msg, st->dst, rdma)
                                                        : absl::StatusOr<uint32_t>(msg->result());
        // Deregistered before the caller hears of it: the server cannot reach dst any more.
        owned.reset();
        if (r.ok()) {
          st->client->bytes_read_ += *r;
          if (rdma) {
            st->client->rdma_reads_++;
            st->client->rdma_bytes_read_ += *r;
          }
        }
        st->callback(st->arg, std::move(r));
      },
      state);
  // The callback runs within the request timeout even if the server never answers.
  m->SetDeadlineIn(c->options_.request_timeout);
  absl::Status s = c->connection_->Submit(m);
  if (s.ok()) {
    (void)reg.release();  // the callback owns it now
  }
  return s;
}

absl::StatusOr<uint32_t> File::ReadResult(SmbMessage* m, absl::Span<uint8_t> dst, bool rdma) {
  if (m->response_header.status == ntstatus::kEndOfFile) return 0;
  SMBD_RETURN_IF_ERROR(NtStatusToStatus(m->response_header.status, "READ"));
  SMBD_ASSIGN_OR_RETURN(ReadResponse resp, DecodeReadResponse(WireReader(m->response.begin())));
  if (rdma && resp.data_length == 0) {
    // [MS-SMB2] 3.3.5.12: over RDMA, DataLength is 0 and DataRemaining is what the server
    // wrote into the registered buffer. More than we registered cannot have been written.
    if (resp.data_remaining > dst.size()) {
      return absl::DataLossError(absl::StrCat("READ over RDMA claims ", resp.data_remaining,
                                              " bytes placed in a ", dst.size(), "-byte buffer"));
    }
    return resp.data_remaining;
  }
  if (resp.data_length > dst.size()) {
    return absl::DataLossError(
        absl::StrCat("READ returned ", resp.data_length, " bytes for a request of ", dst.size()));
  }
  if (resp.data_length > 0) {
    SMBD_ASSIGN_OR_RETURN(BvecqIter it, m->response.Range(resp.data_offset, resp.data_length));
    // Placed by the transport straight into dst: nothing to copy.
    if (it.Peek().data() != dst.data()) it.CopyOut(dst.subspan(0, resp.data_length));
  }
  return resp.data_length;
}

}  // namespace smbd
