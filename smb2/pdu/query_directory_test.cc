#include "smb2/pdu/query_directory.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "smb2/pdu/pdu_test_util.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

using testing_util::Corruption;
using testing_util::FromHex;
using testing_util::ToHex;

// QUERY_DIRECTORY of "dir3" with pattern "*" (FileIdBothDirectoryInformation: ".", "..",
// "b.txt", "a.txt", "c.txt"), captured from Samba 4.17 by tests/golden/capture (run of
// 2026-11-28): 079-req / 080-rsp-QUERY_DIRECTORY-smb311.
constexpr char kRequest[] =
    "fe534d4240008000000000000e00010010000000000000002b01000000000000000000005000f6c201c2b58600"
    "00000000000000000000000000000000000000210025000000000040f0c65600000000c6fddf16000000006000"
    "0200000080002a00";
constexpr char kResponse[] =
    "fe534d4240008000000000000e00800011000000000000002b01000000000000000000005000f6c201c2b58600"
    "000000000000000000000000000000000000000900480042020000700000000000000000006dc64717da010000"
    "6dc64717da0100006dc64717da0100006dc64717da010000000000000000000000000000000010000000020000"
    "0000000000000000000000000000000000000000000000000000000000000000009225a700000000002e000000"
    "0000000070000000000000004a64b845567fdd01a7bbb845567fdd014a64b845567fdd014a64b845567fdd0100"
    "000000000000000000000000000000100000000400000000000000000000000000000000000000000000000000"
    "000000000000000000006320a700000000002e002e0000000000780000000000000000006dc64717da0100006d"
    "c64717da0100006dc64717da0100006dc64717da0107000000000000000010000000000000800000000a000000"
    "00000000000000000000000000000000000000000000000000000000000000009525a7000000000062002e0074"
    "0078007400000000000000780000000000000000006dc64717da0100006dc64717da0100006dc64717da010000"
    "6dc64717da0107000000000000000010000000000000800000000a000000000000000000000000000000000000"
    "00000000000000000000000000000000009625a7000000000063002e0074007800740000000000000000000000"
    "0000000000006dc64717da0100006dc64717da0100006dc64717da0100006dc64717da01070000000000000000"
    "10000000000000800000000a000000000000000000000000000000000000000000000000000000000000000000"
    "00009425a7000000000061002e00740078007400";

// Entry offsets in kResponse: the buffer starts at 72; entries at +0, +112, +224, +344, +464.
constexpr size_t kBuf = 72;
constexpr size_t kEntry[] = {kBuf, kBuf + 112, kBuf + 224, kBuf + 344, kBuf + 464};

absl::StatusOr<std::string> Summarize(WireReader m) {
  absl::StatusOr<QueryDirectoryResponse> r = DecodeQueryDirectoryResponse(m);
  if (!r.ok()) return r.status();
  absl::StatusOr<DirectoryEntryIterator> it = DirectoryEntryIterator::Create(m, *r);
  if (!it.ok()) return it.status();
  std::string s;
  DirectoryEntry e;
  while (true) {
    absl::StatusOr<bool> more = it->Next(&e);
    if (!more.ok()) return more.status();
    if (!*more) break;
    absl::StrAppend(&s, e.name, ":", e.end_of_file, ":", e.file_attributes, ":", e.file_id, ":",
                    e.short_name, ";");
  }
  return s;
}

TEST(QueryDirectoryTest, EncodesCapturedRequest) {
  const std::vector<uint8_t> golden = FromHex(kRequest);
  QueryDirectoryRequest req;
  req.file_id = FileId{0x56C6F040u, 0x16DFFDC6u};
  req.pattern = "*";
  req.output_buffer_length = 0x800000;
  EXPECT_EQ(testing_util::EncodeLikeGolden(
                golden, [&](WireWriter* w) { return EncodeQueryDirectoryRequest(req, w); }),
            ToHex(golden));
}

TEST(QueryDirectoryTest, EncodesFlagsAndIndex) {
  // Built by hand from [MS-SMB2] 2.2.33: StructureSize 33 (2100), class 0x25, Flags
  // RESTART_SCANS|RETURN_SINGLE_ENTRY|INDEX_SPECIFIED|REOPEN (17), FileIndex 5, FileId 1/2,
  // FileNameOffset 0x60, FileNameLength 6, OutputBufferLength 4096, "a*b" in UTF-16LE.
  uint8_t buf[64];
  WireWriter w(absl::MakeSpan(buf));
  QueryDirectoryRequest req;
  req.flags = kQueryDirRestartScans | kQueryDirReturnSingleEntry | kQueryDirIndexSpecified |
              kQueryDirReopen;
  req.file_index = 5;
  req.file_id = FileId{1, 2};
  req.pattern = "a*b";
  req.output_buffer_length = 4096;
  ASSERT_TRUE(EncodeQueryDirectoryRequest(req, &w).ok());
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(ToHex(w.written()),
            "2100251705000000010000000000000002000000000000006000060000100000"
            "61002a006200");
  req.pattern = "";
  EXPECT_EQ(EncodeQueryDirectoryRequest(req, &w).code(), absl::StatusCode::kInvalidArgument);
}

TEST(QueryDirectoryTest, DecodesCapturedListing) {
  const std::vector<uint8_t> b = FromHex(kResponse);
  auto s = Summarize(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s,
            ".:0:16:10954130:;..:0:16:10952803:;b.txt:7:128:10954133:;c.txt:7:128:10954134:;"
            "a.txt:7:128:10954132:;");
  testing_util::ExpectRobustGolden(b, Summarize);
}

TEST(QueryDirectoryTest, HostileEntriesAreDataLoss) {
  const std::vector<uint8_t> b = FromHex(kResponse);
  std::vector<Corruption> cases =
      testing_util::OffsetLengthSweep(66, 2, 68, 4, 0x48, b.size() - 0x48, b.size());
  const std::vector<Corruption> more = {
      {68, 4, 103},                  // a buffer shorter than one entry
      {kEntry[0], 4, 8},             // NextEntryOffset inside the entry: would loop/overlap
      {kEntry[0], 4, 104},           // does not cover the name
      {kEntry[0], 4, 0xFFFFFFFF},    // far past the end (no 32-bit wrap)
      {kEntry[3], 4, 120 + 16},      // the next entry would not fit
      {kEntry[4], 4, 8},             // the last entry pointing backwards into itself
      {kEntry[0] + 60, 4, 0xFFFFFFFF},  // FileNameLength
      {kEntry[0] + 60, 4, 9},        // longer than NextEntryOffset allows
      {kEntry[0] + 60, 4, 1},        // odd UTF-16
      {kEntry[4] + 60, 4, 12},       // last entry's name one UTF-16 unit past the buffer
      {kEntry[0] + 68, 1, 26},       // ShortNameLength > 24
      {kEntry[0] + 68, 1, 3},        // odd
      {64, 2, 8},                    // StructureSize
  };
  cases.insert(cases.end(), more.begin(), more.end());
  testing_util::ExpectCorruptionsAreDataLoss(b, Summarize, cases, "QUERY_DIRECTORY response");
}

TEST(QueryDirectoryTest, EmptyBufferAndStickyErrors) {
  std::vector<uint8_t> b = FromHex(kResponse);
  b.resize(72);
  testing_util::PutU16(&b, 66, 0);
  testing_util::PutU32(&b, 68, 0);
  auto s = Summarize(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "");
  // After an error, Next keeps returning it.
  std::vector<uint8_t> bad = testing_util::Corrupt(FromHex(kResponse), {kEntry[1] + 68, 1, 30});
  WireReader m(absl::MakeConstSpan(bad));
  auto r = DecodeQueryDirectoryResponse(m);
  ASSERT_TRUE(r.ok());
  auto it = DirectoryEntryIterator::Create(m, *r);
  ASSERT_TRUE(it.ok());
  DirectoryEntry e;
  EXPECT_TRUE(*it->Next(&e));
  EXPECT_EQ(it->Next(&e).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(it->Next(&e).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace smbd
