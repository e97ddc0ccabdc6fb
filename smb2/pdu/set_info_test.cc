#include "smb2/pdu/set_info.h"

#include "gtest/gtest.h"
#include "smb2/pdu/pdu_test_util.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

using testing_util::FromHex;
using testing_util::ToHex;

// SET_INFO requests and a response, captured from Samba 4.17 by tests/golden/capture (run of
// 2026-11-28): 117-req (FileRenameInformation "renamed.txt"), 118-rsp, 129-req
// (FileBasicInformation, smbclient "setmode +r"), 191-req (FileDispositionInformation).
constexpr char kRenameRequest[] =
    "fe534d4240000100000000001100010010000000000000004102000000000000000000005000f6c201c2b58600"
    "000000000000000000000000000000000000002100010a2a0000006000000000000000c4e2365b000000005611"
    "13d2000000000000000000000000000000000000000016000000720065006e0061006d00650064002e00740078"
    "007400";
constexpr char kResponse[] =
    "fe534d4240000100000000001100010011000000000000004102000000000000000000005000f6c201c2b58600"
    "000000000000000000000000000000000000000200";
constexpr char kBasicRequest[] =
    "fe534d4240000100000000001100010010000000000000004802000000000000000000005000f6c201c2b58600"
    "0000000000000000000000000000000000000021000104280000006000000000000000d43832d700000000e9c8"
    "ded100000000ffffffffffffffffffffffffffffffff0000000000000000ffffffffffffffff21000000000000"
    "00";
constexpr char kDispositionRequest[] =
    "fe534d4240000100000000001100010010000000000000006a03000000000000000000005000f6c201c2b58600"
    "000000000000000000000000000000000000002100010d0100000060000000000000004f80661b00000000f6f4"
    "6b380000000001";

TEST(SetInfoTest, EncodesCapturedRename) {
  const std::vector<uint8_t> golden = FromHex(kRenameRequest);
  EXPECT_EQ(testing_util::EncodeLikeGolden(golden,
                                           [](WireWriter* w) {
                                             return EncodeSetRenameRequest(
                                                 FileId{0x5B36E2C4u, 0xD2131156u},
                                                 "renamed.txt", false, w);
                                           }),
            ToHex(golden));
  uint8_t buf[64];
  WireWriter w(absl::MakeSpan(buf));
  EXPECT_EQ(EncodeSetRenameRequest(FileId{}, "", false, &w).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeSetRenameRequest(FileId{}, "\xC3", false, &w).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SetInfoTest, EncodesCapturedBasicInfo) {
  const std::vector<uint8_t> golden = FromHex(kBasicRequest);
  FileBasicInfo info;
  info.creation_time = kFileTimeFreeze;
  info.last_access_time = kFileTimeFreeze;
  info.last_write_time = kFileTimeUnchanged;
  info.change_time = kFileTimeFreeze;
  info.file_attributes = 0x21;  // ARCHIVE | READONLY
  EXPECT_EQ(testing_util::EncodeLikeGolden(golden,
                                           [&](WireWriter* w) {
                                             EncodeSetBasicInfoRequest(
                                                 FileId{0xD73238D4u, 0xD1DEC8E9u}, info, w);
                                             return absl::OkStatus();
                                           }),
            ToHex(golden));
}

TEST(SetInfoTest, EncodesCapturedDisposition) {
  const std::vector<uint8_t> golden = FromHex(kDispositionRequest);
  EXPECT_EQ(testing_util::EncodeLikeGolden(golden,
                                           [](WireWriter* w) {
                                             EncodeSetDispositionRequest(
                                                 FileId{0x1B66804Fu, 0x386BF4F6u}, true, w);
                                             return absl::OkStatus();
                                           }),
            ToHex(golden));
}

TEST(SetInfoTest, EncodesEndOfFileAndRawBuffers) {
  // Built by hand from [MS-SMB2] 2.2.39: StructureSize 33 (2100), InfoType FILE (01), class
  // FileEndOfFileInformation (14), BufferLength 8, BufferOffset 0x60, Reserved,
  // AdditionalInformation 0, FileId 1/2, EndOfFile 0x12345 ([MS-FSCC] 2.4).
  uint8_t buf[64];
  WireWriter w(absl::MakeSpan(buf));
  EncodeSetEndOfFileRequest(FileId{1, 2}, 0x12345, &w);
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(ToHex(w.written()),
            "21000114080000006000000000000000010000000000000002000000000000004523010000000000");
  // A security descriptor set: InfoType SECURITY (03), class 0, AdditionalInformation DACL.
  uint8_t buf2[64];
  WireWriter w2(absl::MakeSpan(buf2));
  const uint8_t sd[3] = {1, 2, 3};
  SetInfoRequest req;
  req.info_type = kInfoSecurity;
  req.additional_information = kDaclSecurityInformation;
  req.file_id = FileId{1, 2};
  req.buffer = sd;
  EncodeSetInfoRequest(req, &w2);
  ASSERT_TRUE(w2.Finish().ok());
  EXPECT_EQ(ToHex(w2.written()),
            "210003000300000060000000040000000100000000000000020000000000000001" "0203");
}

TEST(SetInfoTest, DecodesCapturedResponse) {
  const std::vector<uint8_t> b = FromHex(kResponse);
  EXPECT_TRUE(DecodeSetInfoResponse(WireReader(absl::MakeConstSpan(b))).ok());
  testing_util::ExpectRobustGolden(b, [](WireReader m) -> absl::StatusOr<std::string> {
    absl::Status s = DecodeSetInfoResponse(m);
    if (!s.ok()) return s;
    return std::string("ok");
  });
  EXPECT_EQ(DecodeSetInfoResponse(
                WireReader(absl::MakeConstSpan(testing_util::Corrupt(b, {64, 2, 9}))))
                .code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace smbd
