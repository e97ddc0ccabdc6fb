#include "smb2/header.h"

#include "absl/strings/ascii.h"
#include "gtest/gtest.h"
#include "smb2/ntstatus.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

using testing_util::FromHex;

// The SMB2 header of the READ request in the SMB 3.0 encryption test vector: Microsoft Open
// Specifications blog, "Encryption in SMB 3.0: A protocol perspective" (2012), as recorded in
// shared/vectors.md [enc-30] ReadReq_Plaintext (first 64 bytes).
constexpr char kReadRequestHeader[] =
    "FE534D4240000100000000000800400008000000000000000500000000000000"
    "FFFE0000010000001100001400E4080000000000000000000000000000000000";

TEST(HeaderTest, DecodesPublishedHeader) {
  std::vector<uint8_t> bytes = FromHex(kReadRequestHeader);
  WireReader r(absl::MakeConstSpan(bytes));
  auto h = DecodeHeader(&r);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->command, Command::kRead);
  EXPECT_EQ(h->credit_charge, 1);
  EXPECT_EQ(h->credits, 64);
  EXPECT_EQ(h->flags, kFlagSigned);
  EXPECT_EQ(h->message_id, 5u);
  EXPECT_EQ(h->process_id, 0xFEFFu);
  EXPECT_EQ(h->tree_id, 1u);
  EXPECT_EQ(h->session_id, 0x0008E40014000011ull);
  EXPECT_FALSE(h->is_response());
  EXPECT_EQ(r.position(), 64u);
}

TEST(HeaderTest, EncodesByteForByte) {
  Smb2Header h;
  h.credit_charge = 1;
  h.command = Command::kRead;
  h.credits = 64;
  h.flags = kFlagSigned;
  h.message_id = 5;
  h.process_id = 0xFEFF;
  h.tree_id = 1;
  h.session_id = 0x0008E40014000011ull;
  uint8_t out[64];
  WireWriter w(absl::MakeSpan(out));
  EncodeHeader(h, &w);
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(testing_util::ToHex(out), absl::AsciiStrToLower(kReadRequestHeader));
}

TEST(HeaderTest, AsyncFormCarriesAsyncId) {
  Smb2Header h;
  h.command = Command::kChangeNotify;
  h.flags = kFlagServerToRedir | kFlagAsyncCommand;
  h.status = ntstatus::kPending;
  h.async_id = 0x1122334455667788ull;
  uint8_t out[64];
  WireWriter w(absl::MakeSpan(out));
  EncodeHeader(h, &w);
  ASSERT_TRUE(w.Finish().ok());
  WireReader r(absl::MakeConstSpan(out));
  auto d = DecodeHeader(&r);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->is_async());
  EXPECT_EQ(d->async_id, 0x1122334455667788ull);
  EXPECT_EQ(d->status, ntstatus::kPending);
}

TEST(HeaderTest, RejectsMalformedHeaders) {
  std::vector<uint8_t> good = FromHex(kReadRequestHeader);
  auto decode = [](std::vector<uint8_t> b) {
    WireReader r(absl::MakeConstSpan(b));
    return DecodeHeader(&r).status();
  };
  EXPECT_TRUE(decode(good).ok());
  for (size_t len = 0; len < 64; ++len) {
    std::vector<uint8_t> t(good.begin(), good.begin() + len);
    EXPECT_EQ(decode(t).code(), absl::StatusCode::kDataLoss) << len;
  }
  std::vector<uint8_t> b = good;
  b[0] = 0xFD;  // a transform header is not an SMB2 header
  EXPECT_NE(decode(b).message().find("ProtocolId"), absl::string_view::npos);
  b = good;
  b[4] = 65;
  EXPECT_NE(decode(b).message().find("StructureSize 65"), absl::string_view::npos);
  b = good;
  b[12] = 0x13;
  EXPECT_NE(decode(b).message().find("unknown command 19"), absl::string_view::npos);
}

TEST(NtStatusTest, MapsToCodesAndCarriesTheValue) {
  absl::Status s = NtStatusToStatus(ntstatus::kObjectNameNotFound, "CREATE a\\b");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "CREATE a\\b: STATUS_OBJECT_NAME_NOT_FOUND (0xC0000034)");
  EXPECT_EQ(NtStatusOf(s), ntstatus::kObjectNameNotFound);
  EXPECT_EQ(NtStatusToStatus(ntstatus::kAccessDenied, "x").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(NtStatusToStatus(ntstatus::kLogonFailure, "x").code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(NtStatusToStatus(ntstatus::kSuccess, "x").ok());
  EXPECT_TRUE(NtStatusToStatus(ntstatus::kBufferOverflow, "x").ok());  // a warning with data
  EXPECT_EQ(NtStatusToStatus(0xC0FFEE00, "x").code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(NtStatusName(0xC0FFEE00), "NTSTATUS_0xC0FFEE00");
  EXPECT_EQ(NtStatusOf(absl::InternalError("x")), std::nullopt);
}

}  // namespace
}  // namespace smbd
