#include "smb2/pdu/tree_connect.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "smb2/pdu/pdu_test_util.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

using testing_util::Corruption;
using testing_util::FromHex;
using testing_util::ToHex;

// TREE_CONNECT to IPC$ and to a disk share, captured from Samba 4.17 by tests/golden/capture
// (run of 2026-11-28): 007-req / 008-rsp and 013-req / 014-rsp -TREE_CONNECT-smb311.
constexpr char kIpcRequest[] =
    "fe534d4240000100000000000300010018000000000000000300000000000000000000000000000001c2b58600"
    "00000086b30a75608709e36f5328bcfd50981509000000480020005c005c003100320037002e0030002e003000"
    "2e0031005c004900500043002400";
constexpr char kIpcResponse[] =
    "fe534d424000010000000000030001001900000000000000030000000000000000000000dcf5d8ea01c2b58600"
    "00000007118d8f1f4d8b49f3866f97049d133d100002000000000000000000a9001f00";
constexpr char kShareRequest[] =
    "fe534d4240000100000000000300010018000000000000000600000000000000000000000000000001c2b58600"
    "000000cd31283ae8756c7ddc6bd2fb13ea8e2c09000000480022005c005c003100320037002e0030002e003000"
    "2e0031005c0073006800610072006500";
constexpr char kShareResponse[] =
    "fe534d4240000100000000000300010019000000000000000600000000000000000000005000f6c201c2b58600"
    "0000001cbad2a2025b9b8fbc1ceb8aa1f845e9100001000000000000000000ff011f00";

absl::StatusOr<std::string> Summarize(WireReader m) {
  absl::StatusOr<TreeConnectResponse> r = DecodeTreeConnectResponse(m);
  if (!r.ok()) return r.status();
  return absl::StrCat(r->share_type, "/", r->share_flags, "/", r->capabilities, "/",
                      r->maximal_access);
}

TEST(TreeConnectTest, EncodesCapturedRequests) {
  TreeConnectRequest req;
  req.path = "\\\\127.0.0.1\\IPC$";
  const std::vector<uint8_t> ipc = FromHex(kIpcRequest);
  EXPECT_EQ(testing_util::EncodeLikeGolden(
                ipc, [&](WireWriter* w) { return EncodeTreeConnectRequest(req, w); }),
            ToHex(ipc));
  req.path = "\\\\127.0.0.1\\share";
  const std::vector<uint8_t> share = FromHex(kShareRequest);
  EXPECT_EQ(testing_util::EncodeLikeGolden(
                share, [&](WireWriter* w) { return EncodeTreeConnectRequest(req, w); }),
            ToHex(share));
}

TEST(TreeConnectTest, RejectsBadPaths) {
  uint8_t buf[64];
  WireWriter w(absl::MakeSpan(buf));
  TreeConnectRequest req;
  EXPECT_EQ(EncodeTreeConnectRequest(req, &w).code(), absl::StatusCode::kInvalidArgument);
  req.path = "\\\\s\\\xC3";
  EXPECT_EQ(EncodeTreeConnectRequest(req, &w).code(), absl::StatusCode::kInvalidArgument);
}

TEST(TreeConnectTest, DecodesCapturedResponses) {
  std::vector<uint8_t> b = FromHex(kIpcResponse);
  auto r = DecodeTreeConnectResponse(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->share_type, kShareTypePipe);
  EXPECT_EQ(r->share_flags, 0u);
  EXPECT_EQ(r->maximal_access, 0x001F00A9u);
  b = FromHex(kShareResponse);
  r = DecodeTreeConnectResponse(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->share_type, kShareTypeDisk);
  EXPECT_EQ(r->share_flags & kShareFlagCachingMask, kShareFlagManualCaching);
  EXPECT_EQ(r->maximal_access, 0x001F01FFu);
  // ENCRYPT_DATA set in ShareFlags (byte 68, bit 15) is reported as is.
  testing_util::PutU32(&b, 68, kShareFlagEncryptData | kShareFlagNoCaching);
  r = DecodeTreeConnectResponse(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->share_flags & kShareFlagEncryptData);
}

TEST(TreeConnectTest, ResponsesSurviveSplitsTruncationAndCorruption) {
  for (const char* hex : {kIpcResponse, kShareResponse}) {
    const std::vector<uint8_t> golden = FromHex(hex);
    testing_util::ExpectRobustGolden(golden, Summarize);
    // No offset/length fields: StructureSize and ShareType are what can be wrong.
    const Corruption cases[] = {{64, 2, 9}, {64, 2, 0xFFFF}, {66, 1, 0}, {66, 1, 4}};
    testing_util::ExpectCorruptionsAreDataLoss(golden, Summarize, cases,
                                               "TREE_CONNECT response");
  }
}

}  // namespace
}  // namespace smbd
