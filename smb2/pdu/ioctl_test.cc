#include "smb2/pdu/ioctl.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "smb2/pdu/pdu_test_util.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

using testing_util::Corruption;
using testing_util::FromHex;
using testing_util::ToHex;

// FSCTL_VALIDATE_NEGOTIATE_INFO over SMB 3.0 (signed), captured from Samba 4.17 by
// tests/golden/capture (run of 2026-11-28): 312-req / 313-rsp-IOCTL-smb300-signed.
constexpr char kValidateRequest[] =
    "fe534d4240000100000000000b0001000800000000000000080000000000000000000000d4ee42c966c0a8e200"
    "000000214aa21dc3de74a63a800cf5a97cd4073900000004021400ffffffffffffffffffffffffffffffff7800"
    "00001e0000000000000078000000000000001800000001000000000000007f000000fb45e6d28159cc4c8d5dea"
    "55e51c108901000300020210020003";
constexpr char kValidateResponse[] =
    "fe534d4240000100000000000b0001000900000000000000080000000000000000000000d4ee42c966c0a8e200"
    "000000f9330e5b5df654f175aff00bc5d22dc03100000004021400ffffffffffffffffffffffffffffffff7000"
    "000000000000700000001800000000000000000000004f000000736d6274657374000000000000000000030000"
    "03";

// FSCTL_QUERY_NETWORK_INTERFACE_INFO output built by hand from [MS-SMB2] 2.2.32.5 (smbclient
// does not send this FSCTL): two 152-byte entries.
//  1: Next 152, IfIndex 2, Capability RSS, Reserved, LinkSpeed 10 Gb/s, family 0x0002,
//     port 445 (01bd, network order), 10.0.0.1, 8 + 112 reserved bytes.
//  2: Next 0, IfIndex 3, Capability RDMA|RSS, LinkSpeed 100 Gb/s, family 0x0017, port 0,
//     FlowInfo 0, fe80::1, ScopeId 3, reserved.
std::string InterfaceList() {
  return absl::StrCat(
      "98000000", "02000000", "01000000", "00000000", "00e40b5402000000",  // 10^10
      "0200", "01bd", "0a000001", std::string(2 * 120, '0'),
      "00000000", "03000000", "03000000", "00000000", "00e8764817000000",  // 10^11
      "1700", "0000", "00000000", "fe800000000000000000000000000001", "03000000",
      std::string(2 * 100, '0'));
}

// An IOCTL response carrying `output_hex`: kValidateResponse's header and fixed body with
// OutputCount replaced.
std::vector<uint8_t> ResponseWith(const std::string& output_hex) {
  std::vector<uint8_t> b = FromHex(kValidateResponse);
  b.resize(112);
  const std::vector<uint8_t> out = FromHex(output_hex);
  testing_util::PutU32(&b, 64 + 4, kFsctlQueryNetworkInterfaceInfo);
  testing_util::PutU32(&b, 64 + 36, static_cast<uint32_t>(out.size()));
  b.insert(b.end(), out.begin(), out.end());
  return b;
}

absl::StatusOr<std::string> SummarizeValidate(WireReader m) {
  absl::StatusOr<IoctlResponse> r = DecodeIoctlResponse(m);
  if (!r.ok()) return r.status();
  absl::StatusOr<WireReader> out = IoctlOutput(m, *r);
  if (!out.ok()) return out.status();
  absl::StatusOr<ValidateNegotiateInfoResponse> v = DecodeValidateNegotiateInfo(*out);
  if (!v.ok()) return v.status();
  return absl::StrCat(r->ctl_code, "/", v->capabilities, "/", ToHex(v->guid), "/",
                      v->security_mode, "/", v->dialect);
}

absl::StatusOr<std::string> SummarizeInterfaces(WireReader m) {
  absl::StatusOr<IoctlResponse> r = DecodeIoctlResponse(m);
  if (!r.ok()) return r.status();
  absl::StatusOr<WireReader> out = IoctlOutput(m, *r);
  if (!out.ok()) return out.status();
  absl::StatusOr<std::vector<NetworkInterfaceInfo>> list = DecodeNetworkInterfaceInfo(*out);
  if (!list.ok()) return list.status();
  std::string s;
  for (const NetworkInterfaceInfo& n : *list) {
    absl::StrAppend(&s, n.if_index, ",", n.capability, ",", n.link_speed, ",", n.family, ",",
                    n.port, ",", ToHex(n.address), ",", n.scope_id, ";");
  }
  return s;
}

TEST(IoctlTest, EncodesCapturedValidateNegotiate) {
  const std::vector<uint8_t> golden = FromHex(kValidateRequest);
  const uint16_t dialects[] = {kDialect202, kDialect210, kDialect300};
  ValidateNegotiateInfoRequest v;
  v.capabilities = 0x7F;
  const std::vector<uint8_t> guid = FromHex("fb45e6d28159cc4c8d5dea55e51c1089");
  std::copy(guid.begin(), guid.end(), v.guid);
  v.security_mode = kSigningEnabled;
  v.dialects = dialects;
  uint8_t input[64];
  WireWriter iw(absl::MakeSpan(input));
  EncodeValidateNegotiateInfo(v, &iw);
  ASSERT_TRUE(iw.Finish().ok());
  ASSERT_EQ(iw.position(), ValidateNegotiateInfoSize(v));
  IoctlRequest req;
  req.ctl_code = kFsctlValidateNegotiateInfo;
  req.input = iw.written();
  req.max_output_response = 24;
  EXPECT_EQ(testing_util::EncodeLikeGolden(golden,
                                           [&](WireWriter* w) {
                                             EncodeIoctlRequest(req, w);
                                             return absl::OkStatus();
                                           }),
            ToHex(golden));
}

TEST(IoctlTest, EncodesWithoutInput) {
  // Built by hand from [MS-SMB2] 2.2.31: StructureSize 57 (3900), Reserved, CtlCode
  // 0x001401FC, FileId all ones, InputOffset 0x78, InputCount 0, MaxInputResponse 0,
  // OutputOffset 0x78, OutputCount 0, MaxOutputResponse 65536, Flags IS_FSCTL, Reserved2, one
  // Buffer byte.
  uint8_t buf[64];
  WireWriter w(absl::MakeSpan(buf));
  IoctlRequest req;
  req.ctl_code = kFsctlQueryNetworkInterfaceInfo;
  req.max_output_response = 65536;
  EncodeIoctlRequest(req, &w);
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(ToHex(w.written()),
            absl::StrCat("39000000fc011400", std::string(32, 'f'),
                         "78000000000000000000000078000000000000000000010001000000000000000"
                         "0"));
}

TEST(IoctlTest, DecodesCapturedValidateNegotiate) {
  const std::vector<uint8_t> b = FromHex(kValidateResponse);
  auto s = SummarizeValidate(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(s.ok()) << s.status();
  // Capabilities 0x4F, Samba's server GUID ("smbtest" padded), SecurityMode 3, dialect 3.0.
  EXPECT_EQ(*s, absl::StrCat(kFsctlValidateNegotiateInfo,
                             "/79/736d6274657374000000000000000000/3/768"));
  testing_util::ExpectRobustGolden(b, SummarizeValidate);
  // InputOffset at 88, InputCount 92, OutputOffset 96, OutputCount 100.
  std::vector<Corruption> cases =
      testing_util::OffsetLengthSweep(96, 4, 100, 4, 0x70, 24, b.size());
  const std::vector<Corruption> more = {
      {92, 4, 25},           // input runs one byte past the end
      {92, 4, 0xFFFFFFFF},
      {100, 4, 20},          // VALIDATE output of the wrong size
      {64, 2, 9},            // StructureSize (an ERROR body)
  };
  cases.insert(cases.end(), more.begin(), more.end());
  testing_util::ExpectCorruptionsAreDataLoss(b, SummarizeValidate, cases, "IOCTL response");
  // InputOffset inside the header, with an input count.
  std::vector<uint8_t> in_header = testing_util::Corrupt(b, {92, 4, 4});
  in_header = testing_util::Corrupt(in_header, {88, 4, 0x20});
  EXPECT_EQ(SummarizeValidate(WireReader(absl::MakeConstSpan(in_header))).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(IoctlTest, DecodesNetworkInterfaces) {
  const std::vector<uint8_t> b = ResponseWith(InterfaceList());
  ASSERT_EQ(b.size(), 112u + 304u);
  auto s = SummarizeInterfaces(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s,
            "2,1,10000000000,2,445,0a000001000000000000000000000000,0;"
            "3,3,100000000000,23,0,fe800000000000000000000000000001,3;");
  testing_util::ExpectRobustGolden(b, SummarizeInterfaces);
  const size_t e1 = 112, e2 = 112 + 152;
  const Corruption cases[] = {
      {e1, 4, 8},            // Next inside the entry
      {e1, 4, 151},          // Next shorter than an entry
      {e1, 4, 153},          // the next entry would not fit
      {e1, 4, 0xFFFFFFFF},
      {e2, 4, 152},          // the last entry pointing past the buffer
      {e1 + 24, 2, 0x1E},    // an unknown address family
      {100, 4, 151},         // OutputCount shorter than one entry
      {100, 4, 304 + 1},     // one past the end
  };
  testing_util::ExpectCorruptionsAreDataLoss(b, SummarizeInterfaces, cases, "IOCTL response");
}

}  // namespace
}  // namespace smbd
