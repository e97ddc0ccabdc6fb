#include "smb2/pdu/session_setup.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "smb2/pdu/pdu_test_util.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

using testing_util::Corruption;
using testing_util::FromHex;
using testing_util::ToHex;

// SESSION_SETUP exchange (NTLMSSP NEGOTIATE / CHALLENGE / AUTHENTICATE in SPNEGO) of the master
// session in Microsoft Open Specifications blog, "SMB 2 and SMB 3 security in Windows 10: the
// anatomy of signing and cryptographic keys" (2017), appendix, via shared/vectors.md section 9
// [anat-311].
constexpr char kRequest1[] =
    "FE534D4240000100000000000100800000000000000000000200000000000000FFFE0000000000000000000000"
    "0000000000000000000000000000000000000019000001010000000000000058004A0000000000000000006048"
    "06062B0601050502A03E303CA00E300C060A2B06010401823702020AA22A04284E544C4D535350000100000097"
    "8208E200000000000000000000000000000000060380250000000F";

constexpr char kResponse1[] =
    "FE534D4240000100160000C00100010001000000000000000200000000000000FFFE0000000000001900000000"
    "10000000000000000000000000000000000000090000004800B300A181B03081ADA0030A0101A10C060A2B0601"
    "0401823702020AA281970481944E544C4D53535000020000000C000C003800000015828AE20D1D8BA31179D008"
    "000000000000000050005000440000000A0092270000000F53005500540033003100310002000C005300550054"
    "0033003100310001000C0053005500540033003100310004000C0053005500540033003100310003000C005300"
    "5500540033003100310007000800A1A1F5ADCBAED00100000000";

constexpr char kRequest2[] =
    "FE534D4240000100000000000100800000000000000000000300000000000000FFFE0000000000001900000000"
    "100000000000000000000000000000000000001900000101000000000000005800CF010000000000000000A182"
    "01CB308201C7A0030A0101A28201AA048201A64E544C4D53535000030000001800180090000000EE00EE00A800"
    "00000C000C00580000001A001A0064000000120012007E0000001000100096010000158288E206038025000000"
    "0FECAC77A5F385A8BF9C38C706EEEDDCD3530055005400330031003100610064006D0069006E00690073007400"
    "7200610074006F0072004400520049005600450052003300310031000000000000000000000000000000000000"
    "0000000000000063078EB639FE03E20A231C3AE3BF23080101000000000000A1A1F5ADCBAED001BC4AD05F223C"
    "C90F0000000002000C0053005500540033003100310001000C0053005500540033003100310004000C00530055"
    "00540033003100310003000C0053005500540033003100310007000800A1A1F5ADCBAED0010600040002000000"
    "0800300030000000000000000000000000300000B61FEFCAA857EA57BF1EDCEBF8974B8E0EBA5A6DFD9D07A31D"
    "11B548F8C9D0CC0A001000000000000000000000000000000000000900160063006900660073002F0053005500"
    "54003300310031000000000000000000000000003B9BDFF38F5EE8F9663F11A0F4C03A78A31204100100000063"
    "775A9A5FD97F0600000000";

constexpr char kResponse2[] =
    "FE534D4240000100000000000100800009000000000000000300000000000000FFFE0000000000001900000000"
    "100000EBE146DA120BA25FC3376A49DFE31BC10900000048001D00A11B3019A0030A0100A3120410010000003B"
    "453CDC3524164200000000";

// Anonymous (smbclient -N) final SESSION_SETUP response with SessionFlags IS_GUEST: captured
// from Samba 4.17 by tests/golden/capture (run of 2026-11-28), 475-rsp-SESSION_SETUP-smb311-anon.
constexpr char kSambaGuestResponse[] =
    "fe534d42400001000000000001000020110000000000000002000000000000000000000000000000cedcd48300"
    "000000000000000000000000000000000000000900010048000900a1073005a0030a0100";

absl::StatusOr<std::string> Summarize(WireReader m) {
  absl::StatusOr<SessionSetupResponse> r = DecodeSessionSetupResponse(m);
  if (!r.ok()) return r.status();
  return absl::StrCat(r->session_flags, "/", r->security_buffer_offset, "+",
                      r->security_buffer_length);
}

// The token of a golden request: bytes [0x58, end).
std::vector<uint8_t> TokenOf(const std::vector<uint8_t>& message) {
  return std::vector<uint8_t>(message.begin() + 0x58, message.end());
}

TEST(SessionSetupTest, EncodesPublishedRequests) {
  for (const char* hex : {kRequest1, kRequest2}) {
    const std::vector<uint8_t> golden = FromHex(hex);
    const std::vector<uint8_t> token = TokenOf(golden);
    SessionSetupRequest req;
    req.security_mode = kSigningEnabled;
    req.capabilities = kCapDfs;
    req.security_buffer = token;
    EXPECT_EQ(testing_util::EncodeLikeGolden(
                  golden, [&](WireWriter* w) { return EncodeSessionSetupRequest(req, w); }),
              ToHex(golden));
  }
}

TEST(SessionSetupTest, EncodesBindingAndEmptyToken) {
  // Built by hand from [MS-SMB2] 2.2.5: StructureSize 25 (1900), Flags BINDING (01),
  // SecurityMode 2 (02), Capabilities 0, Channel 0, SecurityBufferOffset 0x58 (5800),
  // SecurityBufferLength 0, PreviousSessionId 0x1122334455667788, then the one Buffer byte.
  uint8_t buf[64];
  WireWriter w(absl::MakeSpan(buf));
  SessionSetupRequest req;
  req.flags = kSessionFlagBinding;
  req.security_mode = kSigningRequired;
  req.previous_session_id = 0x1122334455667788ull;
  ASSERT_TRUE(EncodeSessionSetupRequest(req, &w).ok());
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(ToHex(w.written()), "19000102000000000000000058000000887766554433221100");
  std::vector<uint8_t> huge(70000);
  req.security_buffer = huge;
  EXPECT_EQ(EncodeSessionSetupRequest(req, &w).code(), absl::StatusCode::kInvalidArgument);
}

TEST(SessionSetupTest, DecodesPublishedResponses) {
  std::vector<uint8_t> b = FromHex(kResponse1);
  auto r = DecodeSessionSetupResponse(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->session_flags, 0);
  EXPECT_EQ(r->security_buffer_offset, 0x48);
  EXPECT_EQ(r->security_buffer_length, 0xB3);
  EXPECT_EQ(b[0x48], 0xA1);  // SPNEGO NegTokenResp
  b = FromHex(kResponse2);
  r = DecodeSessionSetupResponse(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->security_buffer_length, 0x1D);
  b = FromHex(kSambaGuestResponse);
  r = DecodeSessionSetupResponse(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->session_flags, kSessionFlagIsGuest);
  EXPECT_EQ(r->security_buffer_length, 9);
}

TEST(SessionSetupTest, ResponsesSurviveSplitsTruncationAndCorruption) {
  for (const char* hex : {kResponse1, kResponse2, kSambaGuestResponse}) {
    const std::vector<uint8_t> golden = FromHex(hex);
    SCOPED_TRACE(hex);
    testing_util::ExpectRobustGolden(golden, Summarize);
    // SecurityBufferOffset at 68, SecurityBufferLength at 70, both 2 bytes.
    std::vector<Corruption> cases = testing_util::OffsetLengthSweep(
        68, 2, 70, 2, 0x48, golden.size() - 0x48, golden.size());
    cases.push_back({68, 2, 0x47});  // overlaps the fixed body
    cases.push_back({64, 2, 8});     // StructureSize
    testing_util::ExpectCorruptionsAreDataLoss(golden, Summarize, cases,
                                               "SESSION_SETUP response");
  }
}

TEST(SessionSetupTest, AcceptsAnEmptyToken) {
  // A final response may carry no token: offset and length 0 ([MS-SMB2] 2.2.6).
  std::vector<uint8_t> b = FromHex(kResponse2);
  b.resize(72);
  testing_util::PutU16(&b, 68, 0);
  testing_util::PutU16(&b, 70, 0);
  auto r = DecodeSessionSetupResponse(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->security_buffer_length, 0);
}

}  // namespace
}  // namespace smbd
