#include "smbdirect/verbs.h"

#include <cstdint>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smbd {
namespace {

using ::testing::HasSubstr;

RdmaDeviceLimits RxeLimits() {
  RdmaDeviceLimits l;
  l.device_name = "rxe0";
  l.max_qp_wr = 16384;
  l.max_cqe = 32767;
  l.max_send_sge = 32;
  l.max_recv_sge = 32;
  l.max_mr_size = uint64_t{1} << 32;
  l.max_pages_per_registration = 512;
  return l;
}

TEST(SizeQueuesTest, DefaultsOnRxe) {
  auto q = SizeQueues(255, 255, 0, RxeLimits());
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->send_credits, 255u);
  EXPECT_EQ(q->receive_credits, 255u);
  EXPECT_EQ(q->send_wr, 256u);  // + 1 for the drain
  EXPECT_EQ(q->recv_wr, 255u);
  EXPECT_EQ(q->send_cqe, 256u);
  EXPECT_EQ(q->recv_cqe, 255u);
  EXPECT_EQ(q->send_sge, kDefaultSendSge);
  EXPECT_EQ(q->recv_sge, kDefaultRecvSge);
  EXPECT_EQ(q->registration_wrs, 0u);
}

TEST(SizeQueuesTest, RegistrationWorkRequestsGoOnTheSendQueue) {
  auto q = SizeQueues(100, 50, 16, RxeLimits());
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->send_wr, 100u + 16 + 1);
  EXPECT_EQ(q->send_cqe, q->send_wr);
  EXPECT_EQ(q->recv_wr, 50u);
  EXPECT_EQ(q->registration_wrs, 16u);
}

TEST(SizeQueuesTest, CreditsAreClampedToMaxQpWr) {
  RdmaDeviceLimits l = RxeLimits();
  l.max_qp_wr = 64;
  auto q = SizeQueues(255, 255, 8, l);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->send_wr, 64u);
  EXPECT_EQ(q->send_credits, 64u - 8 - 1);
  EXPECT_EQ(q->recv_wr, 64u);
  EXPECT_EQ(q->receive_credits, 64u);
}

TEST(SizeQueuesTest, CreditsAreClampedToMaxCqe) {
  RdmaDeviceLimits l = RxeLimits();
  l.max_cqe = 100;
  auto q = SizeQueues(255, 255, 4, l);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->send_cqe, 100u);
  EXPECT_EQ(q->send_wr, 100u);
  EXPECT_EQ(q->send_credits, 95u);
  EXPECT_EQ(q->recv_cqe, 100u);
  EXPECT_LE(q->recv_wr, q->recv_cqe);
}

TEST(SizeQueuesTest, SgeCountsFollowTheDevice) {
  RdmaDeviceLimits l = RxeLimits();
  l.max_send_sge = 1;  // a soft provider
  l.max_recv_sge = 2;
  auto q = SizeQueues(16, 16, 0, l, /*wanted_send_sge=*/16, /*wanted_recv_sge=*/4);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->send_sge, 1u);
  EXPECT_EQ(q->recv_sge, 2u);
  auto fewer = SizeQueues(16, 16, 0, RxeLimits(), 3, 1);
  ASSERT_TRUE(fewer.ok());
  EXPECT_EQ(fewer->send_sge, 3u);
}

TEST(SizeQueuesTest, ExactMinimumFits) {
  RdmaDeviceLimits l = RxeLimits();
  l.max_qp_wr = 12;  // 1 credit + 10 registration + 1 drain
  auto q = SizeQueues(255, 255, 10, l);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->send_credits, 1u);
  EXPECT_EQ(q->send_wr, 12u);
}

TEST(SizeQueuesTest, DeviceTooSmallIsAClearError) {
  RdmaDeviceLimits l = RxeLimits();
  l.max_qp_wr = 11;
  auto q = SizeQueues(255, 255, 10, l);
  EXPECT_EQ(q.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(q.status().message()), HasSubstr("rxe0"));
  EXPECT_THAT(std::string(q.status().message()), HasSubstr("at least 12"));
}

TEST(SizeQueuesTest, HugeRegistrationCountDoesNotOverflow) {
  auto q = SizeQueues(1, 1, UINT32_MAX, RxeLimits());
  EXPECT_EQ(q.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(SizeQueuesTest, BadArguments) {
  EXPECT_EQ(SizeQueues(0, 1, 0, RxeLimits()).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SizeQueues(1, 0, 0, RxeLimits()).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SizeQueues(1, 1, 0, RxeLimits(), 0, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  RdmaDeviceLimits none = RxeLimits();
  none.max_recv_sge = 0;
  EXPECT_EQ(SizeQueues(1, 1, 0, none).status().code(), absl::StatusCode::kFailedPrecondition);
  RdmaDeviceLimits empty;  // a device that reports nothing
  EXPECT_FALSE(SizeQueues(1, 1, 0, empty).ok());
}

TEST(CompletionErrorTest, NamesTheWork) {
  WorkCompletion wc;
  wc.wr_id = 0x1234;
  EXPECT_TRUE(CompletionError(wc).ok());
  wc.status = WcStatus::kFlushed;
  wc.opcode = WcOpcode::kRecv;
  absl::Status flushed = CompletionError(wc);
  EXPECT_EQ(flushed.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(flushed.message()), HasSubstr("receive"));
  EXPECT_THAT(std::string(flushed.message()), HasSubstr("0x1234"));
  wc.status = WcStatus::kRemoteAccess;
  wc.opcode = WcOpcode::kRdmaWrite;
  wc.vendor_err = 0x81;
  absl::Status access = CompletionError(wc);
  EXPECT_EQ(access.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(access.message()), HasSubstr("REM_ACCESS_ERR"));
  EXPECT_THAT(std::string(access.message()), HasSubstr("vendor error 0x81"));
}

TEST(NamesTest, EveryStatusAndOpcodeHasItsOwnName) {
  std::set<std::string> names;
  for (int i = 0; i <= static_cast<int>(WcStatus::kOther); ++i) {
    names.insert(WcStatusName(static_cast<WcStatus>(i)));
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(WcStatus::kOther) + 1);
  names.clear();
  for (int i = 0; i <= static_cast<int>(WcOpcode::kBindWindow); ++i) {
    names.insert(WcOpcodeName(static_cast<WcOpcode>(i)));
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(WcOpcode::kBindWindow) + 1);
}

TEST(MemoryAccessTest, Bits) {
  const MemoryAccess a = MemoryAccess::kLocalWrite | MemoryAccess::kRemoteRead;
  EXPECT_TRUE(HasAccess(a, MemoryAccess::kLocalWrite));
  EXPECT_TRUE(HasAccess(a, MemoryAccess::kRemoteRead));
  EXPECT_FALSE(HasAccess(a, MemoryAccess::kRemoteWrite));
  EXPECT_FALSE(HasAccess(a, MemoryAccess::kRemoteWrite | MemoryAccess::kLocalWrite));
  EXPECT_TRUE(HasAccess(a, MemoryAccess::kNone));
}

TEST(PortTest, IwarpUses5445) {
  EXPECT_EQ(SmbDirectPortFor(false), 445);
  EXPECT_EQ(SmbDirectPortFor(true), 5445);
}

}  // namespace
}  // namespace smbd
