#include "smb2/pdu/logoff.h"

#include "gtest/gtest.h"
#include "smb2/pdu/pdu_test_util.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

using testing_util::FromHex;
using testing_util::ToHex;

// LOGOFF request and response, captured from Samba 4.17 by tests/golden/capture (run of
// 2026-11-28): 233-req-LOGOFF-smb311 / 234-rsp-LOGOFF-smb311.
constexpr char kRequest[] =
    "fe534d4240000100000000000200010010000000000000007e06000000000000000000000000000001c2b58600"
    "0000000000000000000000000000000000000004000000";
constexpr char kResponse[] =
    "fe534d4240000100000000000200010011000000000000007e06000000000000000000000000000001c2b58600"
    "0000000000000000000000000000000000000004000000";

TEST(LogoffTest, EncodesCapturedRequest) {
  const std::vector<uint8_t> golden = FromHex(kRequest);
  EXPECT_EQ(testing_util::EncodeLikeGolden(golden,
                                           [](WireWriter* w) {
                                             EncodeLogoffRequest(w);
                                             return absl::OkStatus();
                                           }),
            ToHex(golden));
}

TEST(LogoffTest, DecodesCapturedResponse) {
  const std::vector<uint8_t> b = FromHex(kResponse);
  EXPECT_TRUE(DecodeLogoffResponse(WireReader(absl::MakeConstSpan(b))).ok());
  testing_util::ExpectRobustGolden(b, [](WireReader m) -> absl::StatusOr<std::string> {
    absl::Status s = DecodeLogoffResponse(m);
    if (!s.ok()) return s;
    return std::string("ok");
  });
  for (uint16_t bad : {0, 2, 9, 24}) {
    std::vector<uint8_t> c = testing_util::Corrupt(b, {64, 2, bad});
    absl::Status s = DecodeLogoffResponse(WireReader(absl::MakeConstSpan(c)));
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << bad;
    EXPECT_NE(s.message().find("LOGOFF response"), absl::string_view::npos) << s;
  }
}

}  // namespace
}  // namespace smbd
