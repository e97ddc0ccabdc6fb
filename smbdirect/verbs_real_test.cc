// Tests of the rdma-core implementation that need no RDMA device: the pure translations, and
// clear errors when there is no device (the build machines' kernels have no RDMA). The real
// data path is exercised in the soft-RoCE guest of the test bed.
#include "smbdirect/verbs_real.h"

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smbd {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using verbs_internal::AccessFlags;
using verbs_internal::CmEventStatus;
using verbs_internal::ErrnoStatus;
using verbs_internal::PagesPerRegistration;
using verbs_internal::TranslateCompletion;
using verbs_internal::TranslateWcStatus;

TEST(TranslateWcStatusTest, EveryStatusTheTransportDistinguishes) {
  EXPECT_EQ(TranslateWcStatus(IBV_WC_SUCCESS), WcStatus::kSuccess);
  EXPECT_EQ(TranslateWcStatus(IBV_WC_WR_FLUSH_ERR), WcStatus::kFlushed);
  EXPECT_EQ(TranslateWcStatus(IBV_WC_LOC_LEN_ERR), WcStatus::kLocalLength);
  EXPECT_EQ(TranslateWcStatus(IBV_WC_LOC_PROT_ERR), WcStatus::kLocalProtection);
  EXPECT_EQ(TranslateWcStatus(IBV_WC_REM_ACCESS_ERR), WcStatus::kRemoteAccess);
  EXPECT_EQ(TranslateWcStatus(IBV_WC_REM_INV_REQ_ERR), WcStatus::kRemoteInvalidRequest);
  EXPECT_EQ(TranslateWcStatus(IBV_WC_REM_OP_ERR), WcStatus::kRemoteOperation);
  EXPECT_EQ(TranslateWcStatus(IBV_WC_RETRY_EXC_ERR), WcStatus::kRetryExceeded);
  EXPECT_EQ(TranslateWcStatus(IBV_WC_RNR_RETRY_EXC_ERR), WcStatus::kRnrRetryExceeded);
  EXPECT_EQ(TranslateWcStatus(IBV_WC_MW_BIND_ERR), WcStatus::kOther);
  EXPECT_EQ(TranslateWcStatus(IBV_WC_GENERAL_ERR), WcStatus::kOther);
}

TEST(TranslateCompletionTest, ReceiveWithInvalidateStandardFlag) {
  WorkCompletion wc = TranslateCompletion(7, IBV_WC_SUCCESS, IBV_WC_RECV, true, 120,
                                          IBV_WC_WITH_INV, 0xabcd, 0);
  EXPECT_EQ(wc.wr_id, 7u);
  EXPECT_EQ(wc.status, WcStatus::kSuccess);
  EXPECT_EQ(wc.opcode, WcOpcode::kRecv);
  EXPECT_EQ(wc.byte_len, 120u);
  EXPECT_TRUE(wc.with_invalidate);
  EXPECT_EQ(wc.invalidated_rkey, 0xabcdu);
}

TEST(TranslateCompletionTest, ReceiveWithInvalidateRxeBit) {
  ASSERT_NE(IBV_WC_WITH_INV, 0x4);
  WorkCompletion wc = TranslateCompletion(7, IBV_WC_SUCCESS, IBV_WC_RECV, true, 24, 0x4, 0x1234, 0);
  EXPECT_TRUE(wc.with_invalidate);
  EXPECT_EQ(wc.invalidated_rkey, 0x1234u);
}

TEST(TranslateCompletionTest, PlainReceiveHasNoInvalidation) {
  WorkCompletion wc = TranslateCompletion(1, IBV_WC_SUCCESS, IBV_WC_RECV, true, 24, 0, 0x999, 0);
  EXPECT_FALSE(wc.with_invalidate);
  EXPECT_EQ(wc.invalidated_rkey, 0u);  // the union holds garbage without the flag
}

TEST(TranslateCompletionTest, SendQueueOpcodes) {
  EXPECT_EQ(TranslateCompletion(1, IBV_WC_SUCCESS, IBV_WC_SEND, false, 0, 0, 0, 0).opcode,
            WcOpcode::kSend);
  EXPECT_EQ(TranslateCompletion(1, IBV_WC_SUCCESS, IBV_WC_RDMA_WRITE, false, 0, 0, 0, 0).opcode,
            WcOpcode::kRdmaWrite);
  EXPECT_EQ(TranslateCompletion(1, IBV_WC_SUCCESS, IBV_WC_RDMA_READ, false, 0, 0, 0, 0).opcode,
            WcOpcode::kRdmaRead);
  EXPECT_EQ(TranslateCompletion(1, IBV_WC_SUCCESS, IBV_WC_LOCAL_INV, false, 0, 0, 0, 0).opcode,
            WcOpcode::kLocalInvalidate);
  EXPECT_EQ(TranslateCompletion(1, IBV_WC_SUCCESS, IBV_WC_BIND_MW, false, 0, 0, 0, 0).opcode,
            WcOpcode::kBindWindow);
  // A send completion never reports an invalidation, whatever the flags.
  EXPECT_FALSE(
      TranslateCompletion(1, IBV_WC_SUCCESS, IBV_WC_SEND, false, 0, IBV_WC_WITH_INV, 5, 0)
          .with_invalidate);
}

TEST(TranslateCompletionTest, FailedCompletionOpcodeComesFromTheQueue) {
  // The opcode field of a failed completion is undefined: pass garbage.
  WorkCompletion recv = TranslateCompletion(3, IBV_WC_WR_FLUSH_ERR, IBV_WC_RDMA_WRITE, true, 77,
                                            IBV_WC_WITH_INV, 1, 0x42);
  EXPECT_EQ(recv.opcode, WcOpcode::kRecv);
  EXPECT_EQ(recv.status, WcStatus::kFlushed);
  EXPECT_EQ(recv.byte_len, 0u);
  EXPECT_FALSE(recv.with_invalidate);
  EXPECT_EQ(recv.vendor_err, 0x42u);
  WorkCompletion send =
      TranslateCompletion(4, IBV_WC_REM_ACCESS_ERR, IBV_WC_RECV, false, 0, 0, 0, 0);
  EXPECT_EQ(send.opcode, WcOpcode::kSend);
  EXPECT_EQ(send.status, WcStatus::kRemoteAccess);
}

TEST(AccessFlagsTest, PoolSlabsGetLocalWriteOnly) {
  EXPECT_EQ(AccessFlags(MemoryAccess::kLocalWrite, false), IBV_ACCESS_LOCAL_WRITE);
}

TEST(AccessFlagsTest, ReadDestinationIsRemotelyWritable) {
  EXPECT_EQ(AccessFlags(MemoryAccess::kRemoteWrite, false),
            IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_LOCAL_WRITE);
}

TEST(AccessFlagsTest, WriteSourceIsRemotelyReadableOnly) {
  EXPECT_EQ(AccessFlags(MemoryAccess::kRemoteRead, false), IBV_ACCESS_REMOTE_READ);
  EXPECT_EQ(AccessFlags(MemoryAccess::kRemoteRead, true),
            IBV_ACCESS_REMOTE_READ | IBV_ACCESS_MW_BIND);
  EXPECT_EQ(AccessFlags(MemoryAccess::kNone, false), 0);
}

TEST(ErrnoStatusTest, Codes) {
  EXPECT_EQ(ErrnoStatus(ENOMEM, "ibv_post_send").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoStatus(EINVAL, "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrnoStatus(ENODEV, "x").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrnoStatus(ETIMEDOUT, "x").code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(ErrnoStatus(EHOSTUNREACH, "x").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrnoStatus(EIO, "x").code(), absl::StatusCode::kInternal);
  absl::Status s = ErrnoStatus(ENOMEM, "ibv_reg_mr of 4096 bytes");
  EXPECT_THAT(std::string(s.message()), HasSubstr("ibv_reg_mr of 4096 bytes"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("errno 12"));
}

TEST(CmEventStatusTest, RefusedUnreachableTimedOut) {
  absl::Status refused = CmEventStatus(RDMA_CM_EVENT_REJECTED, 8, "connect", "10.0.0.2:445");
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("refused"));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("10.0.0.2:445"));
  absl::Status addr = CmEventStatus(RDMA_CM_EVENT_ADDR_ERROR, -ENETUNREACH,
                                    "address resolution", "10.0.0.2:445");
  EXPECT_EQ(addr.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(addr.message()), HasSubstr("unreachable"));
  absl::Status route =
      CmEventStatus(RDMA_CM_EVENT_ROUTE_ERROR, -EHOSTUNREACH, "route resolution", "h:445");
  EXPECT_THAT(std::string(route.message()), HasSubstr("unreachable"));
  absl::Status unreachable = CmEventStatus(RDMA_CM_EVENT_UNREACHABLE, 0, "connect", "h:445");
  EXPECT_EQ(unreachable.code(), absl::StatusCode::kUnavailable);
  absl::Status timed_out =
      CmEventStatus(RDMA_CM_EVENT_ADDR_ERROR, -ETIMEDOUT, "address resolution", "h:445");
  EXPECT_EQ(timed_out.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(timed_out.message()), HasSubstr("timed out"));
  EXPECT_EQ(CmEventStatus(RDMA_CM_EVENT_MULTICAST_JOIN, 0, "connect", "h:445").code(),
            absl::StatusCode::kInternal);
}

TEST(PagesPerRegistrationTest, SoftProvidersAndOthers) {
  EXPECT_EQ(PagesPerRegistration("rxe0", uint64_t{1} << 40), 512u);
  EXPECT_EQ(PagesPerRegistration("siw_eth0", uint64_t{1} << 40), 512u);
  EXPECT_EQ(PagesPerRegistration("mlx5_0", uint64_t{1} << 40), 2048u);
  EXPECT_EQ(PagesPerRegistration("tiny0", 8192), 2u);
  EXPECT_EQ(PagesPerRegistration("odd0", 100), 1u);
}

// --- Against this machine, which may have no RDMA at all ---

TEST(VerbsConnectorTest, ListingDevicesNeverFails) {
  auto devices = ListRdmaDevices();
  ASSERT_TRUE(devices.ok()) << devices.status();
  for (const RdmaDeviceInfo& d : *devices) EXPECT_FALSE(d.name.empty());
}

TEST(VerbsConnectorTest, ConnectWithoutAServerFailsClearlyAndPromptly) {
  auto devices = ListRdmaDevices();
  ASSERT_TRUE(devices.ok());
  ConnectOptions options;
  options.host = "127.0.0.1";
  options.port = 1;  // nothing listens there over RDMA
  options.resolve_address_timeout = absl::Seconds(2);
  options.resolve_route_timeout = absl::Seconds(2);
  options.connect_timeout = absl::Seconds(3);
  const absl::Time start = absl::Now();
  auto endpoint = NewVerbsConnector()->Connect(options);
  const absl::Duration took = absl::Now() - start;
  ASSERT_FALSE(endpoint.ok());
  EXPECT_LT(took, absl::Seconds(10));
  EXPECT_THAT(endpoint.status().code(),
              AnyOf(absl::StatusCode::kNotFound, absl::StatusCode::kUnavailable,
                    absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(std::string(endpoint.status().message()), HasSubstr("RDMA"));
  if (devices->empty()) {
    EXPECT_EQ(endpoint.status().code(), absl::StatusCode::kNotFound);
    EXPECT_THAT(std::string(endpoint.status().message()), HasSubstr("no RDMA device"));
  }
}

TEST(VerbsConnectorTest, MissingNamedDeviceIsNotFound) {
  ConnectOptions options;
  options.host = "127.0.0.1";
  options.device = "nosuchdev0";
  auto endpoint = NewVerbsConnector()->Connect(options);
  EXPECT_EQ(endpoint.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(endpoint.status().message()), HasSubstr("nosuchdev0"));
  EXPECT_EQ(IsIwarpDevice("nosuchdev0").status().code(), absl::StatusCode::kNotFound);
}

TEST(VerbsConnectorTest, EmptyHostIsRejected) {
  EXPECT_EQ(NewVerbsConnector()->Connect(ConnectOptions()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace smbd

namespace smbd {
namespace {

// Registered memory stays correct across fork(2): the kernel copies pinned pages (5.13 and
// later, where rdma-core says so) or rdma-core keeps them out of children (ibv_fork_init).
TEST(ForkSafetyTest, RegisteredMemoryIsProtectedAcrossFork) {
  const ForkSafety f = EnsureForkSafety();
  EXPECT_NE(f, ForkSafety::kUnprotected);
  EXPECT_EQ(EnsureForkSafety(), f) << "decided once per process";
  std::printf("fork safety: %s\n", f == ForkSafety::kKernelCopiesPinnedPages
                                       ? "the kernel copies pinned pages"
                                       : "ibv_fork_init (MADV_DONTFORK)");
}

}  // namespace
}  // namespace smbd
