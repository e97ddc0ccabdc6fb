#include "smb2/pdu/lock.h"

#include "gtest/gtest.h"
#include "smb2/pdu/pdu_test_util.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

using testing_util::FromHex;
using testing_util::ToHex;

// Built by hand from [MS-SMB2] 2.2.26 (smbclient's captures in tests/golden have no LOCK).
// StructureSize 48 (3000), LockCount 2 (0200), LockSequence: number 5 in the low 4 bits, index
// 3 above them = 0x35 (35000000), FileId persistent 0x1122334455667788 / volatile
// 0x99AABBCCDDEEFF00, then two SMB2_LOCK_ELEMENTs: offset 0x1000, length 0x200, EXCLUSIVE |
// FAIL_IMMEDIATELY (0x12); offset 0, length 2^64-1, SHARED | FAIL_IMMEDIATELY (0x11). (Several
// locks in one request must all fail immediately, [MS-SMB2] 3.3.5.14.)
constexpr char kRequestBody[] =
    "3000" "0200" "35000000" "8877665544332211" "00ffeeddccbbaa99"
    "0010000000000000" "0002000000000000" "12000000" "00000000"
    "0000000000000000" "ffffffffffffffff" "11000000" "00000000";
// Response: SMB2 header (command LOCK 0x000A, SERVER_TO_REDIR, MessageId 9, TreeId 1), then
// StructureSize 4 (0400), Reserved (0000).
constexpr char kResponse[] =
    "fe534d4240000100000000000a00010001000000000000000900000000000000"
    "000000000100000000000000000000000000000000000000000000000000000004000000";

TEST(LockTest, EncodesRequest) {
  const LockElement locks[] = {
      {0x1000, 0x200, kLockFlagExclusive | kLockFlagFailImmediately},
      {0, ~uint64_t{0}, kLockFlagShared | kLockFlagFailImmediately},
  };
  LockRequest req;
  req.lock_sequence_number = 5;
  req.lock_sequence_index = 3;
  req.file_id = FileId{0x1122334455667788ull, 0x99AABBCCDDEEFF00ull};
  req.locks = locks;
  uint8_t buf[128];
  WireWriter w(absl::MakeSpan(buf));
  ASSERT_TRUE(EncodeLockRequest(req, &w).ok());
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(ToHex(w.written()), ToHex(FromHex(kRequestBody)));
}

TEST(LockTest, RefusesWhatTheSpecForbids) {
  const auto encode = [](std::vector<LockElement> locks) {
    LockRequest req;
    req.locks = locks;
    uint8_t buf[256];
    WireWriter w(absl::MakeSpan(buf));
    return EncodeLockRequest(req, &w);
  };
  EXPECT_TRUE(encode({{0, 1, kLockFlagUnlock}}).ok());
  EXPECT_TRUE(encode({{0, 1, kLockFlagShared | kLockFlagFailImmediately}}).ok());
  EXPECT_TRUE(encode({{~uint64_t{0}, 1, kLockFlagShared}}).ok());  // the last byte
  EXPECT_TRUE(absl::IsInvalidArgument(encode({})));
  EXPECT_TRUE(absl::IsInvalidArgument(encode({{0, 1, 0}})));
  EXPECT_TRUE(absl::IsInvalidArgument(encode({{0, 1, kLockFlagShared | kLockFlagExclusive}})));
  EXPECT_TRUE(absl::IsInvalidArgument(encode({{0, 1, kLockFlagUnlock | kLockFlagShared}})));
  EXPECT_TRUE(absl::IsInvalidArgument(encode({{0, 1, kLockFlagUnlock | kLockFlagFailImmediately}})));
  EXPECT_TRUE(absl::IsInvalidArgument(encode({{0, 1, kLockFlagShared | 0x100}})));
  EXPECT_TRUE(absl::IsInvalidArgument(encode({{~uint64_t{0}, 2, kLockFlagShared}})));
  // Several elements: all unlocks, or all fail-immediately locks ([MS-SMB2] 3.3.5.14).
  const uint32_t x_now = kLockFlagExclusive | kLockFlagFailImmediately;
  EXPECT_TRUE(encode({{0, 1, kLockFlagUnlock}, {5, 1, kLockFlagUnlock}}).ok());
  EXPECT_TRUE(encode({{0, 1, x_now}, {5, 1, kLockFlagShared | kLockFlagFailImmediately}}).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(encode({{0, 1, kLockFlagUnlock}, {5, 1, x_now}})));
  EXPECT_TRUE(absl::IsInvalidArgument(encode({{0, 1, x_now}, {5, 1, kLockFlagExclusive}})));
}

TEST(LockTest, SequenceFieldsMustFitTheirBits) {
  const LockElement one[] = {{0, 1, kLockFlagUnlock}};
  LockRequest req;
  req.locks = one;
  uint8_t buf[128];
  req.lock_sequence_number = 16;
  WireWriter w(absl::MakeSpan(buf));
  EXPECT_TRUE(absl::IsInvalidArgument(EncodeLockRequest(req, &w)));
  req.lock_sequence_number = 15;
  req.lock_sequence_index = 1u << 28;
  WireWriter w2(absl::MakeSpan(buf));
  EXPECT_TRUE(absl::IsInvalidArgument(EncodeLockRequest(req, &w2)));
}

TEST(LockTest, DecodesResponse) {
  const std::vector<uint8_t> b = FromHex(kResponse);
  ASSERT_EQ(b.size(), 68u);
  EXPECT_TRUE(DecodeLockResponse(WireReader(absl::MakeConstSpan(b))).ok());
  testing_util::ExpectRobustGolden(b, [](WireReader m) -> absl::StatusOr<std::string> {
    absl::Status s = DecodeLockResponse(m);
    if (!s.ok()) return s;
    return std::string("ok");
  });
  const std::vector<uint8_t> c = testing_util::Corrupt(b, {64, 2, 24});
  EXPECT_EQ(DecodeLockResponse(WireReader(absl::MakeConstSpan(c))).code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace smbd
