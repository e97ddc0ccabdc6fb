#include "smb2/pdu/query_info.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "smb2/pdu/pdu_test_util.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

using testing_util::Corruption;
using testing_util::FromHex;
using testing_util::ToHex;

// QUERY_INFO FILE FileAllInformation of "existing.txt" and FILESYSTEM FileFsSizeInformation,
// captured from Samba 4.17 by tests/golden/capture (run of 2026-11-28): 033-req / 034-rsp and
// 027-req / 028-rsp -QUERY_INFO-smb311.
constexpr char kAllRequest[] =
    "fe534d4240000100000000001000010010000000000000000f01000000000000000000005000f6c201c2b58600"
    "0000000000000000000000000000000000000029000112ffff000000000000000000000000000000000000b551"
    "64b70000000034bb68f90000000000";
constexpr char kAllResponse[] =
    "fe534d4240000100000000001000010011000000000000000f01000000000000000000005000f6c201c2b58600"
    "00000000000000000000000000000000000000090048007e00000000006dc64717da0100006dc64717da010000"
    "6dc64717da0100006dc64717da0180000000000000000010000000000000d20000000000000001000000000000"
    "009325a700000000000000000089001200000000000000000080000000000000001a0000005c00650078006900"
    "7300740069006e0067002e00740078007400";
constexpr char kFsSizeRequest[] =
    "fe534d4240000100000000001000010010000000000000000b01000000000000000000005000f6c201c2b58600"
    "0000000000000000000000000000000000000029000203ffff00000000000000000000000000000000000099aa"
    "397000000000ebcafb700000000000";
constexpr char kFsSizeResponse[] =
    "fe534d4240000100000000001000010011000000000000000b01000000000000000000005000f6c201c2b58600"
    "000000000000000000000000000000000000000900480018000000748ebf0f00000000b02af404000000000200"
    "000000020000";

// A QUERY_INFO response carrying `buffer_hex` at 0x48: kFsSizeResponse's header, then
// StructureSize 9, OutputBufferOffset 0x48, OutputBufferLength.
std::vector<uint8_t> ResponseWith(const std::string& buffer_hex) {
  std::vector<uint8_t> b = FromHex(kFsSizeResponse);
  b.resize(72);
  const std::vector<uint8_t> buffer = FromHex(buffer_hex);
  testing_util::PutU32(&b, 68, static_cast<uint32_t>(buffer.size()));
  b.insert(b.end(), buffer.begin(), buffer.end());
  return b;
}

template <typename Decode>
std::function<absl::StatusOr<std::string>(WireReader)> SummarizeWith(Decode decode) {
  return [decode](WireReader m) -> absl::StatusOr<std::string> {
    absl::StatusOr<QueryInfoResponse> r = DecodeQueryInfoResponse(m);
    if (!r.ok()) return r.status();
    absl::StatusOr<WireReader> out = QueryInfoOutput(m, *r);
    if (!out.ok()) return out.status();
    return decode(*out);
  };
}

absl::StatusOr<std::string> AllSummary(WireReader b) {
  absl::StatusOr<FileAllInfo> a = DecodeFileAllInformation(b);
  if (!a.ok()) return a.status();
  return absl::StrCat(a->basic.creation_time, "/", a->basic.file_attributes, "/",
                      a->standard.end_of_file, "/", a->standard.number_of_links, "/",
                      a->index_number, "/", a->access_flags, "/", a->name);
}

TEST(QueryInfoTest, EncodesCapturedRequests) {
  QueryInfoRequest req;
  req.info_type = kInfoFile;
  req.file_info_class = kFileAllInformation;
  req.output_buffer_length = 0xFFFF;
  req.file_id = FileId{0xB76451B5u, 0xF968BB34u};
  const std::vector<uint8_t> all = FromHex(kAllRequest);
  EXPECT_EQ(testing_util::EncodeLikeGolden(all,
                                           [&](WireWriter* w) {
                                             EncodeQueryInfoRequest(req, w);
                                             return absl::OkStatus();
                                           }),
            ToHex(all));
  req.info_type = kInfoFilesystem;
  req.file_info_class = kFileFsSizeInformation;
  req.file_id = FileId{0x7039AA99u, 0x70FBCAEBu};
  const std::vector<uint8_t> fs = FromHex(kFsSizeRequest);
  EXPECT_EQ(testing_util::EncodeLikeGolden(fs,
                                           [&](WireWriter* w) {
                                             EncodeQueryInfoRequest(req, w);
                                             return absl::OkStatus();
                                           }),
            ToHex(fs));
}

TEST(QueryInfoTest, EncodesSecurityQueryWithInput) {
  // Built by hand from [MS-SMB2] 2.2.37: StructureSize 41 (2900), InfoType SECURITY (03),
  // class 0, OutputBufferLength 4096, InputBufferOffset 0x68, Reserved, InputBufferLength 2,
  // AdditionalInformation OWNER|DACL (05000000), Flags 0, FileId 7/8, input "ab".
  uint8_t buf[64];
  WireWriter w(absl::MakeSpan(buf));
  const uint8_t input[2] = {'a', 'b'};
  QueryInfoRequest req;
  req.info_type = kInfoSecurity;
  req.output_buffer_length = 4096;
  req.input = input;
  req.additional_information = kOwnerSecurityInformation | kDaclSecurityInformation;
  req.file_id = FileId{7, 8};
  EncodeQueryInfoRequest(req, &w);
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(ToHex(w.written()),
            "290003000010000068000000020000000500000000000000"
            "07000000000000000800000000000000" "6162");
}

TEST(QueryInfoTest, DecodesCapturedFileAllInformation) {
  const std::vector<uint8_t> b = FromHex(kAllResponse);
  auto r = DecodeQueryInfoResponse(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->output_buffer_offset, 0x48);
  EXPECT_EQ(r->output_buffer_length, 126u);
  WireReader m(absl::MakeConstSpan(b));
  auto out = QueryInfoOutput(m, *r);
  ASSERT_TRUE(out.ok());
  auto a = DecodeFileAllInformation(*out);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->basic.creation_time, 0x01DA1747C66D0000u);
  EXPECT_EQ(a->basic.file_attributes, 0x80u);
  EXPECT_EQ(a->standard.allocation_size, 4096u);
  EXPECT_EQ(a->standard.end_of_file, 210u);
  EXPECT_EQ(a->standard.number_of_links, 1u);
  EXPECT_FALSE(a->standard.delete_pending);
  EXPECT_FALSE(a->standard.directory);
  EXPECT_EQ(a->index_number, 0xA72593u);
  EXPECT_EQ(a->access_flags, 0x00120089u);
  EXPECT_EQ(a->name, "\\existing.txt");
  // The buffer's first 40 bytes are a FileBasicInformation, the next 24 a
  // FileStandardInformation.
  auto basic = DecodeFileBasicInformation(*out);
  ASSERT_TRUE(basic.ok());
  EXPECT_EQ(basic->change_time, 0x01DA1747C66D0000u);
  auto std_info = DecodeFileStandardInformation(*m.Sub(0x48 + 40, 24));
  ASSERT_TRUE(std_info.ok());
  EXPECT_EQ(std_info->end_of_file, 210u);

  auto summarize = SummarizeWith(AllSummary);
  testing_util::ExpectRobustGolden(b, summarize);
  std::vector<Corruption> cases =
      testing_util::OffsetLengthSweep(66, 2, 68, 4, 0x48, 126, b.size());
  cases.push_back({66, 2, 0x47});           // overlaps the fixed body
  cases.push_back({68, 4, 99});             // shorter than FileAllInformation
  cases.push_back({0x48 + 96, 4, 27});      // FileNameLength odd
  cases.push_back({0x48 + 96, 4, 28});      // FileNameLength one past the buffer
  cases.push_back({0x48 + 96, 4, 0xFFFFFFFF});
  testing_util::ExpectCorruptionsAreDataLoss(b, summarize, cases, "QUERY_INFO response");
}

TEST(QueryInfoTest, DecodesCapturedFsSizeInformation) {
  const std::vector<uint8_t> b = FromHex(kFsSizeResponse);
  auto summarize = SummarizeWith([](WireReader buf) -> absl::StatusOr<std::string> {
    absl::StatusOr<FsSizeInfo> s = DecodeFsSizeInformation(buf);
    if (!s.ok()) return s.status();
    return absl::StrCat(s->total_allocation_units, "/", s->available_allocation_units, "/",
                        s->sectors_per_allocation_unit, "/", s->bytes_per_sector);
  });
  auto s = summarize(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "264212084/83110576/2/512");
  testing_util::ExpectRobustGolden(b, summarize);
  std::vector<Corruption> cases = testing_util::OffsetLengthSweep(66, 2, 68, 4, 0x48, 24, b.size());
  cases.push_back({68, 4, 23});  // shorter than the structure
  testing_util::ExpectCorruptionsAreDataLoss(b, summarize, cases, "QUERY_INFO response");
}

TEST(QueryInfoTest, DecodesOtherClassesBuiltByHand) {
  // Each buffer built by hand from its [MS-FSCC] layout.
  // FileNetworkOpenInformation: 4 times (1, 2, 3, 4), AllocationSize 8192, EndOfFile 5000,
  // FileAttributes ARCHIVE (0x20), Reserved.
  std::vector<uint8_t> b = ResponseWith(
      "0100000000000000" "0200000000000000" "0300000000000000" "0400000000000000"
      "0020000000000000" "8813000000000000" "20000000" "00000000");
  auto net = SummarizeWith([](WireReader buf) -> absl::StatusOr<std::string> {
    absl::StatusOr<FileNetworkOpenInfo> n = DecodeFileNetworkOpenInformation(buf);
    if (!n.ok()) return n.status();
    return absl::StrCat(n->creation_time, n->last_access_time, n->last_write_time,
                        n->change_time, "/", n->allocation_size, "/", n->end_of_file, "/",
                        n->file_attributes);
  });
  EXPECT_EQ(*net(WireReader(absl::MakeConstSpan(b))), "1234/8192/5000/32");
  testing_util::ExpectRobustGolden(b, net);

  // FileStandardInformation of a directory with delete pending.
  b = ResponseWith("0000000000000000" "0000000000000000" "02000000" "01" "01" "0000");
  auto std_info = SummarizeWith([](WireReader buf) -> absl::StatusOr<std::string> {
    absl::StatusOr<FileStandardInfo> s = DecodeFileStandardInformation(buf);
    if (!s.ok()) return s.status();
    return absl::StrCat(s->number_of_links, s->delete_pending, s->directory);
  });
  EXPECT_EQ(*std_info(WireReader(absl::MakeConstSpan(b))), "211");
  testing_util::ExpectRobustGolden(b, std_info);

  // FileFsFullSizeInformation: total 1000, caller 300, actual 400, 8 sectors of 512.
  b = ResponseWith("e803000000000000" "2c01000000000000" "9001000000000000" "08000000"
                   "00020000");
  auto full = SummarizeWith([](WireReader buf) -> absl::StatusOr<std::string> {
    absl::StatusOr<FsFullSizeInfo> s = DecodeFsFullSizeInformation(buf);
    if (!s.ok()) return s.status();
    return absl::StrCat(s->total_allocation_units, "/", s->caller_available_allocation_units,
                        "/", s->actual_available_allocation_units, "/",
                        s->sectors_per_allocation_unit, "/", s->bytes_per_sector);
  });
  EXPECT_EQ(*full(WireReader(absl::MakeConstSpan(b))), "1000/300/400/8/512");
  testing_util::ExpectRobustGolden(b, full);

  // FileFsAttributeInformation: attributes 0x0000002F, max component 255, "NTFS" (8 bytes).
  b = ResponseWith("2f000000" "ff000000" "08000000" "4e00540046005300");
  auto attr = SummarizeWith([](WireReader buf) -> absl::StatusOr<std::string> {
    absl::StatusOr<FsAttributeInfo> a = DecodeFsAttributeInformation(buf);
    if (!a.ok()) return a.status();
    return absl::StrCat(a->file_system_attributes, "/", a->maximum_component_name_length, "/",
                        a->file_system_name);
  });
  EXPECT_EQ(*attr(WireReader(absl::MakeConstSpan(b))), "47/255/NTFS");
  testing_util::ExpectRobustGolden(b, attr);
  const Corruption cases[] = {{72 + 8, 4, 9}, {72 + 8, 4, 7}, {72 + 8, 4, 0xFFFFFFFF},
                              {68, 4, 11}};
  testing_util::ExpectCorruptionsAreDataLoss(b, attr, cases, "QUERY_INFO response");
}

}  // namespace
}  // namespace smbd
