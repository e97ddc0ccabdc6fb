#include "smb2/pdu/flush.h"

#include "gtest/gtest.h"
#include "smb2/pdu/pdu_test_util.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

using testing_util::FromHex;
using testing_util::ToHex;

// smbclient sends no FLUSH (tests/golden/README.md), so both messages are built by hand from
// [MS-SMB2] 2.2.17 / 2.2.18. Request body: StructureSize 24 (1800), Reserved1 (0000),
// Reserved2 (00000000), FileId persistent 0x1122334455667788, volatile 0x99AABBCCDDEEFF00.
constexpr char kRequestBody[] =
    "1800" "0000" "00000000" "8877665544332211" "00ffeeddccbbaa99";
// Response: an SMB2 header (CreditCharge 1, status 0, command FLUSH 0x0007, 1 credit,
// SERVER_TO_REDIR, MessageId 5, TreeId 1), then StructureSize 4 (0400) and Reserved (0000).
constexpr char kResponse[] =
    "fe534d4240000100000000000700010001000000000000000500000000000000"
    "000000000100000000000000000000000000000000000000000000000000000004000000";

TEST(FlushTest, EncodesRequest) {
  uint8_t buf[32];
  WireWriter w(absl::MakeSpan(buf));
  EncodeFlushRequest(FlushRequest{FileId{0x1122334455667788ull, 0x99AABBCCDDEEFF00ull}}, &w);
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(ToHex(w.written()), ToHex(FromHex(kRequestBody)));
}

TEST(FlushTest, DecodesResponse) {
  const std::vector<uint8_t> b = FromHex(kResponse);
  ASSERT_EQ(b.size(), 68u);
  EXPECT_TRUE(DecodeFlushResponse(WireReader(absl::MakeConstSpan(b))).ok());
  testing_util::ExpectRobustGolden(b, [](WireReader m) -> absl::StatusOr<std::string> {
    absl::Status s = DecodeFlushResponse(m);
    if (!s.ok()) return s;
    return std::string("ok");
  });
  const std::vector<uint8_t> c = testing_util::Corrupt(b, {64, 2, 24});
  EXPECT_EQ(DecodeFlushResponse(WireReader(absl::MakeConstSpan(c))).code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace smbd
