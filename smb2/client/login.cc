#include "smb2/client/login.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "smb2/header.h"
#include "smb2/ntstatus.h"
#include "smb2/pdu/logoff.h"
#include "smb2/pdu/session_setup.h"
#include "smb2/security/authenticator.h"
#include "smb2/security/kerberos.h"
#include "smb2/security/kdf.h"
#include "smb2/security/preauth.h"
#include "smb2/security/sealing.h"
#include "smb2/security/signing.h"

namespace smbd {
namespace client_internal {

namespace {

// Where a SESSION_SETUP runs: a new session on the live connection, or the binding of an
// existing session to a new channel ([MS-SMB2] 3.2.4.2.3 with SMB2_SESSION_FLAG_BINDING).
struct LoginTarget {
  Channel* channel = nullptr;  // binding: the new channel (its connection, preauth, token)
  uint64_t bind_session_id = 0;
  std::shared_ptr<SessionCrypto> session;  // binding: the session's own keys
  bool binding() const { return channel != nullptr; }
  Connection* on(ClientContext* ctx) const {
    return channel != nullptr ? channel->connection : ctx->connection();
  }
};

// What the new channel's connection uses for the session while the binding runs: the
// SESSION_SETUP requests are signed with Session.SigningKey and so are the server's
// intermediate answers when it signs them ([MS-SMB2] 3.2.4.1.1, 3.3.4.1.1: a SHOULD; a signed
// one must verify, an unsigned one is accepted: see AcceptsUnsignedAnswer); the final answer is signed with the new Channel.SigningKey, which exists
// only once the exchange ends, so it is checked there (RunLoginOnce refuses it unsigned or
// wrongly signed).
class BindingSecurity : public SessionSecurity {
 public:
  explicit BindingSecurity(std::shared_ptr<SessionCrypto> session)
      : session_(std::move(session)) {}
  bool signs() const override { return false; }
  bool seals() const override { return false; }
  // Every request is "signed": Sign refuses all but SESSION_SETUP, so that no other request of
  // the session can leave unsigned and unsealed over a channel whose binding is not done.
  bool SignsRequest(Command command) const override { return true; }
  // ksmbd (Linux 6.1) sends the intermediate answer unsigned, so an unsigned one is accepted
  // (and a man in the middle can strip a server's signature from it). No channel is accepted
  // on it: what it carries (the NTLM challenge, a Kerberos continuation) is bound into the
  // session key that the final answer's Channel.SigningKey signature must prove. What it
  // exposes is what an unsigned first login exposes: the client's NTLMv2 answer to a
  // challenge of the man in the middle's choosing.
  bool AcceptsUnsignedAnswer(const Smb2Header& h) const override {
    return h.command == Command::kSessionSetup && h.status == ntstatus::kMoreProcessingRequired;
  }
  absl::Status Sign(BvecqIter member) override {
    WireReader r(member);
    SMBD_ASSIGN_OR_RETURN(Smb2Header h, DecodeHeader(&r));
    if (h.command != Command::kSessionSetup) {
      return absl::FailedPreconditionError(
          "a request of a session whose binding to this channel is not complete");
    }
    return session_->Sign(member);
  }
  absl::Status Verify(BvecqIter member) override {
    WireReader r(member);
    SMBD_ASSIGN_OR_RETURN(Smb2Header h, DecodeHeader(&r));
    if (h.command == Command::kSessionSetup && h.status == ntstatus::kSuccess) {
      return absl::OkStatus();  // checked with Channel.SigningKey by RunLoginOnce
    }
    return session_->Verify(member);
  }
  absl::StatusOr<Bvecq> Seal(const Bvecq&, PagePool*, FragAllocator*) override {
    return absl::FailedPreconditionError("a binding SESSION_SETUP is not encrypted");
  }
  absl::StatusOr<Bvecq> Unseal(const Bvecq&, PagePool*) override {
    return absl::PermissionDeniedError("encrypted frame on a channel still being bound");
  }

 private:
  const std::shared_ptr<SessionCrypto> session_;
};

// One SESSION_SETUP exchange with one mechanism. `who` names the user in messages.
absl::StatusOr<LoginResult> RunLoginOnce(ClientContext* ctx, const Credentials& creds,
                                         Authenticator& auth, const std::string& who,
                                         uint64_t previous_session_id, LoginResult& result,
                                         bool* server_accepted, const LoginTarget& target);

// RunLoginOnce, and when the client refuses a session the server had already accepted (a
// final answer that proves nothing, a guest session, a bad signature), a LOGOFF so that the
// server does not keep it. *server_accepted: the server said STATUS_SUCCESS.
absl::StatusOr<LoginResult> RunLogin(ClientContext* ctx, const Credentials& creds,
                                     Authenticator& auth, const std::string& who,
                                     uint64_t previous_session_id, bool* server_accepted,
                                     const LoginTarget& target) {
  LoginResult result;
  *server_accepted = false;
  absl::StatusOr<LoginResult> r = RunLoginOnce(ctx, creds, auth, who, previous_session_id,
                                               result, server_accepted, target);
  // (Never after a refused binding: a LOGOFF would end the session on every channel.)
  if (!r.ok() && *server_accepted && result.session_id != 0 && !target.binding() &&
      ctx->connection()->status().ok()) {
    // Best effort (unsigned: the session's keys were not accepted); the refusal stands anyway.
    (void)ctx->Exchange(Command::kLogoff, result.session_id, 0, EncodeLogoffRequest, "LOGOFF");
  }
  return r;
}

absl::StatusOr<LoginResult> RunLoginOnce(ClientContext* ctx, const Credentials& creds,
                                         Authenticator& auth, const std::string& who,
                                         uint64_t previous_session_id, LoginResult& result,
                                         bool* server_accepted, const LoginTarget& target) {
  const NegotiatedInfo& negotiated = ctx->negotiated();
  const ClientOptions& options = ctx->options();
  const bool binding = target.binding();
  Connection* on = target.on(ctx);
  // A binding hashes its own connection's NEGOTIATE and its own SESSION_SETUPs (3.2.5.3.1).
  PreauthIntegrity preauth =
      binding ? target.channel->preauth.Fork() : ctx->preauth().Fork();
  std::vector<uint8_t> server_token =
      binding ? target.channel->negotiate_token : ctx->negotiate_token();
  const bool is_311 = negotiated.dialect == kDialect311;
  if (binding) result.session_id = target.bind_session_id;

  for (int round = 0;; ++round) {
    if (round > 8) return absl::DataLossError("SESSION_SETUP: too many rounds");
    SMBD_ASSIGN_OR_RETURN(Authenticator::Step step, auth.Next(server_token));
    SmbMessageRef m = ctx->NewMessage(Command::kSessionSetup, result.session_id, 0);
    SessionSetupRequest req;
    req.security_mode = static_cast<uint8_t>(ctx->SecurityMode());
    req.security_buffer = step.token;
    // [MS-SMB2] 3.2.4.2.3: a session set up again after a reconnect names the one it replaces,
    // so that the server ends that one (and lets its durable handles be reclaimed) at once.
    // Every round carries it: servers read it from the request that completes the session.
    req.previous_session_id = previous_session_id;
    if (binding) req.flags = kSessionFlagBinding;
    SMBD_RETURN_IF_ERROR(EncodeOne(
        m.get(), *ctx, [&](WireWriter* w) { return EncodeSessionSetupRequest(req, w); }));
    SMBD_RETURN_IF_ERROR(ctx->RoundTrip(m, on));
    if (is_311) SMBD_RETURN_IF_ERROR(preauth.Update(m->request.begin()));
    const uint32_t status = m->response_header.status;
    if (status != ntstatus::kSuccess && status != ntstatus::kMoreProcessingRequired) {
      return NtStatusToStatus(
          status,
          absl::StrCat("SESSION_SETUP as '", who, "'"));
    }
    SMBD_ASSIGN_OR_RETURN(SessionSetupResponse resp, DecodeSessionSetupResponse(Reader(*m)));
    if (binding && m->response_header.session_id != target.bind_session_id) {
      return absl::DataLossError(absl::StrCat(
          "binding SESSION_SETUP answered for session 0x",
          absl::Hex(m->response_header.session_id), ", not 0x",
          absl::Hex(target.bind_session_id)));
    }
    result.session_id = m->response_header.session_id;
    SMBD_ASSIGN_OR_RETURN(server_token,
                          CopyBuffer(*m, resp.security_buffer_offset,
                                     resp.security_buffer_length, "SESSION_SETUP token"));
    if (status == ntstatus::kMoreProcessingRequired) {
      // [MS-SMB2] 3.2.5.3.1: every response but the final successful one is hashed.
      if (is_311) SMBD_RETURN_IF_ERROR(preauth.Update(m->response.begin()));
      continue;
    }
    *server_accepted = true;
    // Success. Credentials given: accept it only once the mechanism ran to its end and produced
    // a session key, with which the server then proves that it knows the password: 3.1.1's
    // final answer is signed and checked below ([MS-SMB2] 3.2.5.3.1), 3.0/3.0.2 sign
    // VALIDATE_NEGOTIATE at TREE_CONNECT (3.2.5.5), 2.x sessions are signed
    // (ClientOptions::sign_unproven_sessions). A server that says SUCCESS on the first leg, or
    // hands out a guest or null session, never proved anything: without this it could serve
    // any bytes it likes on an unsigned session. Guest and anonymous are accepted
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
          "SESSION_SETUP as '", who,
          "': the server accepted the session before authentication finished (STATUS_SUCCESS "
          "on round ",
          round + 1, "); refusing an unauthenticated session"));
    }
    if (binding) {
      // [MS-SMB2] 3.2.5.3.3: a guest answer to a binding is refused; the channel is signed
      // with a key of its own, derived from this exchange's session key (and, on 3.1.1, the
      // channel's preauth hash), and the final answer must prove the server holds it.
      if ((resp.session_flags & kSessionFlagIsGuest) != 0 || auth.session_key().empty()) {
        return absl::UnauthenticatedError(
            "binding SESSION_SETUP: the server answered as for a guest (or with no key)");
      }
      SMBD_ASSIGN_OR_RETURN(SmbSessionKeys keys,
                            DeriveSmbKeys(negotiated.dialect, auth.session_key().span(),
                                          is_311 ? preauth.value() : absl::Span<const uint8_t>(),
                                          negotiated.cipher));
      SMBD_ASSIGN_OR_RETURN(Signer channel_signer,
                            Signer::Create(negotiated.signing, keys.signing.span()));
      if (!m->response_header.is_signed()) {
        return absl::PermissionDeniedError(
            "binding SESSION_SETUP: the final answer is not signed; refusing the channel");
      }
      SMBD_RETURN_IF_ERROR(channel_signer.Verify(m->response.begin()));
      result.crypto = target.session->ForChannel(std::move(channel_signer));
      on->SetSessionSecurity(result.session_id, result.crypto);
      break;
    }
    result.guest = (resp.session_flags & kSessionFlagIsGuest) != 0;
    result.anonymous = (resp.session_flags & kSessionFlagIsNull) != 0 || creds.anonymous;
    const bool server_wants_encryption = (resp.session_flags & kSessionFlagEncryptData) != 0;

    if (!asked_unauthenticated) {
      if (result.guest || result.anonymous) {
        return absl::UnauthenticatedError(absl::StrCat(
            "SESSION_SETUP as '", who, "': the server logged us in as ",
            result.guest ? "guest" : "an anonymous (null) user",
            ", not as the user given; refusing (ask for a guest or anonymous session to accept "
            "one)"));
      }
      if (auth.session_key().empty()) {
        return absl::UnauthenticatedError(absl::StrCat(
            "SESSION_SETUP as '", who, "': authentication produced no session key"));
      }
    }
    const bool has_keys = !result.guest && !result.anonymous && !auth.session_key().empty();
    const bool server_requires_signing =
        (negotiated.server_security_mode & kSigningRequired) != 0;
    // SMB 2.0.2/2.1 have no signed final SESSION_SETUP answer (3.1.1) and no signed
    // VALIDATE_NEGOTIATE (3.0/3.0.2): nothing would prove that the server knows the password,
    // and a man in the middle can downgrade a NEGOTIATE to 2.1. Signing the session makes every
    // answer prove it; 2.x never uses the RDMA channel, so this costs only CPU.
    const bool unproven = negotiated.dialect < kDialect300 && has_keys;
    const bool sign = options.require_signing || server_requires_signing ||
                      (unproven && options.sign_unproven_sessions);
    const bool seal = options.require_encryption || server_wants_encryption;
    if (!has_keys && (options.require_signing || server_requires_signing ||
                      options.require_encryption)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "SESSION_SETUP: the server gave a ", result.guest ? "guest" : "anonymous",
          " session, which cannot be signed or encrypted as ",
          options.require_signing || options.require_encryption ? "required"
                                                                   : "the server requires"));
    }
    if (!has_keys) {
      // Guest/anonymous, as asked: nothing can be signed, and nothing is (the caller chose it).
      break;
    }
    if (seal && !negotiated.can_encrypt) {
      return absl::FailedPreconditionError("session must be encrypted but no cipher was agreed");
    }
    absl::Span<const uint8_t> hash;
    if (is_311) hash = preauth.value();
    SMBD_ASSIGN_OR_RETURN(
        SmbSessionKeys keys,
        DeriveSmbKeys(negotiated.dialect, auth.session_key().span(), hash, negotiated.cipher));
    SMBD_ASSIGN_OR_RETURN(Signer signer, Signer::Create(negotiated.signing, keys.signing.span()));
    // [MS-SMB2] 3.2.5.3.1: the final SESSION_SETUP response of 3.x is signed; check it. With
    // signing required, an unsigned final response is a downgrade. (A 2.x session signed only
    // by sign_unproven_sessions gets an unsigned final answer from a server that does not
    // require signing; its first signed answer proves the key.)
    if (m->response_header.is_signed()) {
      SMBD_RETURN_IF_ERROR(signer.Verify(m->response.begin()));
    } else if (options.require_signing || server_requires_signing || (is_311 && !seal)) {
      return absl::PermissionDeniedError(
          "SESSION_SETUP: the final response is not signed; refusing the session");
    }
    std::unique_ptr<Sealer> sealer;
    std::unique_ptr<Unsealer> unsealer;
    if (negotiated.can_encrypt) {
      SMBD_ASSIGN_OR_RETURN(
          sealer, Sealer::Create(negotiated.cipher, keys.encryption.span(), result.session_id));
      SMBD_ASSIGN_OR_RETURN(unsealer, Unsealer::Create(negotiated.cipher, keys.decryption.span()));
    }
    result.crypto = std::make_shared<SessionCrypto>(
        result.session_id, std::move(signer), std::move(sealer), std::move(unsealer), sign, seal,
        // [MS-SMB2] 3.2.4.1.1: 3.1.1 signs TREE_CONNECT; 3.0/3.0.2 sign the
        // FSCTL_VALIDATE_NEGOTIATE_INFO IOCTL (3.2.5.5), whatever the session's signing.
        is_311 ? (1u << static_cast<uint16_t>(Command::kTreeConnect))
               : (1u << static_cast<uint16_t>(Command::kIoctl)));
    on->SetSessionSecurity(result.session_id, result.crypto);
    break;
  }
  return std::move(result);
}

// `s` with `suffix` added to its message, its payloads (the server's NTSTATUS) kept.
absl::Status WithSuffix(const absl::Status& s, absl::string_view suffix) {
  if (suffix.empty() || s.ok()) return s;
  absl::Status out(s.code(), absl::StrCat(s.message(), suffix));
  s.ForEachPayload([&out](absl::string_view url, const absl::Cord& payload) {
    out.SetPayload(url, payload);
  });
  return out;
}

// Why Kerberos cannot be tried (or OK, with the ticket's principal in *principal).
absl::Status KerberosUsable(ClientContext* ctx, const Credentials& creds,
                            std::string* principal) {
  const Oid ours[] = {KerberosOid(), MsKerberosOid()};
  absl::StatusOr<Oid> offered = ChooseMechanism(ctx->negotiate_token(), ours);
  if (!offered.ok()) {
    return absl::UnimplementedError("the server does not offer Kerberos (its SPNEGO list)");
  }
  SMBD_ASSIGN_OR_RETURN(*principal, KerberosDefaultPrincipal());
  if (!KerberosPrincipalIsUser(*principal, creds.user)) {
    return absl::FailedPreconditionError(absl::StrCat("the Kerberos ticket is for ", *principal,
                                                      ", not for '", creds.user, "'"));
  }
  return absl::OkStatus();
}


absl::StatusOr<LoginResult> LoginOn(ClientContext* ctx, const Credentials& creds,
                                    uint64_t previous_session_id, const LoginTarget& target) {
  const bool unauthenticated = creds.anonymous || creds.guest;
  if (creds.kerberos == KerberosUse::kRequire && unauthenticated) {
    return absl::InvalidArgumentError(
        "Kerberos is required, but an anonymous or guest session was asked for");
  }
  std::string kerberos_note, ntlm_error_note;
  if (!unauthenticated && creds.kerberos != KerberosUse::kNever) {
    std::string principal;
    absl::Status usable = KerberosUsable(ctx, creds, &principal);
    const bool tried = usable.ok();
    if (tried) {
      KerberosOptions ko;
      ko.target_principal = !creds.kerberos_principal.empty()
                                ? creds.kerberos_principal
                                : DefaultSmbPrincipal(ctx->options().server_name);
      ko.offer_ntlm = creds.kerberos != KerberosUse::kRequire;
      KerberosAuthenticator auth(ko);
      bool server_accepted = false;
      absl::StatusOr<LoginResult> r = RunLogin(ctx, creds, auth, principal, previous_session_id,
                                               &server_accepted, target);
      if (r.ok()) {
        r->mechanism = "Kerberos";
        r->note = absl::StrCat("authenticated by Kerberos as ", auth.client_principal(), " to ",
                               ko.target_principal, " (mutual)");
        return r;
      }
      usable = r.status();
      if (auth.proof_failed() || server_accepted) {
        // The server claimed to accept the ticket and did not prove it (or its final answer
        // failed a check): a man in the middle may be forcing a weaker mechanism. No NTLM here.
        return WithSuffix(usable, " (the server's answer to the Kerberos ticket did not prove its "
                                  "identity: not falling back to NTLM)");
      }
    }
    // kRequire: Kerberos or nothing. kAuto: NTLM, unless Kerberos was tried with the user's
    // ticket and there is no password for NTLM (its error would hide the Kerberos one).
    if (creds.kerberos == KerberosUse::kRequire) {
      return WithSuffix(usable, " (Kerberos is required: NTLM not tried)");
    }
    if (tried && creds.password.empty()) return usable;
    if (creds.user.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "no user given, and Kerberos cannot log in (", usable.message(),
          "): give a user, or get a ticket with kinit"));
    }
    kerberos_note = absl::StrCat(" (Kerberos not used: ", usable.message(), ")");
    // An NTLM failure says why Kerberos did not run only where that is news: Kerberos was tried,
    // or the ticket is another user's.
    if (tried || absl::IsFailedPrecondition(usable)) ntlm_error_note = kerberos_note;
  }
  NtlmCredentials nc;
  nc.user = creds.anonymous ? "" : creds.user;
  nc.domain = creds.domain;
  nc.workstation = creds.workstation;
  if (!creds.anonymous) nc.password = creds.password.Clone();
  NtlmAuthenticator auth(std::move(nc));
  bool server_accepted = false;
  absl::StatusOr<LoginResult> ntlm =
      RunLogin(ctx, creds, auth, creds.anonymous ? "(anonymous)" : creds.user,
               previous_session_id, &server_accepted, target);
  if (!ntlm.ok()) return WithSuffix(ntlm.status(), ntlm_error_note);
  LoginResult r = *std::move(ntlm);
  r.mechanism = r.anonymous ? "anonymous" : r.guest ? "guest" : "NTLM";
  r.note = r.anonymous || r.guest ? absl::StrCat("logged in as ", r.mechanism)
                                  : absl::StrCat("authenticated by NTLM as ", creds.user);
  absl::StrAppend(&r.note, kerberos_note);
  return r;
}

}  // namespace

absl::StatusOr<LoginResult> Login(ClientContext* ctx, const Credentials& creds,
                                  uint64_t previous_session_id) {
  return LoginOn(ctx, creds, previous_session_id, LoginTarget());
}

absl::StatusOr<std::shared_ptr<SessionCrypto>> BindSession(
    ClientContext* ctx, Channel* channel, const Credentials& creds, uint64_t session_id,
    std::shared_ptr<SessionCrypto> session, bool kerberos) {
  LoginTarget target;
  target.channel = channel;
  target.bind_session_id = session_id;
  target.session = session;
  // The session's own mechanism, and no other: a session set up by Kerberos binds by Kerberos.
  Credentials c;
  c.user = creds.user;
  c.domain = creds.domain;
  c.password = creds.password.Clone();
  c.workstation = creds.workstation;
  c.kerberos_principal = creds.kerberos_principal;
  c.kerberos = kerberos ? KerberosUse::kRequire : KerberosUse::kNever;
  channel->connection->SetSessionSecurity(session_id,
                                          std::make_shared<BindingSecurity>(session));
  absl::StatusOr<LoginResult> r = LoginOn(ctx, c, 0, target);
  if (!r.ok()) {
    channel->connection->SetSessionSecurity(session_id, nullptr);
    return r.status();
  }
  return r->crypto;
}

}  // namespace client_internal
}  // namespace smbd
