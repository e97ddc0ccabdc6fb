#include "smb2/pdu/close.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "smb2/pdu/pdu_test_util.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

using testing_util::Corruption;
using testing_util::FromHex;
using testing_util::ToHex;

// CLOSE request and response (no POSTQUERY_ATTRIB: all attribute fields zero), captured from
// Samba 4.17 by tests/golden/capture (run of 2026-11-28): 023-req / 024-rsp-CLOSE-smb311.
constexpr char kRequest[] =
    "fe534d4240000100000000000600010010000000000000000901000000000000000000005000f6c201c2b58600"
    "0000000000000000000000000000000000000018000000000000001c2b1eb400000000442b89f300000000";
constexpr char kResponse[] =
    "fe534d4240000100000000000600010011000000000000000901000000000000000000005000f6c201c2b58600"
    "000000000000000000000000000000000000003c00000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000000000000000";

absl::StatusOr<std::string> Summarize(WireReader m) {
  absl::StatusOr<CloseResponse> r = DecodeCloseResponse(m);
  if (!r.ok()) return r.status();
  return absl::StrCat(r->flags, "/", r->creation_time, "/", r->last_access_time, "/",
                      r->last_write_time, "/", r->change_time, "/", r->allocation_size, "/",
                      r->end_of_file, "/", r->file_attributes);
}

TEST(CloseTest, EncodesCapturedRequest) {
  const std::vector<uint8_t> golden = FromHex(kRequest);
  CloseRequest req;
  req.file_id = FileId{0xB41E2B1Cu, 0xF3892B44u};
  EXPECT_EQ(testing_util::EncodeLikeGolden(golden,
                                           [&](WireWriter* w) {
                                             EncodeCloseRequest(req, w);
                                             return absl::OkStatus();
                                           }),
            ToHex(golden));
}

TEST(CloseTest, EncodesPostqueryFlag) {
  // Built by hand from [MS-SMB2] 2.2.15: StructureSize 24 (1800), Flags POSTQUERY_ATTRIB
  // (0100), Reserved (00000000), FileId persistent 1, volatile 2.
  uint8_t buf[32];
  WireWriter w(absl::MakeSpan(buf));
  EncodeCloseRequest(CloseRequest{kCloseFlagPostqueryAttrib, FileId{1, 2}}, &w);
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(ToHex(w.written()), "180001000000000001000000000000000200000000000000");
}

TEST(CloseTest, DecodesCapturedAndPostqueryResponses) {
  std::vector<uint8_t> b = FromHex(kResponse);
  auto r = DecodeCloseResponse(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->flags, 0);
  EXPECT_EQ(r->end_of_file, 0u);
  testing_util::ExpectRobustGolden(b, Summarize);
  // The same response with POSTQUERY_ATTRIB filled in, by hand from [MS-SMB2] 2.2.16: Flags at
  // 66, times at 72/80/88/96, AllocationSize 104, EndofFile 112, FileAttributes 120.
  testing_util::PutU16(&b, 66, kCloseFlagPostqueryAttrib);
  for (int i = 0; i < 4; ++i) {
    testing_util::PutU32(&b, 72 + 8 * i, 0xC66D0000u);
    testing_util::PutU32(&b, 76 + 8 * i, 0x01DA1747u);
  }
  testing_util::PutU32(&b, 104, 4096);
  testing_util::PutU32(&b, 112, 210);
  testing_util::PutU32(&b, 120, 0x20);
  r = DecodeCloseResponse(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->flags, kCloseFlagPostqueryAttrib);
  EXPECT_EQ(r->creation_time, 0x01DA1747C66D0000u);
  EXPECT_EQ(r->change_time, 0x01DA1747C66D0000u);
  EXPECT_EQ(r->allocation_size, 4096u);
  EXPECT_EQ(r->end_of_file, 210u);
  EXPECT_EQ(r->file_attributes, 0x20u);
  testing_util::ExpectRobustGolden(b, Summarize);
  // No offsets or lengths: the StructureSize is the field to corrupt.
  const Corruption cases[] = {{64, 2, 9}, {64, 2, 61}, {64, 2, 0}};
  testing_util::ExpectCorruptionsAreDataLoss(b, Summarize, cases, "CLOSE response");
}

}  // namespace
}  // namespace smbd
