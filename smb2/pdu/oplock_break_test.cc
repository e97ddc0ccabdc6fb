#include "smb2/pdu/oplock_break.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "smb2/pdu/pdu_test_util.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

using testing_util::FromHex;
using testing_util::ToHex;

// smbclient triggers no oplock or lease break (tests/golden/README.md), so every message here is
// built by hand from [MS-SMB2] 2.2.23-2.2.25. The header is an unsolicited notification's:
// command OPLOCK_BREAK (1200), SERVER_TO_REDIR, MessageId 0xFFFFFFFFFFFFFFFF, SessionId 0.
constexpr char kHeader[] =
    "fe534d424000000000000000120000000100000000000000ffffffffffffffff"
    "0000000000000000000000000000000000000000000000000000000000000000";

// Oplock break notification (2.2.23.1): StructureSize 24 (1800), OplockLevel II (01),
// Reserved (00), Reserved2 (00000000), FileId 0x11 / 0x22.
constexpr char kOplockBody[] = "1800" "01" "00" "00000000" "1100000000000000" "2200000000000000";
// Lease break notification (2.2.23.2): StructureSize 44 (2c00), NewEpoch 2, Flags
// ACK_REQUIRED, LeaseKey 00..0f, CurrentLeaseState RWH (7), NewLeaseState R (1),
// BreakReason 0, AccessMaskHint 0, ShareMaskHint 0.
constexpr char kLeaseBody[] =
    "2c00" "0200" "01000000" "000102030405060708090a0b0c0d0e0f" "07000000" "01000000"
    "00000000" "00000000" "00000000";
// Lease break response (2.2.25.2): StructureSize 36 (2400), Reserved, Flags 0, LeaseKey,
// LeaseState R (1), LeaseDuration 0.
constexpr char kLeaseResponseBody[] =
    "2400" "0000" "00000000" "000102030405060708090a0b0c0d0e0f" "01000000" "0000000000000000";

std::vector<uint8_t> Message(const char* body) {
  return FromHex(absl::StrCat(kHeader, body));
}

absl::StatusOr<std::string> SummarizeNotification(WireReader m) {
  absl::StatusOr<BreakNotification> n = DecodeBreakNotification(m);
  if (!n.ok()) return n.status();
  if (!n->is_lease) {
    return absl::StrCat("oplock ", n->oplock.oplock_level, " ", n->oplock.file_id.persistent, " ",
                        n->oplock.file_id.volatile_id);
  }
  return absl::StrCat("lease ", n->lease.new_epoch, " ", n->lease.flags, " ",
                      ToHex(n->lease.lease_key), " ", n->lease.current_lease_state, "->",
                      n->lease.new_lease_state);
}

absl::StatusOr<std::string> SummarizeResponse(WireReader m) {
  absl::StatusOr<BreakResponse> b = DecodeBreakResponse(m);
  if (!b.ok()) return b.status();
  if (!b->is_lease) return absl::StrCat("oplock ", b->oplock.oplock_level);
  return absl::StrCat("lease ", ToHex(b->lease.lease_key), " ", b->lease.lease_state);
}

TEST(OplockBreakTest, HeaderIsUnsolicited) {
  const std::vector<uint8_t> m = Message(kOplockBody);
  ASSERT_EQ(m.size(), 88u);
  EXPECT_EQ(LoadLE<uint64_t>(&m[24]), kUnsolicitedMessageId);
}

TEST(OplockBreakTest, DecodesNotifications) {
  const std::vector<uint8_t> oplock = Message(kOplockBody);
  auto s = SummarizeNotification(WireReader(absl::MakeConstSpan(oplock)));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "oplock 1 17 34");
  testing_util::ExpectRobustGolden(oplock, SummarizeNotification);

  const std::vector<uint8_t> lease = Message(kLeaseBody);
  s = SummarizeNotification(WireReader(absl::MakeConstSpan(lease)));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "lease 2 1 000102030405060708090a0b0c0d0e0f 7->1");
  testing_util::ExpectRobustGolden(lease, SummarizeNotification);

  const testing_util::Corruption cases[] = {{64, 2, 36}, {64, 2, 0}, {64, 2, 0xFFFF}};
  testing_util::ExpectCorruptionsAreDataLoss(lease, SummarizeNotification, cases,
                                             "OPLOCK_BREAK notification");
  // A lease StructureSize on an oplock-sized body: too short.
  const std::vector<uint8_t> mixed = testing_util::Corrupt(oplock, {64, 2, 44});
  EXPECT_EQ(DecodeBreakNotification(WireReader(absl::MakeConstSpan(mixed))).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(OplockBreakTest, EncodesAcknowledgements) {
  uint8_t buf[64];
  WireWriter w(absl::MakeSpan(buf));
  EncodeOplockBreakAck(OplockBreak{1, FileId{0x11, 0x22}}, &w);
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(ToHex(w.written()), kOplockBody);  // 2.2.24.1 has the notification's layout

  uint8_t buf2[64];
  WireWriter w2(absl::MakeSpan(buf2));
  LeaseBreakAck ack;
  for (int i = 0; i < 16; ++i) ack.lease_key[i] = static_cast<uint8_t>(i);
  ack.lease_state = 1;
  EncodeLeaseBreakAck(ack, &w2);
  ASSERT_TRUE(w2.Finish().ok());
  EXPECT_EQ(ToHex(w2.written()), kLeaseResponseBody);  // 2.2.24.2 = 2.2.25.2 layout
}

TEST(OplockBreakTest, DecodesResponses) {
  const std::vector<uint8_t> lease = Message(kLeaseResponseBody);
  auto s = SummarizeResponse(WireReader(absl::MakeConstSpan(lease)));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "lease 000102030405060708090a0b0c0d0e0f 1");
  testing_util::ExpectRobustGolden(lease, SummarizeResponse);
  const std::vector<uint8_t> oplock = Message(kOplockBody);
  s = SummarizeResponse(WireReader(absl::MakeConstSpan(oplock)));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "oplock 1");
  testing_util::ExpectRobustGolden(oplock, SummarizeResponse);
  const testing_util::Corruption cases[] = {{64, 2, 44}, {64, 2, 9}};
  testing_util::ExpectCorruptionsAreDataLoss(lease, SummarizeResponse, cases,
                                             "OPLOCK_BREAK response");
}

}  // namespace
}  // namespace smbd
