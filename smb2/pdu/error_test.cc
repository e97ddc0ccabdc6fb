#include "smb2/pdu/error.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "smb2/ntstatus.h"
#include "smb2/pdu/pdu_test_util.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

using testing_util::Corruption;
using testing_util::FromHex;

// ERROR responses captured from Samba 4.17 by tests/golden/capture (run of 2026-11-28):
// 046-rsp-CREATE-smb311-OBJECT_NAME_NOT_FOUND (ByteCount 0 and its one ErrorData byte) and
// 290-rsp-READ-smb210-signed-PENDING (the interim async response: ASYNC flag, AsyncId 0xC).
constexpr char kNotFound[] =
    "fe534d4240000100340000c00500010011000000000000001701000000000000000000005000f6c201c2b58600"
    "00000000000000000000000000000000000000090000000000000000";
constexpr char kPending[] =
    "fe534d4240000000030100000800010003000000000000000c000000000000000c00000000000000f5c0aef800"
    "000000adb90a37630677398db5e9c25f7491bd090000000000000021";

// A symbolic link error response, built by hand from [MS-SMB2] 2.2.2.2.1: SymLinkLength 36
// (24000000), SymLinkErrorTag "SYML" (53594d4c), ReparseTag 0xA000000C (0c0000a0),
// ReparseDataLength 24 (1800), UnparsedPathLength 4 (0400), SubstituteNameOffset 0 (0000),
// SubstituteNameLength 6 (0600), PrintNameOffset 6 (0600), PrintNameLength 6 (0600), Flags
// SYMLINK_FLAG_RELATIVE (01000000), PathBuffer "tgt" "tgt" in UTF-16LE.
constexpr char kSymlinkData[] =
    "24000000" "53594d4c" "0c0000a0" "1800" "0400" "0000" "0600" "0600" "0600" "01000000"
    "740067007400" "740067007400";

// An ERROR message with `status`, ErrorContextCount `count` and ErrorData `data`: the header of
// kNotFound with its Status replaced, then StructureSize 9, count, Reserved, ByteCount.
std::vector<uint8_t> ErrorMessage(uint32_t status, uint8_t count, const std::string& data_hex) {
  std::vector<uint8_t> b = FromHex(kNotFound);
  b.resize(64);
  testing_util::PutU32(&b, 8, status);
  const std::vector<uint8_t> data = FromHex(data_hex);
  const std::vector<uint8_t> body = {9, 0, count, 0,
                                     static_cast<uint8_t>(data.size()),
                                     static_cast<uint8_t>(data.size() >> 8), 0, 0};
  b.insert(b.end(), body.begin(), body.end());
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

absl::StatusOr<std::string> Summarize(WireReader m) {
  absl::StatusOr<ErrorResponse> r = DecodeErrorResponse(m);
  if (!r.ok()) return r.status();
  absl::StatusOr<std::vector<ErrorContext>> c = DecodeErrorContexts(m, *r);
  if (!c.ok()) return c.status();
  std::string s = absl::StrCat(r->error_context_count, "/", r->byte_count);
  for (const ErrorContext& x : *c) {
    absl::StrAppend(&s, "/", x.error_id, "@", x.data_offset, "+", x.data_length);
  }
  return s;
}

absl::StatusOr<std::string> SummarizeSymlink(WireReader m) {
  absl::StatusOr<SymlinkError> s = DecodeSymlinkErrorResponse(m);
  if (!s.ok()) return s.status();
  return absl::StrCat(s->unparsed_path_length, "/", s->substitute_name, "/", s->print_name, "/",
                      s->flags);
}

Smb2Header HeaderOf(const std::vector<uint8_t>& b) {
  WireReader r(absl::MakeConstSpan(b));
  return DecodeHeader(&r).value();
}

TEST(ErrorTest, DecodesCapturedResponses) {
  std::vector<uint8_t> b = FromHex(kNotFound);
  auto e = DecodeErrorResponse(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->error_context_count, 0);
  EXPECT_EQ(e->byte_count, 0u);
  Smb2Header h = HeaderOf(b);
  EXPECT_EQ(h.status, ntstatus::kObjectNameNotFound);
  EXPECT_TRUE(IsErrorResponse(h, 9));
  testing_util::ExpectRobustGolden(b, Summarize);

  b = FromHex(kPending);
  e = DecodeErrorResponse(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(e.ok()) << e.status();
  h = HeaderOf(b);
  EXPECT_TRUE(h.is_async());
  EXPECT_EQ(h.async_id, 0xCu);
  EXPECT_EQ(h.status, ntstatus::kPending);
  EXPECT_TRUE(IsErrorResponse(h, 9));
  testing_util::ExpectRobustGolden(b, Summarize);
}

TEST(ErrorTest, HostileByteCountsAreDataLoss) {
  const std::vector<uint8_t> b = FromHex(kNotFound);
  const Corruption cases[] = {
      {68, 4, 2},           // ByteCount one past the end
      {68, 4, 0xFFFFFFFF},  // all ones
      {66, 1, 1},           // an error context with ByteCount 0
      {64, 2, 8},           // StructureSize
  };
  testing_util::ExpectCorruptionsAreDataLoss(b, Summarize, cases, "ERROR response");
}

TEST(ErrorTest, IsErrorResponseKnowsTheWarningsWithBodies) {
  Smb2Header h;
  h.flags = kFlagServerToRedir;
  h.command = Command::kSessionSetup;
  h.status = ntstatus::kMoreProcessingRequired;
  EXPECT_FALSE(IsErrorResponse(h, 9));
  h.status = ntstatus::kLogonFailure;
  EXPECT_TRUE(IsErrorResponse(h, 9));
  h.status = ntstatus::kSuccess;
  EXPECT_FALSE(IsErrorResponse(h, 9));
  h.command = Command::kQueryInfo;
  h.status = ntstatus::kBufferOverflow;
  EXPECT_FALSE(IsErrorResponse(h, 9));
  h.status = ntstatus::kBufferTooSmall;
  EXPECT_TRUE(IsErrorResponse(h, 9));
  h.command = Command::kRead;
  h.status = ntstatus::kBufferOverflow;
  EXPECT_FALSE(IsErrorResponse(h, 17));
  EXPECT_TRUE(IsErrorResponse(h, 9));
  h.status = ntstatus::kEndOfFile;
  EXPECT_TRUE(IsErrorResponse(h, 9));
  h.command = Command::kIoctl;
  h.status = ntstatus::kInvalidParameter;
  EXPECT_FALSE(IsErrorResponse(h, 49));  // e.g. COPYCHUNK limits
  EXPECT_TRUE(IsErrorResponse(h, 9));
  h.command = Command::kCreate;
  h.status = ntstatus::kStoppedOnSymlink;  // a warning, but an ERROR body
  EXPECT_TRUE(IsErrorResponse(h, 9));
  h.status = ntstatus::kPending;
  h.flags |= kFlagAsyncCommand;
  EXPECT_TRUE(IsErrorResponse(h, 9));
}

TEST(ErrorTest, DecodesSymlinkErrorResponse) {
  // Before 3.1.1: the ErrorData is the symbolic link error response.
  const std::vector<uint8_t> plain = ErrorMessage(ntstatus::kStoppedOnSymlink, 0, kSymlinkData);
  ASSERT_EQ(plain.size(), 72u + 40u);
  auto s = DecodeSymlinkErrorResponse(WireReader(absl::MakeConstSpan(plain)));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->unparsed_path_length, 4u);
  EXPECT_EQ(s->substitute_name, "tgt");
  EXPECT_EQ(s->print_name, "tgt");
  EXPECT_EQ(s->flags, kSymlinkFlagRelative);
  testing_util::ExpectRobustGolden(plain, SummarizeSymlink);
  const size_t d = 72;  // ErrorData
  const Corruption cases[] = {
      {68, 4, 41},           // ByteCount one past the end
      {d, 4, 37},            // SymLinkLength one past the error data
      {d, 4, 23},            // SymLinkLength shorter than the fixed part
      {d, 4, 0xFFFFFFFF},
      {d + 4, 4, 0},         // SymLinkErrorTag
      {d + 8, 4, 0xA0000003},  // ReparseTag (a mount point)
      {d + 16, 2, 7},        // SubstituteNameOffset: name past PathBuffer
      {d + 18, 2, 14},       // SubstituteNameLength past PathBuffer
      {d + 18, 2, 0xFFFF},
      {d + 20, 2, 0xFFFF},   // PrintNameOffset
      {d + 22, 2, 8},        // PrintNameLength past PathBuffer
      {d + 18, 2, 5},        // odd UTF-16 length
  };
  testing_util::ExpectCorruptionsAreDataLoss(plain, SummarizeSymlink, cases, "ERROR response");

  // 3.1.1: one ErrorId 0 context (ErrorDataLength 40) holding it.
  const std::vector<uint8_t> ctx = ErrorMessage(
      ntstatus::kStoppedOnSymlink, 1, absl::StrCat("28000000", "00000000", kSymlinkData));
  s = DecodeSymlinkErrorResponse(WireReader(absl::MakeConstSpan(ctx)));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->substitute_name, "tgt");
  testing_util::ExpectRobustGolden(ctx, SummarizeSymlink);
  const Corruption ctx_cases[] = {
      {72, 4, 41},          // ErrorDataLength past ByteCount
      {72, 4, 0xFFFFFFFF},
      {66, 1, 2},           // a second context past ByteCount
      {76, 4, kErrorIdShareRedirect},  // no ErrorId 0 context
  };
  testing_util::ExpectCorruptionsAreDataLoss(ctx, SummarizeSymlink, ctx_cases, "ERROR response");
}

TEST(ErrorTest, DecodesErrorContextList) {
  // Built by hand from [MS-SMB2] 2.2.2.1: two contexts, the first with 3 data bytes and padding
  // to 8, the second a share redirect id with 4 bytes.
  const std::vector<uint8_t> b = ErrorMessage(
      ntstatus::kBadNetworkName, 2,
      absl::StrCat("03000000", "00000000", "aabbcc", "00000000" "00", "04000000", "53526472",
                   "01020304"));
  auto s = Summarize(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, absl::StrCat("2/28/0@80+3/", kErrorIdShareRedirect, "@96+4"));
  testing_util::ExpectRobustGolden(b, Summarize);
}

TEST(ErrorTest, DecodesBufferTooSmall) {
  // [MS-SMB2] 2.2.2.2: STATUS_BUFFER_TOO_SMALL carries the required size in 4 bytes.
  const std::vector<uint8_t> b = ErrorMessage(ntstatus::kBufferTooSmall, 0, "00100000");
  auto n = DecodeBufferTooSmallResponse(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0x1000u);
  const std::vector<uint8_t> ctx =
      ErrorMessage(ntstatus::kBufferTooSmall, 1, "04000000" "00000000" "00200000");
  n = DecodeBufferTooSmallResponse(WireReader(absl::MakeConstSpan(ctx)));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0x2000u);
  const std::vector<uint8_t> wrong = ErrorMessage(ntstatus::kBufferTooSmall, 0, "001000");
  EXPECT_EQ(DecodeBufferTooSmallResponse(WireReader(absl::MakeConstSpan(wrong))).status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace smbd
