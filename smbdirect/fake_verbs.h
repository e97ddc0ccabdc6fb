// FakeRdmaNetwork: an in-process RDMA network for tests (testonly). It implements the verbs seam
// (RdmaConnector, RdmaEndpoint, MemoryRegion, MemoryWindow) with reliable-connection semantics
// and really moves bytes:
//
// - SEND consumes the peer's oldest posted receive and scatters the gathered bytes into it;
//   with no receive posted the send waits at the head of its queue (receiver-not-ready with
//   rnr_retry 7) or fails with kRnrRetryExceeded after a configured number of tries. A send
//   larger than the receive fails both sides (kLocalLength at the receiver, kRemoteInvalidRequest
//   at the sender). The send queue executes in order, as RC does.
// - RDMA WRITE/READ reach the peer's memory through {remote addr, rkey}: the rkey must be live,
//   belong to the peer's protection domain, carry the right access, and cover the range;
//   otherwise the initiator completes with kRemoteAccess and the connection breaks.
// - SEND_WITH_INVALIDATE invalidates a memory window's rkey at the receiver and reports it in
//   the receive completion; naming a plain region's rkey fails the receiver's queue pair with
//   kRemoteInvalidRequest while the sender sees success (rxe, kernel 6.1).
// - Every local SGE is checked against the registered regions of its own endpoint (lkey, range,
//   local-write for receive and RDMA READ targets): kLocalProtection otherwise.
// - A queue pair that leaves the connected state completes every outstanding work request with
//   kFlushed (signaled or not) and refuses new posts. Work toward a broken peer completes with
//   kRetryExceeded.
// - Send-queue slots are freed when a later completion of that queue is polled, as on hardware,
//   so a transport that only posts unsignaled sends runs out of slots here too.
//
// Fault injection (on the endpoints created as clients, by default): fail the Nth operation,
// turn the next completion into an error, shorten the next receive, fail the next connect, and
// disconnect from any thread. Counters of live regions, windows, endpoints and outstanding work
// requests serve leak checks.
//
// Everything is serialized by one mutex per network; completions wake waiters through condition
// variables.
#ifndef SMBD_SMBDIRECT_FAKE_VERBS_H_
#define SMBD_SMBDIRECT_FAKE_VERBS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "smbdirect/verbs.h"

namespace smbd {

namespace fake_verbs_internal {
struct NetState;
}  // namespace fake_verbs_internal

// Limits like rxe's (rdma-core 44 / kernel 6.1), with a fake name.
RdmaDeviceLimits FakeDeviceLimits();

// The verbs operations the fault injector counts.
enum class FakeOp {
  kConnect,
  kRegisterMemory,
  kAllocateWindow,
  kPostSend,
  kPostRecv,
  kPostRdmaWrite,
  kPostRdmaRead,
  kPostBindWindow,
  kPostLocalInvalidate,
};
const char* FakeOpName(FakeOp op);

// Which endpoints faults apply to.
enum class FaultSide { kClient, kPeer, kBoth };

struct FakeNetworkOptions {
  RdmaDeviceLimits client_limits = FakeDeviceLimits();
  RdmaDeviceLimits peer_limits = FakeDeviceLimits();
  // Queue sizing of the peer end made by Connect (the client end follows ConnectOptions).
  uint32_t peer_send_credits = 255;
  uint32_t peer_receive_credits = 255;
  uint32_t peer_registration_wrs = 0;
  // rnr_retry_count of the senders: 7 waits for a receive forever (as rdma_cm's 7 means); 0..6
  // fail a send with kRnrRetryExceeded once it found no receive that many times plus one (a try
  // happens at every operation on the network).
  int rnr_retry_count = 7;
  // true: a window's rkey reaches only the window's range. false: the whole underlying region,
  // as measured on rxe.
  bool windows_enforce_range = true;
  FaultSide fault_side = FaultSide::kClient;
  std::string peer_address = "192.0.2.1:445";
};

// One endpoint of the fake network. Beyond RdmaEndpoint it tells which side it is.
class FakeRdmaEndpoint : public RdmaEndpoint {
 public:
  ~FakeRdmaEndpoint() override;

  absl::Status PostSend(uint64_t wr_id, absl::Span<const Sge> sges, bool signaled,
                        std::optional<uint32_t> invalidate_rkey = std::nullopt) override;
  absl::Status PostRecv(uint64_t wr_id, absl::Span<const Sge> sges) override;
  absl::Status PostRdmaWrite(uint64_t wr_id, absl::Span<const Sge> local, uint64_t remote_addr,
                             uint32_t rkey, bool signaled) override;
  absl::Status PostRdmaRead(uint64_t wr_id, absl::Span<const Sge> local, uint64_t remote_addr,
                            uint32_t rkey, bool signaled) override;
  int PollCompletions(absl::Span<WorkCompletion> out) override;
  absl::Status WaitForCompletions(absl::Duration timeout) override;
  absl::StatusOr<std::unique_ptr<MemoryRegion>> RegisterMemory(void* addr, size_t length,
                                                               MemoryAccess access) override;
  absl::StatusOr<std::unique_ptr<MemoryWindow>> AllocateWindow() override;
  absl::Status PostBindWindow(uint64_t wr_id, MemoryWindow* window, const MemoryRegion& region,
                              const void* addr, size_t length, MemoryAccess access,
                              bool signaled) override;
  absl::Status PostLocalInvalidate(uint64_t wr_id, uint32_t rkey, bool signaled) override;
  absl::Status error() const override;
  const RdmaDeviceLimits& limits() const override { return limits_; }
  const QueueSizes& queue_sizes() const override { return sizes_; }
  std::string peer_address() const override { return peer_address_; }

  bool is_client() const { return is_client_; }
  // Work requests posted here and not yet completed (send queue and receive queue).
  int outstanding_work_requests() const;

 protected:
  void DoDisconnect(absl::Status reason) override;

 private:
  friend class FakeRdmaNetwork;
  FakeRdmaEndpoint(std::shared_ptr<fake_verbs_internal::NetState> net, int side,
                   const RdmaDeviceLimits& limits, const QueueSizes& sizes, bool is_client,
                   std::string peer_address);
  // PostRdmaWrite / PostRdmaRead: one-sided work requests differ only in direction.
  absl::Status PostOneSided(bool write, uint64_t wr_id, absl::Span<const Sge> local,
                            uint64_t remote_addr, uint32_t rkey, bool signaled);

  const std::shared_ptr<fake_verbs_internal::NetState> net_;
  const int side_;
  RdmaDeviceLimits limits_;  // set once in the constructor
  const QueueSizes sizes_;
  const bool is_client_;
  const std::string peer_address_;
};

struct FakeEndpointPair {
  std::unique_ptr<FakeRdmaEndpoint> client;
  std::unique_ptr<FakeRdmaEndpoint> peer;
};

class FakeRdmaNetwork : public RdmaConnector {
 public:
  explicit FakeRdmaNetwork(FakeNetworkOptions options = {});
  // Endpoints and regions may outlive the network object; they share its state.
  ~FakeRdmaNetwork() override;
  FakeRdmaNetwork(const FakeRdmaNetwork&) = delete;
  FakeRdmaNetwork& operator=(const FakeRdmaNetwork&) = delete;

  // A connected pair with the given queue sizes (not counted as a connect operation).
  FakeEndpointPair CreatePair(const QueueSizes& client_sizes, const QueueSizes& peer_sizes);
  // A connected pair sized by SizeQueues with the given credits on both ends.
  FakeEndpointPair CreatePair(uint32_t credits = 16, uint32_t sge = 4);

  // RdmaConnector. Checks the options like rdma_cm would (a named device must be this network's
  // client device), sizes the client's queues with SizeQueues, and hands the peer end to the
  // accept handler, or queues it for WaitForPeer.
  absl::StatusOr<std::unique_ptr<RdmaEndpoint>> Connect(const ConnectOptions& options) override;
  // The peer end of the next connection; nullptr after `timeout`.
  std::unique_ptr<FakeRdmaEndpoint> WaitForPeer(absl::Duration timeout);
  // Called (outside the network's lock, on the connecting thread) with each new peer end.
  void SetAcceptHandler(std::function<void(std::unique_ptr<FakeRdmaEndpoint>)> handler);
  // Called at the start of each endpoint's destruction (before it drains), with is_client():
  // lets a test see what still exists when the queue pair goes away.
  void SetEndpointDestroyedHook(std::function<void(bool is_client)> hook);

  // --- Fault injection ---
  // The `n`th (1-based, counted from this call) operation on the fault side — of kind `only`
  // if given — fails with `status` without taking effect. n = 0 cancels.
  void FailNthOperation(int64_t n, absl::Status status = absl::UnavailableError(
                                       "fake verbs: injected operation failure"),
                        std::optional<FakeOp> only = std::nullopt);
  // Operations counted on the fault side since the network was made (for sweeps).
  int64_t operation_count() const;
  // The next completion delivered on the fault side gets `status` instead of its own, and the
  // connection breaks (both sides flush everything outstanding).
  void InjectCompletionError(WcStatus status = WcStatus::kFlushed);
  // The same for the `n`th completion (1-based, counted from this call) on the fault side, for
  // sweeps over every completion of a session. n = 0 cancels.
  void InjectCompletionErrorAt(int64_t n, WcStatus status = WcStatus::kFlushed);
  // Completions produced on the fault side since the network was made (for sweeps).
  int64_t completion_count() const;
  // The next successful receive on the fault side places and reports at most `byte_len` bytes.
  void InjectShortReceive(uint32_t byte_len);
  // The next Connect fails with `status` (e.g. "RDMA_CM_EVENT_REJECTED" as Unavailable).
  void InjectConnectError(absl::Status status);
  // Breaks every connection, as if the cable were pulled: both ends see flushes and `reason`.
  void DisconnectAll(absl::Status reason = absl::UnavailableError("fake network: disconnected"));

  // --- Counters for leak checks ---
  int live_memory_regions() const;
  int live_memory_windows() const;
  int live_endpoints() const;
  int outstanding_work_requests() const;
  // Remote or local invalidations of an rkey that was already invalid (they panic rxe).
  int double_invalidations() const;

 private:
  std::shared_ptr<fake_verbs_internal::NetState> net_;
};

}  // namespace smbd

#endif  // SMBD_SMBDIRECT_FAKE_VERBS_H_
