// The endpoint of the rdma-core verbs seam: VerbsEndpoint over a connected RC queue pair, and
// the memory regions (VerbsRegion) and type-2 memory windows (VerbsWindow) made from it.
//
// Teardown, after a drain: the queue pair is moved to the error state and a signaled work
// request posted behind everything else; once its flush completion and every receive's flush
// have been polled (or a bound passes), the QP, CQs, completion channel, and finally PD, cm_id
// and event channel go (the last three when the last memory region made from them is gone).
#include <infiniband/verbs.h>
#include <poll.h>
#include <rdma/rdma_cma.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "smbdirect/verbs.h"
#include "smbdirect/verbs_real.h"
#include "smbdirect/verbs_real_internal.h"

namespace smbd {
namespace verbs_internal {
namespace {

constexpr absl::Duration kDrainTimeout = absl::Seconds(2);
// iWARP only: how long the drain work request may lag the point where no receive is
// outstanding. siw flushes a user QP's send and receive rings when the QP moves to the error
// state, but a send posted after that (the drain request, rung through the doorbell) is never
// completed: without this bound every SMB Direct endpoint over siw took the whole kDrainTimeout
// to close (2 s at the end of each smbd-cat run, measured in the test-bed guest on 6.12).
// Elsewhere (rxe, InfiniBand, RoCE) the drain request is flushed like any other and waited for.
constexpr absl::Duration kDrainWrGrace = absl::Milliseconds(100);
constexpr int kPollBatch = 32;

// --- Regions and windows ---

class VerbsRegion final : public MemoryRegion {
 public:
  VerbsRegion(std::shared_ptr<CmResources> cm, MrPtr mr, MemoryAccess access)
      : MemoryRegion(static_cast<uint8_t*>(mr->addr), mr->length, mr->lkey, mr->rkey, access),
        cm_(std::move(cm)),
        mr_(std::move(mr)) {}
  ibv_mr* mr() const { return mr_.get(); }

 private:
  // Declared first, released last: the PD outlives the registration.
  const std::shared_ptr<CmResources> cm_;
  MrPtr mr_;
};

class VerbsWindow final : public MemoryWindow {
 public:
  VerbsWindow(std::shared_ptr<CmResources> cm, MwPtr mw)
      : cm_(std::move(cm)), mw_(std::move(mw)), last_rkey_(mw_->rkey) {}
  uint32_t rkey() const override { return bound_rkey_.load(std::memory_order_acquire); }
  ibv_mw* mw() const { return mw_.get(); }
  uint32_t NextRkey() const { return ibv_inc_rkey(last_rkey_.load(std::memory_order_acquire)); }
  uint32_t CurrentRkey() const { return last_rkey_.load(std::memory_order_acquire); }
  void Bound(uint32_t rkey) {
    last_rkey_.store(rkey, std::memory_order_release);
    bound_rkey_.store(rkey, std::memory_order_release);
  }

 private:
  const std::shared_ptr<CmResources> cm_;
  MwPtr mw_;
  // Nothing updates ibv_mw->rkey for binds posted with ibv_post_send: tracked here.
  std::atomic<uint32_t> last_rkey_;
  std::atomic<uint32_t> bound_rkey_{0};
};

// --- The endpoint ---

class VerbsEndpoint final : public RdmaEndpoint {
 public:
  VerbsEndpoint(std::shared_ptr<CmResources> cm, CompChannelPtr comp_channel, CqPtr send_cq,
                CqPtr recv_cq, QueuePairOwner qp, FdOwner wake, RdmaDeviceLimits limits,
                QueueSizes sizes, std::string peer)
      : cm_(std::move(cm)),
        comp_channel_(std::move(comp_channel)),
        send_cq_(std::move(send_cq)),
        recv_cq_(std::move(recv_cq)),
        qp_(std::move(qp)),
        wake_(std::move(wake)),
        limits_(std::move(limits)),
        sizes_(sizes),
        peer_(std::move(peer)) {}

  ~VerbsEndpoint() override {
    DoDisconnect(absl::UnavailableError("RDMA endpoint destroyed"));
    // Drain: poll (and drop) completions until the drain work request and every receive have
    // flushed, or the bound passes. Then the members go: QP, CQs, completion channel, and the
    // shared PD/cm_id/channel when no region holds them any more.
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        stash_.clear();
        WorkCompletion discard[kPollBatch];
        while (PollCqsLocked(absl::MakeSpan(discard)) > 0) {
        }
        if (DrainedLocked()) break;
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
    // ibv_destroy_cq waits for every CQ event to be acknowledged; events are acknowledged as
    // they are read, so read any left.
    ibv_cq* cq = nullptr;
    void* context = nullptr;
    while (ibv_get_cq_event(comp_channel_.get(), &cq, &context) == 0) ibv_ack_cq_events(cq, 1);
  }

  absl::Status PostSend(uint64_t wr_id, absl::Span<const Sge> sges, bool signaled,
                        std::optional<uint32_t> invalidate_rkey) override {
    SMBD_RETURN_IF_ERROR(CheckPostable(sges, sizes_.send_sge, "send"));
    std::array<ibv_sge, kMaxSge> list;
    CopySges(sges, list.data());
    ibv_send_wr wr{};
    wr.wr_id = wr_id;
    wr.sg_list = sges.empty() ? nullptr : list.data();
    wr.num_sge = static_cast<int>(sges.size());
    wr.send_flags = signaled ? IBV_SEND_SIGNALED : 0;
    if (invalidate_rkey.has_value()) {
      wr.opcode = IBV_WR_SEND_WITH_INV;
      wr.invalidate_rkey = *invalidate_rkey;
    } else {
      wr.opcode = IBV_WR_SEND;
    }
    return PostSendWr(&wr, "ibv_post_send (send)");
  }

  absl::Status PostRecv(uint64_t wr_id, absl::Span<const Sge> sges) override {
    SMBD_RETURN_IF_ERROR(CheckPostable(sges, sizes_.recv_sge, "receive"));
    std::array<ibv_sge, kMaxSge> list;
    CopySges(sges, list.data());
    ibv_recv_wr wr{};
    wr.wr_id = wr_id;
    wr.sg_list = sges.empty() ? nullptr : list.data();
    wr.num_sge = static_cast<int>(sges.size());
    ibv_recv_wr* bad = nullptr;
    // Counted before posting: a fast completion must not drive the count negative.
    recv_outstanding_.fetch_add(1, std::memory_order_relaxed);
    const int rc = ibv_post_recv(qp_.get(), &wr, &bad);
    if (rc != 0) {
      recv_outstanding_.fetch_sub(1, std::memory_order_relaxed);
      return ErrnoStatus(rc, "ibv_post_recv");
    }
    return absl::OkStatus();
  }

  absl::Status PostRdmaWrite(uint64_t wr_id, absl::Span<const Sge> local, uint64_t remote_addr,
                             uint32_t rkey, bool signaled) override {
    return PostRdma(IBV_WR_RDMA_WRITE, wr_id, local, remote_addr, rkey, signaled);
  }
  absl::Status PostRdmaRead(uint64_t wr_id, absl::Span<const Sge> local, uint64_t remote_addr,
                            uint32_t rkey, bool signaled) override {
    return PostRdma(IBV_WR_RDMA_READ, wr_id, local, remote_addr, rkey, signaled);
  }

  int PollCompletions(absl::Span<WorkCompletion> out) override {
    size_t k = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      while (k < out.size() && !stash_.empty()) {
        out[k++] = stash_.front();
        stash_.pop_front();
      }
      if (k < out.size()) k += PollCqsLocked(out.subspan(k));
    }
    // A caller that busy-polls and never waits still learns of the peer's disconnect: look at
    // the rdma_cm channel (one non-blocking read) every so many empty polls.
    if (k == 0 && empty_polls_.fetch_add(1, std::memory_order_relaxed) % 4096 == 4095) {
      HandleCmEvents();
    }
    return static_cast<int>(k);
  }

  absl::Status WaitForCompletions(absl::Duration timeout) override {
    const absl::Time deadline =
        timeout >= absl::Hours(24 * 365) ? absl::InfiniteFuture() : absl::Now() + timeout;
    for (;;) {
      bool broken = false;
      absl::Time drain_deadline;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!stash_.empty()) return absl::OkStatus();
        // Request notification, then poll once more: a completion that arrived before the
        // request would otherwise raise no event (ibv_req_notify_cq(3)).
        ibv_req_notify_cq(send_cq_.get(), 0);
        ibv_req_notify_cq(recv_cq_.get(), 0);
        WorkCompletion batch[kPollBatch];
        const int n = PollCqsLocked(absl::MakeSpan(batch));
        if (n > 0) {
          stash_.insert(stash_.end(), batch, batch + n);
          return absl::OkStatus();
        }
        if (!error_.ok() && DrainedLocked()) return error_;
        broken = !error_.ok();
        drain_deadline = drain_deadline_;
      }
      absl::Time wake_at = deadline;
      if (broken) wake_at = std::min(wake_at, drain_deadline);
      const absl::Duration remaining = wake_at - absl::Now();
      if (remaining <= absl::ZeroDuration()) {
        if (broken && absl::Now() >= drain_deadline) continue;  // drained by the bound
        return absl::DeadlineExceededError(
            absl::StrCat("no RDMA completion within ", absl::FormatDuration(timeout)));
      }
      pollfd fds[3] = {{comp_channel_->fd, POLLIN, 0},
                       {cm_->channel->fd, POLLIN, 0},
                       {wake_.get(), POLLIN, 0}};
      const int nfds = broken ? 2 : 3;  // once broken, the wake-up has been seen
      const int rc = poll(fds, nfds, remaining == absl::InfiniteDuration()
                                         ? -1
                                         : MillisCeil(remaining));
      if (rc < 0 && errno != EINTR) return ErrnoStatus(errno, "poll on the completion channel");
      if (rc <= 0) continue;
      if (fds[0].revents & POLLIN) {
        ibv_cq* cq = nullptr;
        void* context = nullptr;
        while (ibv_get_cq_event(comp_channel_.get(), &cq, &context) == 0) {
          ibv_ack_cq_events(cq, 1);
        }
      }
      if (fds[1].revents & POLLIN) HandleCmEvents();
      if (nfds == 3 && (fds[2].revents & POLLIN)) {
        uint64_t value;
        (void)!read(wake_.get(), &value, sizeof(value));
      }
    }
  }

  absl::StatusOr<std::unique_ptr<MemoryRegion>> RegisterMemory(void* addr, size_t length,
                                                               MemoryAccess access) override {
    if (addr == nullptr || length == 0) {
      return absl::InvalidArgumentError("cannot register an empty memory range");
    }
    if (HasAccess(access, MemoryAccess::kRemoteWrite)) access = access | MemoryAccess::kLocalWrite;
    const bool remote = HasAccess(access, MemoryAccess::kRemoteWrite) ||
                        HasAccess(access, MemoryAccess::kRemoteRead);
    const bool bind = remote || HasAccess(access, MemoryAccess::kWindowBind);
    const int flags = verbs_internal::AccessFlags(access, limits_.memory_windows && bind);
    // Relaxed ordering lets the device's PCIe writes into this memory pass each other (the
    // Linux client registers with it since 2025); nothing of ours depends on the order in which
    // placed bytes land, only on the completion that follows them. It is an optional access flag
    // (ibv_reg_mr(3)): a device without it ignores it; one that refuses it is asked again
    // without, once per endpoint.
    ibv_mr* mr = nullptr;
    if (relaxed_ordering_.load(std::memory_order_relaxed)) {
      mr = ibv_reg_mr(cm_->protection_domain(), addr, length, flags | IBV_ACCESS_RELAXED_ORDERING);
      if (mr == nullptr && errno == EINVAL) relaxed_ordering_.store(false);
    }
    if (mr == nullptr) mr = ibv_reg_mr(cm_->protection_domain(), addr, length, flags);
    if (mr == nullptr) {
      return ErrnoStatus(errno, absl::StrFormat("ibv_reg_mr of %u bytes at %p on %s", length, addr,
                                                limits_.device_name));
    }
    return std::unique_ptr<MemoryRegion>(
        std::make_unique<VerbsRegion>(cm_, MrPtr(mr), access));
  }

  absl::StatusOr<std::unique_ptr<MemoryWindow>> AllocateWindow() override {
    if (!limits_.memory_windows) {
      return absl::UnimplementedError(
          absl::StrCat("RDMA device ", limits_.device_name, " has no type-2 memory windows"));
    }
    ibv_mw* mw = ibv_alloc_mw(cm_->protection_domain(), IBV_MW_TYPE_2);
    if (mw == nullptr) return ErrnoStatus(errno, "ibv_alloc_mw");
    return std::unique_ptr<MemoryWindow>(std::make_unique<VerbsWindow>(cm_, MwPtr(mw)));
  }

  absl::Status PostBindWindow(uint64_t wr_id, MemoryWindow* window, const MemoryRegion& region,
                              const void* addr, size_t length, MemoryAccess access,
                              bool signaled) override {
    auto* w = dynamic_cast<VerbsWindow*>(window);
    auto* r = dynamic_cast<const VerbsRegion*>(&region);
    if (w == nullptr || r == nullptr) {
      return absl::InvalidArgumentError("window or region was not made by a verbs endpoint");
    }
    SMBD_RETURN_IF_ERROR(CheckPostable({}, sizes_.send_sge, "window bind"));
    const uint32_t rkey = w->NextRkey();
    // The provider names the window to the kernel by ibv_mw->rkey (rxe: wr.mw.mw_rkey), which
    // must be the window's current rkey; nobody updates it after a bind posted here (seen on
    // rxe, kernel 6.1: the second bind of a window failed with IB_WC_MW_BIND_ERR and the queue
    // pair went to the error state). The window's one user at a time sets it here.
    w->mw()->rkey = w->CurrentRkey();
    ibv_send_wr wr{};
    wr.wr_id = wr_id;
    wr.opcode = IBV_WR_BIND_MW;
    wr.send_flags = signaled ? IBV_SEND_SIGNALED : 0;
    wr.bind_mw.mw = w->mw();
    wr.bind_mw.rkey = rkey;
    wr.bind_mw.bind_info.mr = r->mr();
    wr.bind_mw.bind_info.addr = reinterpret_cast<uint64_t>(addr);
    wr.bind_mw.bind_info.length = length;
    wr.bind_mw.bind_info.mw_access_flags =
        verbs_internal::AccessFlags(access, false) & ~IBV_ACCESS_LOCAL_WRITE;
    SMBD_RETURN_IF_ERROR(PostSendWr(&wr, "ibv_post_send (bind memory window)"));
    w->Bound(rkey);
    return absl::OkStatus();
  }

  absl::Status PostLocalInvalidate(uint64_t wr_id, uint32_t rkey, bool signaled) override {
    SMBD_RETURN_IF_ERROR(CheckPostable({}, sizes_.send_sge, "local invalidate"));
    ibv_send_wr wr{};
    wr.wr_id = wr_id;
    wr.opcode = IBV_WR_LOCAL_INV;
    wr.send_flags = signaled ? IBV_SEND_SIGNALED : 0;
    wr.invalidate_rkey = rkey;
    return PostSendWr(&wr, "ibv_post_send (local invalidate)");
  }

  absl::Status error() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }
  const RdmaDeviceLimits& limits() const override { return limits_; }
  const QueueSizes& queue_sizes() const override { return sizes_; }
  std::shared_ptr<void> protection_domain() override { return cm_; }
  std::string peer_address() const override { return peer_; }

 protected:
  void DoDisconnect(absl::Status reason) override {
    if (reason.ok()) reason = absl::UnavailableError("RDMA endpoint disconnected");
    std::lock_guard<std::mutex> lock(mu_);
    if (error_.ok()) error_ = std::move(reason);
    StartDrainLocked();
  }

 private:
  std::atomic<bool> relaxed_ordering_{true};
  absl::Status CheckPostable(absl::Span<const Sge> sges, uint32_t max, const char* what) {
    if (broken_.load(std::memory_order_acquire)) {
      std::lock_guard<std::mutex> lock(mu_);
      return absl::Status(error_.code(), absl::StrCat("RDMA queue pair is not connected: ",
                                                      error_.message()));
    }
    if (sges.size() > max || sges.size() > kMaxSge) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s with %u scatter-gather entries exceeds the queue pair's %u", what, sges.size(),
          max));
    }
    return absl::OkStatus();
  }

  static void CopySges(absl::Span<const Sge> sges, ibv_sge* out) {
    for (size_t i = 0; i < sges.size(); ++i) {
      out[i].addr = sges[i].addr;
      out[i].length = sges[i].length;
      out[i].lkey = sges[i].lkey;
    }
  }

  absl::Status PostSendWr(ibv_send_wr* wr, const char* what) {
    ibv_send_wr* bad = nullptr;
    const int rc = ibv_post_send(qp_.get(), wr, &bad);
    if (rc != 0) return ErrnoStatus(rc, what);
    return absl::OkStatus();
  }

  absl::Status PostRdma(ibv_wr_opcode opcode, uint64_t wr_id, absl::Span<const Sge> local,
                        uint64_t remote_addr, uint32_t rkey, bool signaled) {
    SMBD_RETURN_IF_ERROR(CheckPostable(local, sizes_.send_sge,
                                       opcode == IBV_WR_RDMA_WRITE ? "RDMA write" : "RDMA read"));
    std::array<ibv_sge, kMaxSge> list;
    CopySges(local, list.data());
    ibv_send_wr wr{};
    wr.wr_id = wr_id;
    wr.sg_list = local.empty() ? nullptr : list.data();
    wr.num_sge = static_cast<int>(local.size());
    wr.opcode = opcode;
    wr.send_flags = signaled ? IBV_SEND_SIGNALED : 0;
    wr.wr.rdma.remote_addr = remote_addr;
    wr.wr.rdma.rkey = rkey;
    return PostSendWr(&wr, opcode == IBV_WR_RDMA_WRITE ? "ibv_post_send (RDMA write)"
                                                       : "ibv_post_send (RDMA read)");
  }

  // Polls the receive CQ, then the send CQ, into `out`. Drops the drain completion. The first
  // error completion breaks the endpoint (the hardware has moved the QP to the error state).
  int PollCqsLocked(absl::Span<WorkCompletion> out) {
    size_t k = 0;
    for (const bool recv : {true, false}) {
      ibv_cq* cq = recv ? recv_cq_.get() : send_cq_.get();
      while (k < out.size()) {
        ibv_wc wc[kPollBatch];
        const int want = static_cast<int>(std::min<size_t>(kPollBatch, out.size() - k));
        const int n = ibv_poll_cq(cq, want, wc);
        if (n < 0) {
          if (error_.ok()) error_ = absl::InternalError("ibv_poll_cq failed");
          StartDrainLocked();
          drain_done_ = true;  // the CQ is unusable: nothing more will come out of it
          recv_outstanding_.store(0, std::memory_order_relaxed);
          break;
        }
        if (n == 0) break;
        for (int i = 0; i < n; ++i) {
          if (recv) recv_outstanding_.fetch_sub(1, std::memory_order_relaxed);
          if (!recv && wc[i].wr_id == kDrainWrId) {
            drain_done_ = true;
            continue;
          }
          WorkCompletion c = verbs_internal::TranslateCompletion(
              wc[i].wr_id, wc[i].status, wc[i].opcode, recv, wc[i].byte_len, wc[i].wc_flags,
              wc[i].invalidated_rkey, wc[i].vendor_err);
          if (c.status != WcStatus::kSuccess) {
            if (error_.ok()) error_ = CompletionError(c);
            StartDrainLocked();
          }
          out[k++] = c;
        }
      }
    }
    if (limits_.iwarp && drain_started_ && !drain_done_ &&
        recv_outstanding_.load(std::memory_order_relaxed) <= 0) {
      drain_deadline_ = std::min(drain_deadline_, absl::Now() + kDrainWrGrace);
    }
    return static_cast<int>(k);
  }

  // Moves the QP to the error state (telling the peer) and posts the drain work request behind
  // everything else (the method of the kernel's ib_drain_sq). Once.
  void StartDrainLocked() {
    if (drain_started_) return;
    drain_started_ = true;
    broken_.store(true, std::memory_order_release);
    drain_deadline_ = absl::Now() + kDrainTimeout;
    rdma_disconnect(cm_->id.get());  // sends DREQ; for IB also moves the QP to ERR
    ibv_qp_attr attr{};
    attr.qp_state = IBV_QPS_ERR;
    ibv_modify_qp(qp_.get(), &attr, IBV_QP_STATE);
    ibv_send_wr wr{};
    wr.wr_id = kDrainWrId;
    wr.opcode = IBV_WR_SEND;
    wr.send_flags = IBV_SEND_SIGNALED;
    ibv_send_wr* bad = nullptr;
    if (ibv_post_send(qp_.get(), &wr, &bad) != 0) drain_done_ = true;  // the bound decides
    const uint64_t one = 1;
    (void)!write(wake_.get(), &one, sizeof(one));
  }

  bool DrainedLocked() const {
    if (!drain_started_) return false;
    if (absl::Now() >= drain_deadline_) return true;
    return drain_done_ && recv_outstanding_.load(std::memory_order_relaxed) <= 0;
  }

  // Reads pending rdma_cm events without blocking; a disconnect from the peer breaks us.
  void HandleCmEvents() {
    for (;;) {
      rdma_cm_event* event = nullptr;
      if (rdma_get_cm_event(cm_->channel.get(), &event) != 0) return;
      const rdma_cm_event_type type = event->event;
      rdma_ack_cm_event(event);
      if (type == RDMA_CM_EVENT_DISCONNECTED) {
        DoDisconnect(absl::UnavailableError(
            absl::StrCat("RDMA connection closed by the peer ", peer_)));
      } else if (type == RDMA_CM_EVENT_DEVICE_REMOVAL) {
        DoDisconnect(absl::UnavailableError(
            absl::StrCat("RDMA device ", limits_.device_name, " was removed")));
      }
    }
  }

  // Declared in reverse teardown order (see the file comment).
  const std::shared_ptr<CmResources> cm_;
  CompChannelPtr comp_channel_;
  CqPtr send_cq_;
  CqPtr recv_cq_;
  QueuePairOwner qp_;
  FdOwner wake_;  // eventfd: Disconnect wakes waiters through it

  const RdmaDeviceLimits limits_;
  const QueueSizes sizes_;
  const std::string peer_;

  mutable std::mutex mu_;
  absl::Status error_;                 // guarded by mu_
  std::deque<WorkCompletion> stash_;   // polled by WaitForCompletions, not yet handed out
  bool drain_started_ = false;         // guarded by mu_
  bool drain_done_ = false;            // guarded by mu_
  absl::Time drain_deadline_;          // guarded by mu_
  std::atomic<bool> broken_{false};
  std::atomic<int64_t> recv_outstanding_{0};
  std::atomic<uint32_t> empty_polls_{0};
};

}  // namespace

std::unique_ptr<RdmaEndpoint> NewVerbsEndpoint(std::shared_ptr<CmResources> cm,
                                               CompChannelPtr comp_channel, CqPtr send_cq,
                                               CqPtr recv_cq, QueuePairOwner qp, FdOwner wake,
                                               RdmaDeviceLimits limits, QueueSizes sizes,
                                               std::string peer) {
  return std::unique_ptr<RdmaEndpoint>(std::make_unique<VerbsEndpoint>(
      std::move(cm), std::move(comp_channel), std::move(send_cq), std::move(recv_cq),
      std::move(qp), std::move(wake), std::move(limits), sizes, std::move(peer)));
}

}  // namespace verbs_internal
}  // namespace smbd
