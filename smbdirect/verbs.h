// The verbs seam: everything the SMB Direct transport needs from RDMA, without verbs headers.
//
// The transport programs against RdmaEndpoint (one connected reliable-connection queue pair with
// its completion queues, protection domain and completion channel) and RdmaConnector (rdma_cm
// connection setup). Two implementations exist: verbs_real*.cc over rdma-core (libibverbs and
// librdmacm; the only files that include <infiniband/verbs.h> and <rdma/rdma_cma.h>), and the
// testonly fake_verbs.h, an in-process network that really moves bytes between two endpoints.
//
// Semantics follow the InfiniBand reliable connection (RC) as rdma-core exposes it
// (ibv_post_send(3), ibv_post_recv(3), ibv_poll_cq(3), ibv_req_notify_cq(3)), with the quirks of
// soft-RoCE (rxe) recorded where they matter.
#ifndef SMBD_SMBDIRECT_VERBS_H_
#define SMBD_SMBDIRECT_VERBS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "buffers/bvecq.h"
#include "buffers/page_pool.h"

namespace smbd {

// [MS-SMBD] 2.1: SMB Direct listens on 445 over InfiniBand and RoCE, on 5445 over iWARP.
inline constexpr uint16_t kSmbDirectPort = 445;
inline constexpr uint16_t kSmbDirectIwarpPort = 5445;
inline constexpr uint16_t SmbDirectPortFor(bool iwarp) {
  return iwarp ? kSmbDirectIwarpPort : kSmbDirectPort;
}

// What the device (ibv_query_device(3)) allows. The fake lets tests choose these.
struct RdmaDeviceLimits {
  std::string device_name;         // "rxe0", "mlx5_0", "fake0"
  bool iwarp = false;              // transport is iWARP (port 5445, no SEND_WITH_INVALIDATE quirks)
  uint32_t max_qp_wr = 0;          // work requests per send or receive queue
  uint32_t max_cqe = 0;            // entries per completion queue
  uint32_t max_send_sge = 0;       // scatter-gather entries per send work request
  uint32_t max_recv_sge = 0;       // scatter-gather entries per receive work request
  uint64_t max_mr_size = 0;        // bytes per memory region
  // Pages of 4 KiB one registration may span for the peer; I/O beyond it is split. User space has
  // no fast registration, so this is a policy limit: rxe's page list limit (512) is used there so
  // that one region never exceeds what the kernel client would map.
  uint32_t max_pages_per_registration = 0;
  uint32_t max_inline_data = 0;    // bytes a send may carry inline (0 if unknown)
  uint32_t max_qp_rd_atom = 0;     // incoming RDMA READs in flight (responder resources)
  uint32_t max_qp_init_rd_atom = 0;  // outgoing RDMA READs in flight (initiator depth)
  bool memory_windows = false;     // type-2 memory windows are supported
  // A bound window's rkey reaches only the window's range, as the InfiniBand specification
  // (11.2.10.9 / 10.6.7) requires. False where measured otherwise: rxe (kernel 6.1 and 6.12),
  // whose window rkeys reach their whole region. The transport binds windows by default only
  // where this holds (SmbDirectOptions::registration).
  bool windows_isolate = false;
};

// Queue depths and scatter-gather counts of one queue pair, produced by SizeQueues.
struct QueueSizes {
  uint32_t send_wr = 0;    // send queue depth: send_credits + registration_wrs + 1 (drain)
  uint32_t recv_wr = 0;    // receive queue depth: receive_credits
  uint32_t send_cqe = 0;   // send completion queue entries (>= send_wr)
  uint32_t recv_cqe = 0;   // receive completion queue entries (>= recv_wr)
  uint32_t send_sge = 0;   // SGEs per send
  uint32_t recv_sge = 0;   // SGEs per receive
  // The credits these depths support, after clamping to the device; the transport uses these as
  // its send credit target and receive credit maximum ([MS-SMBD] 3.1.1.1).
  uint32_t send_credits = 0;
  uint32_t receive_credits = 0;
  uint32_t registration_wrs = 0;
};

inline constexpr uint32_t kDefaultSendSge = 16;
inline constexpr uint32_t kDefaultRecvSge = 1;

// Sizes the queues of one SMB Direct connection: the send queue holds one work request per send
// credit, `registration_wrs` for memory-window binds and invalidations, and one for the drain at
// teardown; the receive queue holds one receive per receive credit; each completion queue holds
// every completion its queue can produce, so it cannot overflow. Credits are clamped down to what
// max_qp_wr and max_cqe allow (the transport then uses the returned credits); SGE counts are
// clamped to the device's. Fails with FailedPrecondition when the device cannot hold one credit
// each way plus the registration and drain work requests, and InvalidArgument for zero credits or
// zero SGEs.
absl::StatusOr<QueueSizes> SizeQueues(uint32_t send_credit_target, uint32_t receive_credit_max,
                                      uint32_t registration_wrs, const RdmaDeviceLimits& limits,
                                      uint32_t wanted_send_sge = kDefaultSendSge,
                                      uint32_t wanted_recv_sge = kDefaultRecvSge);

// ibv_wc_status(3), folded to what the transport distinguishes.
enum class WcStatus {
  kSuccess,
  kFlushed,               // IBV_WC_WR_FLUSH_ERR: the queue pair left RTS; nothing happened
  kLocalLength,           // IBV_WC_LOC_LEN_ERR: an incoming send was larger than the receive
  kLocalProtection,       // IBV_WC_LOC_PROT_ERR: a local SGE outside a region or with a bad lkey
  kRemoteAccess,          // IBV_WC_REM_ACCESS_ERR: bad rkey, range or access at the peer
  kRemoteInvalidRequest,  // IBV_WC_REM_INV_REQ_ERR (also rxe's failed remote invalidation)
  kRemoteOperation,       // IBV_WC_REM_OP_ERR
  kRetryExceeded,         // IBV_WC_RETRY_EXC_ERR: the peer stopped answering
  kRnrRetryExceeded,      // IBV_WC_RNR_RETRY_EXC_ERR: the peer never posted a receive
  kOther,
};
const char* WcStatusName(WcStatus status);

// What a completion completed. Per ibv_poll_cq(3) the opcode of a failed completion is
// undefined; implementations report kRecv for receive-queue completions and kSend for other
// failed send-queue completions. Identify work by wr_id.
enum class WcOpcode {
  kSend,
  kRecv,
  kRdmaWrite,
  kRdmaRead,
  kLocalInvalidate,
  kBindWindow,
};
const char* WcOpcodeName(WcOpcode opcode);

struct WorkCompletion {
  uint64_t wr_id = 0;
  WcStatus status = WcStatus::kSuccess;
  WcOpcode opcode = WcOpcode::kSend;
  uint32_t byte_len = 0;        // receives: bytes placed into the receive's SGEs
  // The received message was a SEND_WITH_INVALIDATE that invalidated `invalidated_rkey` here.
  // rxe reports this as wc_flags bit 0x4 rather than IBV_WC_WITH_INV; the real implementation
  // accepts both.
  bool with_invalidate = false;
  uint32_t invalidated_rkey = 0;
  uint32_t vendor_err = 0;
};

// A work completion's status as an absl::Status naming the work (OK for kSuccess).
absl::Status CompletionError(const WorkCompletion& wc);

// Access rights of a memory region or window (ibv_reg_mr(3) access flags). Local read is always
// granted. Pool slabs get kLocalWrite only; an I/O's peer registration adds exactly one remote
// right: kRemoteWrite for a READ's destination, kRemoteRead for a WRITE's source.
enum class MemoryAccess : uint32_t {
  kNone = 0,
  kLocalWrite = 1u << 0,
  kRemoteWrite = 1u << 1,
  kRemoteRead = 1u << 2,
  // Memory windows may be bound over the region (IBV_ACCESS_MW_BIND): a long-lived region that
  // grants the peer nothing itself, only through a window bound for one I/O.
  kWindowBind = 1u << 3,
};
constexpr MemoryAccess operator|(MemoryAccess a, MemoryAccess b) {
  return static_cast<MemoryAccess>(static_cast<uint32_t>(a) | static_cast<uint32_t>(b));
}
constexpr MemoryAccess operator&(MemoryAccess a, MemoryAccess b) {
  return static_cast<MemoryAccess>(static_cast<uint32_t>(a) & static_cast<uint32_t>(b));
}
constexpr bool HasAccess(MemoryAccess set, MemoryAccess wanted) {
  return (static_cast<uint32_t>(set) & static_cast<uint32_t>(wanted)) ==
         static_cast<uint32_t>(wanted);
}

// One registration of [addr, addr+length). Destroying it deregisters the memory (ibv_dereg_mr),
// after which neither its lkey nor its rkey works. A region may outlive the endpoint that made it
// (it keeps the protection domain alive); it is not thread-safe to destroy it while a work
// request that uses it is outstanding.
class MemoryRegion {
 public:
  virtual ~MemoryRegion() = default;
  MemoryRegion(const MemoryRegion&) = delete;
  MemoryRegion& operator=(const MemoryRegion&) = delete;

  uint8_t* addr() const { return addr_; }
  size_t length() const { return length_; }
  uint32_t lkey() const { return lkey_; }
  uint32_t rkey() const { return rkey_; }
  MemoryAccess access() const { return access_; }

  // An SGE for [p, p+len), which must lie inside this region.
  Sge SgeFor(const void* p, uint32_t len) const {
    return Sge{reinterpret_cast<uint64_t>(p), len, lkey_};
  }

 protected:
  MemoryRegion(uint8_t* addr, size_t length, uint32_t lkey, uint32_t rkey, MemoryAccess access)
      : addr_(addr), length_(length), lkey_(lkey), rkey_(rkey), access_(access) {}

 private:
  uint8_t* const addr_;
  const size_t length_;
  const uint32_t lkey_;
  const uint32_t rkey_;
  const MemoryAccess access_;
};

// A type-2 memory window (ibv_alloc_mw(3), IBV_MW_TYPE_2). Unbound after allocation; bound by
// PostBindWindow to a range of a region, invalidated locally (PostLocalInvalidate) or by the
// peer's SEND_WITH_INVALIDATE. Measured on rxe (kernel 6.1): a window's rkey reaches the whole
// underlying region (no isolation), and invalidating a window twice panics the kernel, so the
// transport binds windows by default only where RdmaDeviceLimits::windows_isolate (not rxe) and
// never invalidates an rkey the peer has invalidated.
class MemoryWindow {
 public:
  virtual ~MemoryWindow() = default;
  MemoryWindow(const MemoryWindow&) = delete;
  MemoryWindow& operator=(const MemoryWindow&) = delete;
  // The rkey of the latest bind (tracked here: rxe does not update ibv_mw->rkey for binds posted
  // with ibv_post_send). Changes with every bind.
  virtual uint32_t rkey() const = 0;

 protected:
  MemoryWindow() = default;
};

struct ConnectOptions;

// One connected RC queue pair. Posting and polling are thread-safe; completions of the send and
// receive queues come out of PollCompletions together.
class RdmaEndpoint {
 public:
  // Detaches the registrar: later Register calls fail instead of reaching a dead endpoint.
  virtual ~RdmaEndpoint() { registrar_->Detach(); }
  RdmaEndpoint(const RdmaEndpoint&) = delete;
  RdmaEndpoint& operator=(const RdmaEndpoint&) = delete;

  // Posts a SEND gathering `sges` (at most queue_sizes().send_sge entries, each inside a region
  // registered on this endpoint). An unsignaled send produces a completion only on error. With
  // `invalidate_rkey`, posts SEND_WITH_INVALIDATE, which invalidates that rkey at the peer.
  // Fails without posting (and without a completion) when the queue is full, an argument is bad,
  // or the endpoint has left the connected state.
  virtual absl::Status PostSend(uint64_t wr_id, absl::Span<const Sge> sges, bool signaled,
                                std::optional<uint32_t> invalidate_rkey = std::nullopt) = 0;

  // Posts a receive scattering into `sges` (each inside a region with kLocalWrite).
  virtual absl::Status PostRecv(uint64_t wr_id, absl::Span<const Sge> sges) = 0;

  // One-sided operations on the peer's memory {remote_addr, rkey} (the server's side of the SMB2
  // RDMA channel; the fake server uses these). RDMA WRITE copies `local` to the peer, RDMA READ
  // fills `local` from the peer. An rkey that is unknown, deregistered, invalidated, lacks the
  // right, or does not cover the range completes with kRemoteAccess and breaks the connection.
  virtual absl::Status PostRdmaWrite(uint64_t wr_id, absl::Span<const Sge> local,
                                     uint64_t remote_addr, uint32_t rkey, bool signaled) = 0;
  virtual absl::Status PostRdmaRead(uint64_t wr_id, absl::Span<const Sge> local,
                                    uint64_t remote_addr, uint32_t rkey, bool signaled) = 0;

  // Copies up to out.size() completions into `out` and returns how many; never blocks.
  virtual int PollCompletions(absl::Span<WorkCompletion> out) = 0;

  // Blocks until a completion can be polled (OK), `timeout` passes (DeadlineExceeded), or the
  // endpoint is disconnected with nothing left to poll (error()). On the real
  // implementation this sleeps on the completion channel: it requests notification and polls
  // again before sleeping, so a completion that raced with the request is not lost.
  virtual absl::Status WaitForCompletions(absl::Duration timeout) = 0;

  // Registers exactly [addr, addr+length) with `access` (ibv_reg_mr(3)).
  virtual absl::StatusOr<std::unique_ptr<MemoryRegion>> RegisterMemory(void* addr, size_t length,
                                                                       MemoryAccess access) = 0;

  // Memory windows (only where limits().memory_windows). A bind is a send-queue work request
  // (IBV_WR_BIND_MW) giving the window a new rkey over [addr, addr+length) of `region`, which
  // must have been registered with IBV_ACCESS_MW_BIND (RegisterMemory does that when the device
  // supports windows). A local invalidate (IBV_WR_LOCAL_INV) kills an rkey.
  virtual absl::StatusOr<std::unique_ptr<MemoryWindow>> AllocateWindow() {
    return absl::UnimplementedError("memory windows are not supported by this endpoint");
  }
  virtual absl::Status PostBindWindow(uint64_t wr_id, MemoryWindow* window,
                                      const MemoryRegion& region, const void* addr,
                                      size_t length, MemoryAccess access, bool signaled) {
    return absl::UnimplementedError("memory windows are not supported by this endpoint");
  }
  virtual absl::Status PostLocalInvalidate(uint64_t wr_id, uint32_t rkey, bool signaled) {
    return absl::UnimplementedError("local invalidation is not supported by this endpoint");
  }

  // Disconnects (rdma_disconnect(3)): the queue pair goes to the error state, every outstanding
  // work request completes as kFlushed, later posts fail, and waiters wake. Idempotent and safe
  // from any thread. `reason` becomes error() unless an error was recorded first.
  void Disconnect(absl::Status reason = absl::UnavailableError("RDMA endpoint disconnected")) {
    DoDisconnect(std::move(reason));
  }

  // OK while connected; afterwards the first reason the connection broke (local disconnect,
  // peer disconnect, a completion error). WaitForCompletions returns it once nothing is left.
  virtual absl::Status error() const = 0;
  bool connected() const { return error().ok(); }

  virtual const RdmaDeviceLimits& limits() const = 0;
  virtual const QueueSizes& queue_sizes() const = 0;
  // "ip:port" of the peer, for messages.
  virtual std::string peer_address() const = 0;
  // An opaque handle on this endpoint's protection domain, for ConnectOptions::
  // protection_domain (null where a connection cannot share it: the fake verbs).
  virtual std::shared_ptr<void> protection_domain() { return nullptr; }

  // A registrar for buffers/PagePool: registers each slab with kLocalWrite only (never a remote
  // right). Owned by the endpoint: destroy the pools using it before the endpoint.
  MemoryRegistrar* registrar() { return registrar_.get(); }
  // The same registrar, shared: a PagePool registered through it may outlive the endpoint (the
  // pool's slabs are then deregistered after the endpoint is gone; their regions keep the
  // protection domain alive), and the pool can no longer grow once the endpoint is destroyed.
  std::shared_ptr<MemoryRegistrar> registrar_handle() { return registrar_; }

 protected:
  RdmaEndpoint() : registrar_(std::make_shared<SlabRegistrar>(this)) {}
  virtual void DoDisconnect(absl::Status reason) = 0;

 private:
  // Keeps each slab's region, keyed by the cookie handed back to the pool.
  class SlabRegistrar final : public MemoryRegistrar {
   public:
    explicit SlabRegistrar(RdmaEndpoint* endpoint) : endpoint_(endpoint) {}
    absl::StatusOr<SlabRegistration> Register(void* addr, size_t length) override;
    void Deregister(const SlabRegistration& registration) override;
    void Detach();

   private:
    std::mutex mu_;
    RdmaEndpoint* endpoint_;  // null once the endpoint is destroyed
    uint64_t next_cookie_ = 1;
    std::map<uint64_t, std::unique_ptr<MemoryRegion>> regions_;
  };
  std::shared_ptr<SlabRegistrar> registrar_;
};

// How to reach the server ([MS-SMBD] 3.1.5.2 via rdma_cm).
struct ConnectOptions {
  std::string host;                // IP address or host name of the server
  // 445 for InfiniBand/RoCE, 5445 for iWARP; 0: the one for the device the route to `host`
  // uses ([MS-SMBD] 2.1), known after address resolution.
  uint16_t port = kSmbDirectPort;
  // RDMA device to use ("rxe0"); empty: whichever device routes to `host`. With a name, the
  // connection is bound to an IP address of that device's network interface.
  std::string device;
  // Local IP address to bind (alternative way to choose the device); empty: by route or device.
  std::string source_address;

  // Queue sizing inputs, fitted to the device with SizeQueues once the device is known.
  uint32_t send_credit_target = 255;
  uint32_t receive_credit_max = 255;
  // Send-queue room for memory-window work: a bind and a local invalidation per window in use
  // (SmbDirectOptions::max_windows, 32 by default), so that window work never finds the queue
  // full of sends (a lesson of the Linux client, 2025).
  uint32_t registration_wrs = 64;
  uint32_t send_sge = kDefaultSendSge;
  uint32_t recv_sge = kDefaultRecvSge;

  absl::Duration resolve_address_timeout = absl::Seconds(5);
  absl::Duration resolve_route_timeout = absl::Seconds(5);
  absl::Duration connect_timeout = absl::Seconds(10);

  // rdma_conn_param (rdma_connect(3)). Responder resources (incoming RDMA READs, which the
  // server issues for SMB2 WRITE) and initiator depth are capped by the device's limits.
  uint8_t responder_resources = 16;
  uint8_t initiator_depth = 16;
  uint8_t retry_count = 7;
  uint8_t rnr_retry_count = 7;  // 7 = retry forever on receiver-not-ready

  // An earlier endpoint's RdmaEndpoint::protection_domain(): the new queue pair is made in that
  // protection domain (the same device), so that memory registered through the earlier
  // endpoint (a page pool's slabs, registered buffers) serves this one too. A reconnect uses it.
  // FailedPrecondition when the route now leads to another device.
  std::shared_ptr<void> protection_domain;
};

// Sets up connections. Errors: NotFound when there is no RDMA device (or the named one is
// missing), Unavailable when the address or route cannot be resolved ("unreachable") or the
// server rejects the connection ("refused"), DeadlineExceeded when a step times out.
class RdmaConnector {
 public:
  virtual ~RdmaConnector() = default;
  virtual absl::StatusOr<std::unique_ptr<RdmaEndpoint>> Connect(const ConnectOptions& options) = 0;
};

}  // namespace smbd

#endif  // SMBD_SMBDIRECT_VERBS_H_
