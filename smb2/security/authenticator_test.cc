#include "smb2/security/authenticator.h"

#include <string>
#include <vector>

#include "buffers/wire.h"
#include "gtest/gtest.h"
#include "smb2/security/test_util.h"
#include "smb2/security/test_vectors.h"

namespace smbd {
namespace {

using testing_util::Hex;
using testing_util::ToHex;
namespace a = vectors::anat311;

// See spnego_test.cc: the security buffer named by the offset/length pair at `field_at` bytes
// into the SMB2 body.
std::vector<uint8_t> SecurityBuffer(const char* hex, size_t field_at) {
  const std::vector<uint8_t> msg = Hex(hex);
  WireReader r(msg);
  uint16_t offset = 0, length = 0;
  if (!r.Skip(64 + field_at) || !r.U16(&offset) || !r.U16(&length)) return {};
  if (size_t{offset} + length > msg.size()) return {};
  return std::vector<uint8_t>(msg.begin() + offset, msg.begin() + offset + length);
}

NtlmAuthenticator AnatomyAuthenticator() {
  NtlmCredentials creds;
  creds.user = "administrator";
  creds.domain = "SUT311";
  creds.password = SecretBytes::FromString("Password01!");
  creds.workstation = "DRIVER311";
  NtlmOptions opts;
  opts.client_challenge = std::array<uint8_t, 8>{0xBC, 0x4A, 0xD0, 0x5F, 0x22, 0x3C, 0xC9, 0x0F};
  std::vector<uint8_t> key = Hex("270E1BA896585EEB7AF3472D3B4C75A7");
  std::array<uint8_t, 16> k{};
  std::copy(key.begin(), key.end(), k.begin());
  opts.random_session_key = k;
  return NtlmAuthenticator(std::move(creds), opts);
}

// The whole SESSION_SETUP loop against the Windows server of vectors.md [anat-311]: the server's
// NEGOTIATE hint, its CHALLENGE, and its final NegTokenResp whose mechListMIC must verify.
TEST(NtlmAuthenticatorTest, FullLoopAgainstWindowsServer) {
  NtlmAuthenticator auth = AnatomyAuthenticator();
  auto s1 = auth.Next(SecurityBuffer(a::kNegotiateResponse, 56));
  ASSERT_TRUE(s1.ok()) << s1.status();
  EXPECT_FALSE(s1->done);
  auto init = ParseNegTokenInit(s1->token);
  ASSERT_TRUE(init.ok()) << init.status();
  ASSERT_EQ(init->mech_types.size(), 1u);
  EXPECT_EQ(init->mech_types[0], NtlmsspOid());
  ASSERT_TRUE(init->mech_token.has_value());
  EXPECT_EQ(init->mech_token->size(), 40u);

  auto s2 = auth.Next(SecurityBuffer(a::kSessionSetupResponse1MoreProcessing, 4));
  ASSERT_TRUE(s2.ok()) << s2.status();
  EXPECT_FALSE(s2->done);
  auto resp = ParseNegTokenResp(s2->token);
  ASSERT_TRUE(resp.ok()) << resp.status();
  ASSERT_TRUE(resp->response_token.has_value());
  EXPECT_EQ(ToHex(absl::MakeConstSpan(*resp->response_token).first(12)), "4e544c4d5353500003000000");
  // Same session key, same mechTypes, sequence 0: the mechListMIC Windows sent.
  ASSERT_TRUE(resp->mech_list_mic.has_value());
  EXPECT_EQ(ToHex(*resp->mech_list_mic), "0100000063775a9a5fd97f0600000000");

  auto s3 = auth.Next(SecurityBuffer(a::kSessionSetupResponse2Success, 4));
  ASSERT_TRUE(s3.ok()) << s3.status();
  EXPECT_TRUE(s3->done);
  EXPECT_TRUE(s3->token.empty());
  EXPECT_EQ(ToHex(auth.session_key().span()), "270e1ba896585eeb7af3472d3b4c75a7");
  EXPECT_EQ(auth.Next({}).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(NtlmAuthenticatorTest, RejectsBadServerMechListMic) {
  NtlmAuthenticator auth = AnatomyAuthenticator();
  ASSERT_TRUE(auth.Next({}).ok());  // no hint: NTLMSSP is tried
  ASSERT_TRUE(auth.Next(SecurityBuffer(a::kSessionSetupResponse1MoreProcessing, 4)).ok());
  NegTokenResp final_resp;
  final_resp.neg_state = NegState::kAcceptCompleted;
  final_resp.mech_list_mic = Hex("010000003b453cdc3524164200000001");
  absl::Status s = auth.Next(EncodeNegTokenResp(final_resp)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
}

TEST(NtlmAuthenticatorTest, ServerReject) {
  NtlmAuthenticator auth = AnatomyAuthenticator();
  ASSERT_TRUE(auth.Next({}).ok());
  ASSERT_TRUE(auth.Next(SecurityBuffer(a::kSessionSetupResponse1MoreProcessing, 4)).ok());
  NegTokenResp reject;
  reject.neg_state = NegState::kReject;
  EXPECT_EQ(auth.Next(EncodeNegTokenResp(reject)).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(NtlmAuthenticatorTest, EmptyFinalTokenAndAnonymous) {
  NtlmAuthenticator auth{NtlmCredentials::Anonymous()};
  ASSERT_TRUE(auth.Next({}).ok());
  auto s2 = auth.Next(SecurityBuffer(a::kSessionSetupResponse1MoreProcessing, 4));
  ASSERT_TRUE(s2.ok()) << s2.status();
  auto resp = ParseNegTokenResp(s2->token);
  ASSERT_TRUE(resp.ok());
  EXPECT_FALSE(resp->mech_list_mic.has_value());  // no MIC without a session key
  auto s3 = auth.Next({});
  ASSERT_TRUE(s3.ok());
  EXPECT_TRUE(s3->done);
  EXPECT_TRUE(auth.anonymous());
  EXPECT_TRUE(auth.session_key().empty());
}

TEST(NtlmAuthenticatorTest, MalformedTokens) {
  NtlmAuthenticator auth = AnatomyAuthenticator();
  EXPECT_EQ(auth.Next(Hex("6003")).status().code(), absl::StatusCode::kDataLoss);
  NtlmAuthenticator auth2 = AnatomyAuthenticator();
  ASSERT_TRUE(auth2.Next({}).ok());
  NegTokenResp no_token;
  no_token.neg_state = NegState::kAcceptIncomplete;
  EXPECT_EQ(auth2.Next(EncodeNegTokenResp(no_token)).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(ChooseMechanismTest, PicksFromServerList) {
  const Oid ntlm_only[] = {NtlmsspOid()};
  const Oid krb_then_ntlm[] = {MsKerberosOid(), NtlmsspOid()};
  // The Windows hint offers NEGOEX and NTLMSSP.
  const std::vector<uint8_t> hint = SecurityBuffer(a::kNegotiateResponse, 56);
  auto m = ChooseMechanism(hint, ntlm_only);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m, NtlmsspOid());
  // A Kerberos-capable client (later) would get Kerberos when the server offers it.
  auto krb_hint = EncodeNegTokenInit({MsKerberosOid(), KerberosOid(), NtlmsspOid()}, std::nullopt);
  auto k = ChooseMechanism(krb_hint, krb_then_ntlm);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(*k, MsKerberosOid());
  // A Kerberos-only server leaves an NTLM-only client nothing.
  auto only_krb = EncodeNegTokenInit({KerberosOid()}, std::nullopt);
  EXPECT_EQ(ChooseMechanism(only_krb, ntlm_only).status().code(),
            absl::StatusCode::kUnimplemented);
  // An empty hint or empty list means "try ours".
  auto e = ChooseMechanism({}, ntlm_only);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(*e, NtlmsspOid());
  auto e2 = ChooseMechanism(EncodeNegTokenInit({}, std::nullopt), ntlm_only);
  ASSERT_TRUE(e2.ok());
}

}  // namespace
}  // namespace smbd
