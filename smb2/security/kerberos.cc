#include "smb2/security/kerberos.h"

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5/krb5.h>
#include <openssl/crypto.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "smb2/security/spnego.h"

namespace smbd {
namespace {

// The routine error of a GSS major status (RFC 2744 section 3.9.1), by our own table, and
// minor codes by libkrb5 (MinorText): gss_display_status is not used, because in MIT krb5 1.20
// it leaked a buffer under LeakSanitizer (kerberos_test) for codes it had not returned itself.
std::string MajorText(OM_uint32 major) {
  switch (GSS_ROUTINE_ERROR(major)) {
    case GSS_S_BAD_MECH: return "unsupported mechanism";
    case GSS_S_BAD_NAME: return "invalid name";
    case GSS_S_BAD_NAMETYPE: return "unsupported name type";
    case GSS_S_BAD_BINDINGS: return "channel bindings mismatch";
    case GSS_S_BAD_STATUS: return "bad status";
    case GSS_S_BAD_SIG: return "bad signature (MIC)";
    case GSS_S_NO_CRED: return "no credentials";
    case GSS_S_NO_CONTEXT: return "no context";
    case GSS_S_DEFECTIVE_TOKEN: return "defective token";
    case GSS_S_DEFECTIVE_CREDENTIAL: return "defective credential";
    case GSS_S_CREDENTIALS_EXPIRED: return "credentials expired";
    case GSS_S_CONTEXT_EXPIRED: return "context expired";
    case GSS_S_FAILURE: return "failure";
    case GSS_S_BAD_QOP: return "bad quality of protection";
    case GSS_S_UNAUTHORIZED: return "unauthorized";
    case GSS_S_UNAVAILABLE: return "unavailable";
    case GSS_S_DUPLICATE_ELEMENT: return "duplicate element";
    case GSS_S_NAME_NOT_MN: return "name is not a mechanism name";
    default: return absl::StrCat("GSS major status 0x", absl::Hex(major));
  }
}

// The text of a minor status (a krb5 error code), from libkrb5's error tables.
std::string MinorText(OM_uint32 code) {
  if (code == 0) return "no detail";
  krb5_context k = nullptr;
  if (krb5_init_context(&k) != 0) return absl::StrCat("krb5 error ", code);
  const char* text = krb5_get_error_message(k, static_cast<krb5_error_code>(code));
  std::string out = text != nullptr ? text : absl::StrCat("krb5 error ", code);
  krb5_free_error_message(k, text);
  krb5_free_context(k);
  return out;
}

std::string DisplayName(gss_name_t name) {
  OM_uint32 minor = 0;
  gss_buffer_desc text = GSS_C_EMPTY_BUFFER;
  if (GSS_ERROR(gss_display_name(&minor, name, &text, nullptr))) return "";
  std::string out(static_cast<const char*>(text.value), text.length);
  gss_release_buffer(&minor, &text);
  return out;
}

gss_OID_set_desc KrbMechSet() {
  return gss_OID_set_desc{1, const_cast<gss_OID>(gss_mech_krb5)};
}

// RFC 4121 section 4.1: the two-byte TOK_ID after the mechanism OID in a framed token.
constexpr uint16_t kTokApRep = 0x0200;

// The TOK_ID of a framed Kerberos token ([APPLICATION 0] { OID, TOK_ID, ... }), or 0.
uint16_t KerberosTokenId(absl::Span<const uint8_t> t) {
  if (t.size() < 2 || t[0] != 0x60) return 0;
  size_t i = 1;
  if (t[i] & 0x80) {
    i += 1 + (t[i] & 0x7f);
  } else {
    i += 1;
  }
  if (i + 2 > t.size() || t[i] != 0x06) return 0;
  i += 2 + t[i + 1];
  if (i + 2 > t.size()) return 0;
  return static_cast<uint16_t>((t[i] << 8) | t[i + 1]);
}

bool IsKerberos(const Oid& oid) { return oid == KerberosOid() || oid == MsKerberosOid(); }

}  // namespace

struct KerberosAuthenticator::Gss {
  gss_ctx_id_t context = GSS_C_NO_CONTEXT;
  gss_name_t target = GSS_C_NO_NAME;
  ~Gss() {
    OM_uint32 minor = 0;
    if (context != GSS_C_NO_CONTEXT) gss_delete_sec_context(&minor, &context, GSS_C_NO_BUFFER);
    if (target != GSS_C_NO_NAME) gss_release_name(&minor, &target);
  }
};

std::string DefaultSmbPrincipal(absl::string_view host) {
  absl::string_view h = host;
  if (absl::ConsumePrefix(&h, "[")) absl::ConsumeSuffix(&h, "]");
  return absl::StrCat("cifs/", h);
}

namespace {
std::string UserPart(absl::string_view name) {
  const size_t slash = name.find('\\');
  if (slash != absl::string_view::npos) name.remove_prefix(slash + 1);
  return absl::AsciiStrToLower(name.substr(0, name.find('@')));
}
}  // namespace

bool KerberosPrincipalIsUser(absl::string_view principal, absl::string_view user) {
  if (user.empty()) return true;
  if (UserPart(user) != UserPart(principal)) return false;
  // A realm given with the user ("alice@REALM") must be the ticket's too. A NetBIOS domain
  // ("CORP\\alice") cannot be mapped to a realm here and is not compared.
  const size_t at = user.find('@');
  if (at == absl::string_view::npos) return true;
  const size_t pat = principal.find('@');
  return pat != absl::string_view::npos &&
         absl::EqualsIgnoreCase(user.substr(at + 1), principal.substr(pat + 1));
}

absl::Status KerberosError(uint32_t major, uint32_t minor, absl::string_view principal,
                           absl::string_view what, bool ap_rep) {
  const auto is = [minor](krb5_error_code code) {
    return minor == static_cast<OM_uint32>(code);
  };
  const OM_uint32 routine = GSS_ROUTINE_ERROR(major);
  if (is(KRB5KRB_AP_ERR_SKEW)) {
    return absl::UnauthenticatedError(
        "Kerberos: clock skew too great between this host and the KDC or the server (Kerberos "
        "allows 5 minutes by default): synchronise the clocks (NTP) and try again");
  }
  if (routine == GSS_S_CREDENTIALS_EXPIRED || is(KRB5KRB_AP_ERR_TKT_EXPIRED) ||
      is(KRB5KDC_ERR_TGT_REVOKED)) {
    return absl::UnauthenticatedError(
        "Kerberos: the ticket has expired: run kinit again (or kinit -R while it is renewable)");
  }
  if (is(KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN)) {
    return absl::UnauthenticatedError(absl::StrCat(
        "Kerberos: the KDC does not know the service principal '", principal,
        "': connect by the server's name as registered in the domain (not an IP address or an "
        "alias), or name the principal (--kerberos-principal)"));
  }
  if (is(KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN)) {
    return absl::UnauthenticatedError(
        "Kerberos: the KDC does not know the client principal of the ticket: kinit as a user of "
        "the server's domain");
  }
  if (is(KRB5_KDC_UNREACH)) {
    return absl::UnavailableError(
        "Kerberos: no KDC of the realm could be reached: check the network and the realm's kdc "
        "entries in krb5.conf (KRB5_CONFIG)");
  }
  if (is(KRB5_REALM_UNKNOWN) || is(KRB5_REALM_CANT_RESOLVE) || is(KRB5_CONFIG_NODEFREALM)) {
    return absl::UnavailableError(absl::StrCat(
        "Kerberos: no KDC is known for the realm of '", principal,
        "': add the realm to krb5.conf (KRB5_CONFIG) or give the principal with its @REALM"));
  }
  if (ap_rep && (is(KRB5KRB_AP_ERR_MODIFIED) || is(KRB5KRB_AP_ERR_BAD_INTEGRITY))) {
    // The server answered with an AP-REP and it did not decrypt here with the session key.
    return absl::UnauthenticatedError(absl::StrCat(
        "Kerberos: the server's AP-REP does not verify (it does not hold the key of '",
        principal, "', or the answer was changed on the way): mutual authentication failed"));
  }
  if (is(KRB5KRB_AP_ERR_MODIFIED)) {
    // The server's KRB-ERROR (or our ticket request): the ticket did not decrypt there.
    return absl::UnauthenticatedError(absl::StrCat(
        "Kerberos: the server could not decrypt the ticket for '", principal,
        "' (its keytab is out of date, or the name belongs to another host)"));
  }
  if (routine == GSS_S_NO_CRED || is(KRB5_FCC_NOFILE) || is(KRB5_CC_NOTFOUND) ||
      is(KRB5_CC_END)) {
    return absl::UnauthenticatedError(absl::StrCat(
        "Kerberos: no ticket (", MinorText(minor),
        "): run 'kinit USER@REALM' first (KRB5CCNAME names the ticket cache)"));
  }
  return absl::UnauthenticatedError(absl::StrCat("Kerberos ", what, " failed: ",
                                                 MajorText(major), " (",
                                                 MinorText(minor), ")"));
}

absl::StatusOr<std::string> KerberosDefaultPrincipal() {
  OM_uint32 minor = 0;
  gss_OID_set_desc mechs = KrbMechSet();
  gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
  OM_uint32 lifetime = 0;
  OM_uint32 major = gss_acquire_cred(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, &mechs,
                                     GSS_C_INITIATE, &cred, nullptr, &lifetime);
  if (GSS_ERROR(major)) return KerberosError(major, minor, "", "finding a ticket");
  OM_uint32 ignored = 0;
  if (lifetime == 0) {
    // Expired. (Not asked of gss_inquire_cred: MIT krb5 1.20 leaks the name it copied when it
    // fails with GSS_S_CREDENTIALS_EXPIRED; LeakSanitizer in kerberos_interop_test.)
    gss_release_cred(&ignored, &cred);
    return KerberosError(GSS_S_CREDENTIALS_EXPIRED, 0, "", "finding a ticket");
  }
  gss_name_t name = GSS_C_NO_NAME;
  major = gss_inquire_cred(&minor, cred, &name, &lifetime, nullptr, nullptr);
  gss_release_cred(&ignored, &cred);
  // An expired credential comes back as an error *with* its name, which must still be freed.
  std::string principal = name != GSS_C_NO_NAME ? DisplayName(name) : "";
  if (name != GSS_C_NO_NAME) gss_release_name(&ignored, &name);
  if (GSS_ERROR(major)) return KerberosError(major, minor, "", "reading the ticket cache");
  if (lifetime == 0) return KerberosError(GSS_S_CREDENTIALS_EXPIRED, 0, "", "finding a ticket");
  return principal;
}

KerberosAuthenticator::KerberosAuthenticator(KerberosOptions options)
    : options_(std::move(options)), gss_(std::make_unique<Gss>()) {
  mechs_.push_back(KerberosOid());
  if (options_.offer_ntlm) mechs_.push_back(NtlmsspOid());
}

KerberosAuthenticator::~KerberosAuthenticator() = default;

absl::Status KerberosAuthenticator::Init(absl::Span<const uint8_t> input,
                                         std::vector<uint8_t>* output, bool* complete) {
  OM_uint32 minor = 0;
  if (gss_->target == GSS_C_NO_NAME) {
    gss_buffer_desc name{options_.target_principal.size(),
                         const_cast<char*>(options_.target_principal.data())};
    const OM_uint32 major =
        gss_import_name(&minor, &name, GSS_KRB5_NT_PRINCIPAL_NAME, &gss_->target);
    if (GSS_ERROR(major)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Kerberos: '", options_.target_principal, "' is not a principal name (",
          MinorText(minor), ")"));
    }
  }
  gss_buffer_desc in{input.size(), const_cast<uint8_t*>(input.data())};
  gss_buffer_desc out = GSS_C_EMPTY_BUFFER;
  OM_uint32 flags = 0;
  // Mutual authentication: the server must prove it holds the service key (AP-REP). INTEG so
  // that a mechListMIC can be made and checked (RFC 4178 section 5).
  const OM_uint32 major = gss_init_sec_context(
      &minor, GSS_C_NO_CREDENTIAL, &gss_->context, gss_->target,
      const_cast<gss_OID>(gss_mech_krb5), GSS_C_MUTUAL_FLAG | GSS_C_INTEG_FLAG, GSS_C_INDEFINITE,
      GSS_C_NO_CHANNEL_BINDINGS, input.empty() ? GSS_C_NO_BUFFER : &in, nullptr, &out, &flags,
      nullptr);
  if (out.length > 0) {
    const uint8_t* p = static_cast<const uint8_t*>(out.value);
    output->assign(p, p + out.length);
  }
  OM_uint32 ignored = 0;
  gss_release_buffer(&ignored, &out);
  if (GSS_ERROR(major)) {
    return KerberosError(major, minor, options_.target_principal,
                         input.empty() ? "AP-REQ" : "checking the server's answer",
                         KerberosTokenId(input) == kTokApRep);
  }
  *complete = major == GSS_S_COMPLETE;
  if (*complete && (flags & GSS_C_MUTUAL_FLAG) == 0) {
    return absl::UnauthenticatedError(
        "Kerberos: mutual authentication did not happen (the server did not prove its identity)");
  }
  return absl::OkStatus();
}

absl::Status KerberosAuthenticator::CheckMechListMic(const std::vector<uint8_t>& mic) {
  std::vector<uint8_t> list = EncodeMechTypeList(mechs_);
  gss_buffer_desc message{list.size(), list.data()};
  gss_buffer_desc token{mic.size(), const_cast<uint8_t*>(mic.data())};
  OM_uint32 minor = 0;
  const OM_uint32 major = gss_verify_mic(&minor, gss_->context, &message, &token, nullptr);
  if (GSS_ERROR(major)) {
    return absl::UnauthenticatedError(absl::StrCat(
        "Kerberos: the server's SPNEGO mechListMIC does not verify (",
        MajorText(major), ")"));
  }
  return absl::OkStatus();
}

absl::Status KerberosAuthenticator::Finish() {
  OM_uint32 minor = 0;
  gss_buffer_set_t set = GSS_C_NO_BUFFER_SET;
  const OM_uint32 major = gss_inquire_sec_context_by_oid(
      &minor, gss_->context, const_cast<gss_OID>(GSS_C_INQ_SSPI_SESSION_KEY), &set);
  if (GSS_ERROR(major) || set == GSS_C_NO_BUFFER_SET || set->count < 1 ||
      set->elements[0].length == 0) {
    OM_uint32 ignored = 0;
    if (set != GSS_C_NO_BUFFER_SET) gss_release_buffer_set(&ignored, &set);
    return absl::InternalError(absl::StrCat("Kerberos: the GSS context has no session key (",
                                            MinorText(minor), ")"));
  }
  gss_name_t source = GSS_C_NO_NAME;
  OM_uint32 ignored = 0;
  if (!GSS_ERROR(gss_inquire_context(&ignored, gss_->context, &source, nullptr, nullptr, nullptr,
                                     nullptr, nullptr, nullptr))) {
    client_principal_ = DisplayName(source);
    gss_release_name(&ignored, &source);
  }
  gss_buffer_t key = &set->elements[0];
  session_key_ = SecretBytes(
      absl::MakeConstSpan(static_cast<const uint8_t*>(key->value), key->length));
  // The library frees without wiping; the key must not linger in freed memory.
  OPENSSL_cleanse(key->value, key->length);
  gss_release_buffer_set(&minor, &set);
  return absl::OkStatus();
}

absl::StatusOr<Authenticator::Step> KerberosAuthenticator::Next(
    absl::Span<const uint8_t> server_token) {
  switch (state_) {
    case State::kStart: {
      const Oid ours[] = {KerberosOid(), MsKerberosOid()};
      absl::StatusOr<Oid> mech = ChooseMechanism(server_token, ours);
      if (!mech.ok()) {
        if (absl::IsUnimplemented(mech.status())) {
          return absl::UnimplementedError(
              "the server does not offer Kerberos in its SPNEGO mechanism list");
        }
        return mech.status();
      }
      std::vector<uint8_t> ap_req;
      bool complete = false;
      SMBD_RETURN_IF_ERROR(Init({}, &ap_req, &complete));
      if (ap_req.empty()) return absl::InternalError("Kerberos: GSS-API produced no AP-REQ");
      state_ = State::kSentApReq;
      // The optimistic token is for the first (preferred) mechanism, so the server may accept
      // it at once (RFC 4178 section 3.2).
      return Step{EncodeNegTokenInit(mechs_, std::move(ap_req)), false};
    }
    case State::kSentApReq: {
      // Every failure below but a SPNEGO reject or a KRB-ERROR is the server's answer failing
      // to prove who it is.
      proof_failed_ = true;
      if (server_token.empty()) {
        return absl::UnauthenticatedError(
            "Kerberos: the server sent no AP-REP, so it did not prove its identity (mutual "
            "authentication is required)");
      }
      SMBD_ASSIGN_OR_RETURN(NegTokenResp resp, ParseNegTokenResp(server_token));
      if (resp.neg_state == NegState::kReject) {
        proof_failed_ = false;  // a refusal, not a false claim of acceptance
        return absl::UnauthenticatedError("the server rejected the Kerberos ticket (SPNEGO reject)");
      }
      if (resp.supported_mech.has_value() && !IsKerberos(*resp.supported_mech)) {
        proof_failed_ = false;  // a server may prefer NTLMSSP from our list: a refusal of Kerberos
        return absl::UnauthenticatedError(
            "Kerberos: the server selected a mechanism other than Kerberos");
      }
      if (!resp.response_token.has_value() || resp.response_token->empty()) {
        return absl::UnauthenticatedError(
            "Kerberos: the server's answer carries no AP-REP, so it did not prove its identity "
            "(mutual authentication is required)");
      }
      // A KRB-ERROR (clock skew, a ticket the server cannot decrypt) is a refusal too.
      if (KerberosTokenId(*resp.response_token) != kTokApRep) proof_failed_ = false;
      std::vector<uint8_t> more;
      bool complete = false;
      SMBD_RETURN_IF_ERROR(Init(*resp.response_token, &more, &complete));
      proof_failed_ = true;
      if (!complete || !more.empty()) {
        return absl::DataLossError("Kerberos: the context did not complete after the AP-REP");
      }
      if (resp.mech_list_mic.has_value()) SMBD_RETURN_IF_ERROR(CheckMechListMic(*resp.mech_list_mic));
      SMBD_RETURN_IF_ERROR(Finish());
      proof_failed_ = false;
      state_ = State::kDone;
      if (resp.neg_state == NegState::kRequestMic) {
        // The server asks for our mechListMIC over the list we sent.
        std::vector<uint8_t> list = EncodeMechTypeList(mechs_);
        gss_buffer_desc message{list.size(), list.data()};
        gss_buffer_desc mic = GSS_C_EMPTY_BUFFER;
        OM_uint32 minor = 0;
        if (GSS_ERROR(gss_get_mic(&minor, gss_->context, GSS_C_QOP_DEFAULT, &message, &mic))) {
          return absl::InternalError("Kerberos: could not make the SPNEGO mechListMIC");
        }
        NegTokenResp out;
        const uint8_t* p = static_cast<const uint8_t*>(mic.value);
        out.mech_list_mic = std::vector<uint8_t>(p, p + mic.length);
        gss_release_buffer(&minor, &mic);
        return Step{EncodeNegTokenResp(out), true};
      }
      return Step{{}, true};
    }
    case State::kDone:
      break;
  }
  return absl::FailedPreconditionError(
      "KerberosAuthenticator::Next after authentication finished");
}

}  // namespace smbd
