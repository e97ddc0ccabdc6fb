#include "smb2/pdu/tree_disconnect.h"

#include "gtest/gtest.h"
#include "smb2/pdu/pdu_test_util.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

using testing_util::FromHex;
using testing_util::ToHex;

// TREE_DISCONNECT request and response, captured from Samba 4.17 by tests/golden/capture (run of
// 2026-11-28): 011-req-TREE_DISCONNECT-smb311 / 012-rsp-TREE_DISCONNECT-smb311.
constexpr char kRequest[] =
    "fe534d424000010000000000040001001000000000000000050000000000000000000000dcf5d8ea01c2b58600"
    "0000000000000000000000000000000000000004000000";
constexpr char kResponse[] =
    "fe534d424000010000000000040001001100000000000000050000000000000000000000dcf5d8ea01c2b58600"
    "0000000000000000000000000000000000000004000000";

TEST(TreeDisconnectTest, EncodesCapturedRequest) {
  const std::vector<uint8_t> golden = FromHex(kRequest);
  EXPECT_EQ(testing_util::EncodeLikeGolden(golden,
                                           [](WireWriter* w) {
                                             EncodeTreeDisconnectRequest(w);
                                             return absl::OkStatus();
                                           }),
            ToHex(golden));
}

TEST(TreeDisconnectTest, DecodesCapturedResponse) {
  const std::vector<uint8_t> b = FromHex(kResponse);
  EXPECT_TRUE(DecodeTreeDisconnectResponse(WireReader(absl::MakeConstSpan(b))).ok());
  testing_util::ExpectRobustGolden(b, [](WireReader m) -> absl::StatusOr<std::string> {
    absl::Status s = DecodeTreeDisconnectResponse(m);
    if (!s.ok()) return s;
    return std::string("ok");
  });
  for (uint16_t bad : {0, 2, 9, 24}) {
    std::vector<uint8_t> c = testing_util::Corrupt(b, {64, 2, bad});
    absl::Status s = DecodeTreeDisconnectResponse(WireReader(absl::MakeConstSpan(c)));
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << bad;
    EXPECT_NE(s.message().find("TREE_DISCONNECT response"), absl::string_view::npos) << s;
  }
}

}  // namespace
}  // namespace smbd
