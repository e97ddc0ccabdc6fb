#include "smb2/pdu/change_notify.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "smb2/pdu/pdu_test_util.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

using testing_util::FromHex;
using testing_util::ToHex;

// Built by hand from [MS-SMB2] 2.2.35: StructureSize 32 (2000), Flags WATCH_TREE (0100),
// OutputBufferLength 4096 (00100000), FileId persistent 0x1122334455667788, volatile
// 0x99AABBCCDDEEFF00, CompletionFilter FILE_NAME|DIR_NAME|SIZE|LAST_WRITE (1b000000), Reserved.
constexpr char kRequestBody[] =
    "2000"
    "0100"
    "00100000"
    "8877665544332211"
    "00ffeeddccbbaa99"
    "1b000000"
    "00000000";

// [MS-SMB2] 2.2.36 after a response header (CHANGE_NOTIFY 0x000F, SERVER_TO_REDIR, MessageId 7,
// TreeId 1): StructureSize 9, OutputBufferOffset 72, OutputBufferLength 44, then two
// [MS-FSCC] 2.7.1 entries: {NextEntryOffset 24, ADDED, 10 bytes "a.txt", 2 bytes of padding to
// 4-byte alignment} and {0, REMOVED, 8 bytes "dir\u00e9"}.
constexpr char kResponse[] =
    "fe534d4240000100000000000f000100010000000000000007000000000000000000000001000000000000000000"
    "000000000000000000000000000000000000"
    "090048002c00000018000000010000000a00000061002e007400780074000000000000000200000008000000640069"
    "007200e900";

std::string Summary(WireReader m) {
  absl::StatusOr<std::vector<FileNotification>> n = DecodeChangeNotifyResponse(m);
  if (!n.ok()) return std::string(n.status().message());
  std::string s;
  for (const FileNotification& e : *n) absl::StrAppend(&s, e.action, ":", e.name, ";");
  return s;
}

TEST(ChangeNotifyTest, EncodesRequest) {
  uint8_t buf[32];
  WireWriter w(absl::MakeSpan(buf));
  ChangeNotifyRequest req;
  req.flags = kWatchTree;
  req.output_buffer_length = 4096;
  req.file_id = FileId{0x1122334455667788ull, 0x99AABBCCDDEEFF00ull};
  req.completion_filter = notify_filter::kFileName | notify_filter::kDirName |
                          notify_filter::kSize | notify_filter::kLastWrite;
  EncodeChangeNotifyRequest(req, &w);
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(ToHex(w.written()), ToHex(FromHex(kRequestBody)));
}

TEST(ChangeNotifyTest, DecodesEntries) {
  const std::vector<uint8_t> b = FromHex(kResponse);
  ASSERT_EQ(b.size(), 116u);
  EXPECT_EQ(Summary(WireReader(absl::MakeConstSpan(b))), "1:a.txt;2:dir\xc3\xa9;");
  testing_util::ExpectRobustGolden(b, [](WireReader m) -> absl::StatusOr<std::string> {
    absl::StatusOr<std::vector<FileNotification>> n = DecodeChangeNotifyResponse(m);
    if (!n.ok()) return n.status();
    return Summary(m);
  });
}

TEST(ChangeNotifyTest, EmptyBufferIsNoEntries) {
  // STATUS_NOTIFY_ENUM_DIR answers carry no entries ([MS-SMB2] 3.3.5.19).
  std::vector<uint8_t> b = FromHex(kResponse);
  b.resize(64 + 8);
  b[64 + 2] = 0, b[64 + 4] = 0;  // offset 0, length 0
  b.push_back(0);
  absl::StatusOr<std::vector<FileNotification>> n =
      DecodeChangeNotifyResponse(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(n->empty());
}

TEST(ChangeNotifyTest, CorruptFieldsAreDataLoss) {
  const std::vector<uint8_t> b = FromHex(kResponse);
  auto summarize = [](WireReader m) -> absl::StatusOr<std::string> {
    absl::StatusOr<std::vector<FileNotification>> n = DecodeChangeNotifyResponse(m);
    if (!n.ok()) return n.status();
    return std::string("ok");
  };
  std::vector<testing_util::Corruption> cases =
      testing_util::OffsetLengthSweep(66, 2, 68, 4, 72, 44, b.size());
  cases.push_back({64, 2, 8});       // StructureSize
  cases.push_back({72, 4, 23});      // NextEntryOffset inside the first entry
  cases.push_back({72, 4, 26});      // not 4-byte aligned
  cases.push_back({72, 4, 44});      // past the buffer
  cases.push_back({80, 4, 0xFFFF});  // FileNameLength past the buffer
  cases.push_back({104, 4, 9});      // second name runs past the end
  testing_util::ExpectCorruptionsAreDataLoss(b, summarize, cases, "CHANGE_NOTIFY");
  // An unpaired UTF-16 surrogate in a name.
  std::vector<uint8_t> c = b;
  c[84] = 0x00, c[85] = 0xD8;
  EXPECT_EQ(DecodeChangeNotifyResponse(WireReader(absl::MakeConstSpan(c))).status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace smbd
