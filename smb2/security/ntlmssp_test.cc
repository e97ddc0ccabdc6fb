#include "smb2/security/ntlmssp.h"

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

std::string Lower(absl::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::array<uint8_t, 8> Arr8(absl::string_view hex) {
  std::array<uint8_t, 8> a{};
  std::vector<uint8_t> v = Hex(hex);
  std::copy(v.begin(), v.end(), a.begin());
  return a;
}
std::array<uint8_t, 16> Arr16(absl::string_view hex) {
  std::array<uint8_t, 16> a{};
  std::vector<uint8_t> v = Hex(hex);
  std::copy(v.begin(), v.end(), a.begin());
  return a;
}

// The NTLMSSP message inside an SMB2 SESSION_SETUP message (found by its signature).
std::vector<uint8_t> NtlmIn(const char* smb_hex, size_t length) {
  std::vector<uint8_t> msg = Hex(smb_hex);
  const std::vector<uint8_t> sig = Hex("4E544C4D53535000");
  auto it = std::search(msg.begin(), msg.end(), sig.begin(), sig.end());
  if (it == msg.end() || static_cast<size_t>(msg.end() - it) < length) return {};
  return std::vector<uint8_t>(it, it + length);
}

// vectors.md [nlmp-v2-msgs]: [MS-NLMP] 4.2.4.3 CHALLENGE_MESSAGE.
constexpr const char* kNlmpChallenge =
    "4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef00000000000000002400240044"
    "000000060070170000000f53006500720076006500720002000c0044006f006d00610069006e0001000c0053"
    "006500720076006500720000000000";
// vectors.md [nlmp-v2-msgs]: the AUTHENTICATE_MESSAGE of [MS-NLMP] 4.2.4.3 (as quoted by
// dotnet/runtime NtlmProtocolExampleTest).
constexpr const char* kNlmpAuthenticate =
    "4e544c4d5353500003000000180018006c00000054005400840000000c000c00480000000800080054000000"
    "100010005c00000010001000d8000000358288e20501280a0000000f44006f006d00610069006e0055007300"
    "6500720043004f004d005000550054004500520086c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa"
    "68cd0ab851e51c96aabc927bebef6a1c01010000000000000000000000000000aaaaaaaaaaaaaaaa00000000"
    "02000c0044006f006d00610069006e0001000c005300650072007600650072000000000000000000c5dad254"
    "4fc9799094ce1ce90bc9d03e";

// vectors.md [nlmp-common] / [nlmp-v1]: NTOWFv1 = MD4(UNICODE("Password")), [MS-NLMP] 4.2.1.
TEST(NtlmCryptoTest, NtOwfV1) {
  auto h = NtOwfV1(SecretBytes::FromString("Password"));
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(ToHex(h->span()), "a4f49c406510bdcab6824ee7c30fd852");
  // MD4 of the empty string (RFC 1320 A.5): the guest logon's NT hash.
  auto empty = NtOwfV1(SecretBytes());
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(ToHex(empty->span()), "31d6cfe0d16ae931b73c59d7e0c089c0");
}

// vectors.md [nlmp-v2]: [MS-NLMP] 4.2.4 NTLMv2 calculations.
TEST(NtlmCryptoTest, NtlmV2Example) {
  auto key = NtOwfV2(SecretBytes::FromString("Password"), "User", "Domain");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(ToHex(key->span()), "0c868a403bfd7a93a3001ef22ef02e3f");
  const std::vector<uint8_t> temp = Hex(
      "01010000000000000000000000000000aaaaaaaaaaaaaaaa0000000002000c0044006f006d00610069006e00"
      "01000c005300650072007600650072000000000000000000");
  auto v2 = ComputeNtlmV2(*key, Hex("0123456789abcdef"), temp);
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(ToHex(v2->nt_proof_str), "68cd0ab851e51c96aabc927bebef6a1c");
  EXPECT_EQ(ToHex(v2->session_base_key.span()), "8de40ccadbc14a82f15cb0ad0de95ca3");
  auto enc = Rc4(v2->session_base_key.span(), Hex("55555555555555555555555555555555"));
  ASSERT_TRUE(enc.ok()) << enc.status();
  EXPECT_EQ(ToHex(*enc), "c5dad2544fc9799094ce1ce90bc9d03e");
}

// vectors.md [nlmp-v2-wrap]: [MS-NLMP] 4.2.4.4 client sealing and signing keys.
TEST(NtlmCryptoTest, SignAndSealKeys) {
  SecretBytes exported(Hex("55555555555555555555555555555555"));
  auto sign = NtlmSignKey(exported, true);
  auto seal = NtlmSealKey(exported, true);
  ASSERT_TRUE(sign.ok() && seal.ok());
  EXPECT_EQ(ToHex(sign->span()), "4788dc861b4782f35d43fd98fe1a2d39");
  EXPECT_EQ(ToHex(seal->span()), "59f600973cc4960a25480a7c196e4c58");
}

// vectors.md [nlmp-v2-msgs]: parse the published CHALLENGE_MESSAGE.
TEST(NtlmChallengeTest, ParsesSpecExample) {
  auto c = ParseChallengeMessage(Hex(kNlmpChallenge));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->flags, 0xe28a8233u);
  EXPECT_EQ(ToHex(c->server_challenge), "0123456789abcdef");
  EXPECT_EQ(ToHex(c->target_name), "530065007200760065007200");  // "Server"
  ASSERT_EQ(c->target_info.size(), 2u);
  EXPECT_EQ(c->target_info[0].id, static_cast<uint16_t>(AvId::kNbDomainName));
  EXPECT_EQ(ToHex(c->target_info[0].value), "44006f006d00610069006e00");
  EXPECT_EQ(c->target_info[1].id, static_cast<uint16_t>(AvId::kNbComputerName));
  EXPECT_FALSE(c->timestamp.has_value());
  ASSERT_TRUE(c->version.has_value());
  EXPECT_EQ(ToHex(*c->version), "060070170000000f");
}

// vectors.md [nlmp-v2-msgs]: with [MS-NLMP] 4.2.1's fixed inputs (Time 0, client challenge
// aa..aa, random session key 55..55) the client produces the published AUTHENTICATE_MESSAGE
// byte for byte.
TEST(NtlmClientTest, ReproducesSpecAuthenticateMessage) {
  NtlmCredentials creds;
  creds.user = "User";
  creds.domain = "Domain";
  creds.password = SecretBytes::FromString("Password");
  creds.workstation = "COMPUTER";
  NtlmOptions opts;
  opts.version = Arr8("0501280a0000000f");
  opts.time = 0;
  opts.client_challenge = Arr8("aaaaaaaaaaaaaaaa");
  opts.random_session_key = Arr16("55555555555555555555555555555555");
  NtlmClient client(std::move(creds), opts);
  auto neg = client.Negotiate();
  ASSERT_TRUE(neg.ok());
  ASSERT_EQ(neg->size(), 40u);
  EXPECT_EQ(LoadLE<uint32_t>(neg->data() + 12), kNtlmClientFlags);
  auto auth = client.Authenticate(Hex(kNlmpChallenge));
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(ToHex(*auth), kNlmpAuthenticate);
  EXPECT_EQ(client.negotiated_flags(), 0xe2888235u);
  EXPECT_EQ(ToHex(client.session_key().span()), "55555555555555555555555555555555");
  EXPECT_FALSE(client.mic_included());
}

// vectors.md [anat-ntlm]: the NTLMv2 exchange of the anatomy blog's 3.1.1 session (a real
// Windows client and server): every derived value, and the MIC over the three messages.
TEST(NtlmCryptoTest, AnatomyWindowsExchange) {
  namespace a = vectors::anat311;
  auto nt = NtOwfV1(SecretBytes::FromString("Password01!"));
  ASSERT_TRUE(nt.ok());
  EXPECT_EQ(ToHex(nt->span()), Lower("7C4FE5EADA682714A036E39378362BAB"));
  auto key = NtOwfV2(SecretBytes::FromString("Password01!"), "administrator", "SUT311");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(ToHex(key->span()), Lower("AEE3959B44A815F1EB28C9511B4F533B"));
  const std::vector<uint8_t> temp = Hex(
      "0101000000000000A1A1F5ADCBAED001BC4AD05F223CC90F0000000002000C0053005500540033003100310001"
      "000C0053005500540033003100310004000C0053005500540033003100310003000C005300550054003300310031"
      "0007000800A1A1F5ADCBAED00106000400020000000800300030000000000000000000000000300000B61FEFCAA8"
      "57EA57BF1EDCEBF8974B8E0EBA5A6DFD9D07A31D11B548F8C9D0CC0A00100000000000000000000000000000000000"
      "0900160063006900660073002F00530055005400330031003100000000000000000000000000");
  ASSERT_FALSE(temp.empty());
  auto v2 = ComputeNtlmV2(*key, Hex("0D1D8BA31179D008"), temp);
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(ToHex(v2->nt_proof_str), Lower("63078EB639FE03E20A231C3AE3BF2308"));
  EXPECT_EQ(ToHex(v2->session_base_key.span()), Lower("B4CF22566926B1C069ACD80E4D73C814"));
  SecretBytes exported(Hex("270E1BA896585EEB7AF3472D3B4C75A7"));
  auto enc = Rc4(v2->session_base_key.span(), exported.span());
  ASSERT_TRUE(enc.ok());
  EXPECT_EQ(ToHex(*enc), Lower("3B9BDFF38F5EE8F9663F11A0F4C03A78"));

  const std::vector<uint8_t> neg = NtlmIn(a::kSessionSetupRequest1, 40);
  const std::vector<uint8_t> chal = NtlmIn(a::kSessionSetupResponse1MoreProcessing, 148);
  const std::vector<uint8_t> auth = NtlmIn(a::kSessionSetupRequest2, 422);
  ASSERT_EQ(auth.size(), 422u);
  auto mic = ComputeMic(exported, neg, chal, auth);
  ASSERT_TRUE(mic.ok());
  EXPECT_EQ(ToHex(*mic), Lower("ECAC77A5F385A8BF9C38C706EEEDDCD3"));
  EXPECT_EQ(ToHex(absl::MakeConstSpan(auth).subspan(72, 16)), ToHex(*mic));

  auto cs = NtlmSignKey(exported, true);
  auto ss = NtlmSignKey(exported, false);
  auto ce = NtlmSealKey(exported, true);
  auto se = NtlmSealKey(exported, false);
  ASSERT_TRUE(cs.ok() && ss.ok() && ce.ok() && se.ok());
  EXPECT_EQ(ToHex(cs->span()), Lower("D43F36C44BCE0630250A09EA0C2E8C2C"));
  EXPECT_EQ(ToHex(ss->span()), Lower("E1BD8B416B0B709D295E12F2CF18E6C5"));
  EXPECT_EQ(ToHex(ce->span()), Lower("31E5557D99BE13F1B2665C7C7C52CE70"));
  EXPECT_EQ(ToHex(se->span()), Lower("B0F5A0B32C81FF34A878E1409B3B0EF2"));
}

NtlmClient AnatomyClient() {
  NtlmCredentials creds;
  creds.user = "administrator";
  creds.domain = "SUT311";
  creds.password = SecretBytes::FromString("Password01!");
  creds.workstation = "DRIVER311";
  NtlmOptions opts;
  opts.target_spn = "cifs/SUT311";
  opts.client_challenge = Arr8("BC4AD05F223CC90F");
  opts.random_session_key = Arr16("270E1BA896585EEB7AF3472D3B4C75A7");
  return NtlmClient(std::move(creds), opts);
}

// Our client against the Windows server's CHALLENGE (vectors.md [anat-311]/[anat-ntlm]): the
// server timestamp is used, LMv2 becomes Z(24), MsvAvFlags carries MIC_PROVIDED, the MIC verifies,
// the session key is the exchanged one and the SPNEGO mechListMIC over the mechTypes list equals
// the one Windows sent (and the server's one verifies).
TEST(NtlmClientTest, AgainstWindowsChallenge) {
  namespace a = vectors::anat311;
  NtlmClient client = AnatomyClient();
  auto neg = client.Negotiate();
  ASSERT_TRUE(neg.ok());
  const std::vector<uint8_t> chal = NtlmIn(a::kSessionSetupResponse1MoreProcessing, 148);
  auto parsed = ParseChallengeMessage(chal);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_TRUE(parsed->timestamp.has_value());
  EXPECT_EQ(*parsed->timestamp, 0x01D0AECBADF5A1A1ull);
  EXPECT_EQ(parsed->target_info.size(), 5u);

  auto auth = client.Authenticate(chal);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_TRUE(client.mic_included());
  EXPECT_EQ(ToHex(client.session_key().span()), Lower("270E1BA896585EEB7AF3472D3B4C75A7"));
  WireReader r(*auth);
  uint16_t lm_len = 0, lm_max = 0, nt_len = 0, nt_max = 0;
  uint32_t lm_off = 0, nt_off = 0;
  ASSERT_TRUE(r.Skip(12) && r.U16(&lm_len) && r.U16(&lm_max) && r.U32(&lm_off) &&
              r.U16(&nt_len) && r.U16(&nt_max) && r.U32(&nt_off));
  EXPECT_EQ(lm_len, 24);
  EXPECT_EQ(ToHex(absl::MakeConstSpan(*auth).subspan(lm_off, 24)), std::string(48, '0'));
  const std::string nt = ToHex(absl::MakeConstSpan(*auth).subspan(nt_off, nt_len));
  EXPECT_NE(nt.find(Lower("A1A1F5ADCBAED001BC4AD05F223CC90F")), std::string::npos);  // time, cc
  EXPECT_NE(nt.find("0600040002000000"), std::string::npos);  // MsvAvFlags = MIC_PROVIDED
  EXPECT_NE(nt.find(Lower("0900160063006900660073002F00530055005400330031003100")),
            std::string::npos);  // MsvAvTargetName "cifs/SUT311"
  auto mic = ComputeMic(client.session_key(), *neg, chal, *auth);
  ASSERT_TRUE(mic.ok());
  EXPECT_EQ(ToHex(absl::MakeConstSpan(*auth).subspan(72, 16)), ToHex(*mic));

  const std::vector<uint8_t> mech_types = Hex("300C060A2B06010401823702020A");
  auto mech_mic = client.SignClientMessage(mech_types, 0);
  ASSERT_TRUE(mech_mic.ok()) << mech_mic.status();
  EXPECT_EQ(ToHex(*mech_mic), Lower("0100000063775A9A5FD97F0600000000"));
  EXPECT_TRUE(
      client.VerifyServerSignature(mech_types, Hex("010000003B453CDC3524164200000000"), 0).ok());
}

TEST(NtlmClientTest, ServerSignatureMismatch) {
  NtlmClient client = AnatomyClient();
  ASSERT_TRUE(client.Negotiate().ok());
  ASSERT_TRUE(
      client.Authenticate(NtlmIn(vectors::anat311::kSessionSetupResponse1MoreProcessing, 148))
          .ok());
  EXPECT_EQ(client
                .VerifyServerSignature(Hex("300C060A2B06010401823702020A"),
                                       Hex("010000003B453CDC3524164300000000"), 0)
                .code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(NtlmClientTest, Anonymous) {
  NtlmClient client(NtlmCredentials::Anonymous());
  ASSERT_TRUE(client.Negotiate().ok());
  auto auth = client.Authenticate(Hex(kNlmpChallenge));
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_TRUE(client.anonymous());
  EXPECT_TRUE(client.session_key().empty());
  const uint32_t flags = LoadLE<uint32_t>(auth->data() + 60);
  EXPECT_TRUE(flags & ntlm_flags::kAnonymous);
  EXPECT_FALSE(flags & ntlm_flags::kKeyExchange);
  EXPECT_EQ(LoadLE<uint16_t>(auth->data() + 12), 1);  // LmChallengeResponse = Z(1)
  EXPECT_EQ(LoadLE<uint16_t>(auth->data() + 20), 0);  // NtChallengeResponse empty
  EXPECT_EQ(LoadLE<uint16_t>(auth->data() + 36), 0);  // UserName empty
  EXPECT_EQ(LoadLE<uint16_t>(auth->data() + 52), 0);  // no EncryptedRandomSessionKey
  EXPECT_EQ(client.SignClientMessage(Hex("00"), 0).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(NtlmClientTest, Guest) {
  NtlmClient client(NtlmCredentials::Guest());
  ASSERT_TRUE(client.Negotiate().ok());
  auto auth = client.Authenticate(Hex(kNlmpChallenge));
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(client.session_key().size(), 16u);
  EXPECT_FALSE(LoadLE<uint32_t>(auth->data() + 60) & ntlm_flags::kAnonymous);
  EXPECT_EQ(LoadLE<uint16_t>(auth->data() + 36), 10);  // "Guest" in UTF-16
}

TEST(NtlmClientTest, RejectsOemOnlyServerAndMissingNegotiate) {
  std::vector<uint8_t> chal = Hex(kNlmpChallenge);
  StoreLE<uint32_t>(chal.data() + 20, 0xe28a8232);  // UNICODE cleared
  NtlmClient client(NtlmCredentials::Guest());
  EXPECT_EQ(client.Authenticate(chal).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(client.Negotiate().ok());
  EXPECT_EQ(client.Authenticate(chal).status().code(), absl::StatusCode::kUnimplemented);
}

TEST(NtlmClientTest, ErrorsNeverShowThePassword) {
  NtlmCredentials creds;
  creds.user = "u";
  creds.password = SecretBytes::FromString("s3cr\xff\xfet");  // invalid UTF-8
  NtlmClient client(std::move(creds));
  ASSERT_TRUE(client.Negotiate().ok());
  absl::Status s = client.Authenticate(Hex(kNlmpChallenge)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message().find("s3cr"), absl::string_view::npos);
}

// Hostile CHALLENGE messages: every truncation of both published ones, and corrupted fields.
TEST(NtlmChallengeTest, RejectsEveryTruncation) {
  for (const std::vector<uint8_t>& full :
       {Hex(kNlmpChallenge),
        NtlmIn(vectors::anat311::kSessionSetupResponse1MoreProcessing, 148)}) {
    ASSERT_TRUE(ParseChallengeMessage(full).ok());
    for (size_t n = 0; n < full.size(); ++n) {
      auto c = ParseChallengeMessage(absl::MakeConstSpan(full).first(n));
      EXPECT_EQ(c.status().code(), absl::StatusCode::kDataLoss) << "length " << n;
    }
  }
}

TEST(NtlmChallengeTest, RejectsCorruptFields) {
  const std::vector<uint8_t> good = Hex(kNlmpChallenge);
  auto with = [&](size_t at, uint32_t v, int width) {
    std::vector<uint8_t> b = good;
    if (width == 2) StoreLE<uint16_t>(b.data() + at, static_cast<uint16_t>(v));
    if (width == 4) StoreLE<uint32_t>(b.data() + at, v);
    return ParseChallengeMessage(b).status();
  };
  // Signature and type.
  absl::Status s = with(0, 0x4d4c544f, 4);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("NTLMSSP"), absl::string_view::npos);
  s = with(8, 3, 4);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("type 3"), absl::string_view::npos);
  // TargetName / TargetInfo offsets past the end, including 32-bit wrap-around candidates.
  for (uint32_t off : {uint32_t{200}, uint32_t{0xFFFFFFF0}, uint32_t{0xFFFFFFFF}}) {
    s = with(16, off, 4);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << off;
    EXPECT_NE(s.message().find("TargetName"), absl::string_view::npos);
    s = with(44, off, 4);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << off;
    EXPECT_NE(s.message().find("TargetInfo"), absl::string_view::npos);
  }
  s = with(40, 0xFFFF, 2);  // TargetInfo length
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  // AV pair lengths past the end of TargetInfo (first pair's length at 0x44 + 2).
  s = with(0x46, 0x00FF, 2);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("past the end of TargetInfo"), absl::string_view::npos);
  // The EOL turned into another id: the list never ends.
  s = with(good.size() - 4, 0x0005, 2);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("MsvAvEOL"), absl::string_view::npos);
  // A timestamp pair of the wrong size.
  s = with(0x44, 0x0007, 2);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("MsvAvTimestamp"), absl::string_view::npos);
  s = with(0x44, 0x0006, 2);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("MsvAvFlags"), absl::string_view::npos);
}

TEST(NtlmCryptoTest, Utf16Le) {
  auto a = Utf16Le("A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");  // A, e-acute, euro, emoji
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(ToHex(*a), "4100e900ac203dd800de");
  EXPECT_EQ(Utf16Le("\xc3").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Utf16Le("\xe2\x82").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Utf16Le("\xff").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Utf16Le("\xed\xa0\x80").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace smbd
