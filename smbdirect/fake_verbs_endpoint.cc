// FakeRdmaEndpoint: one end of a connection on a FakeRdmaNetwork. Each post queues a work request
// on its side and runs the network (fake_verbs_queue_pair.cc) until nothing more can happen.
#include <algorithm>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "buffers/alloc_scope.h"
#include "smbdirect/fake_verbs.h"
#include "smbdirect/fake_verbs_internal.h"
#include "smbdirect/verbs.h"

namespace smbd {

using fake_verbs_internal::NetState;
using fake_verbs_internal::SendWr;
using fake_verbs_internal::Side;

FakeRdmaEndpoint::FakeRdmaEndpoint(std::shared_ptr<NetState> net, int side,
                                   const RdmaDeviceLimits& limits, const QueueSizes& sizes,
                                   bool is_client, std::string peer_address)
    : net_(std::move(net)),
      side_(side),
      limits_(limits),
      sizes_(sizes),
      is_client_(is_client),
      peer_address_(std::move(peer_address)) {
  // What the fake enforces is what it reports.
  limits_.windows_isolate = limits_.memory_windows && net_->options.windows_enforce_range;
}

FakeRdmaEndpoint::~FakeRdmaEndpoint() {
  std::function<void(bool)> hook;
  {
    std::lock_guard<std::mutex> lock(net_->mu);
    hook = net_->destroyed_hook;
  }
  if (hook) hook(is_client_);
  std::lock_guard<std::mutex> lock(net_->mu);
  Side* s = net_->Find(side_);
  if (s == nullptr) return;
  // Drain: the queue pair goes to the error state, the peer sees the disconnect.
  net_->pending_breaks.emplace_back(side_, absl::UnavailableError("RDMA endpoint destroyed"));
  net_->pending_breaks.emplace_back(
      s->peer, absl::UnavailableError("RDMA connection closed by the peer (endpoint destroyed)"));
  fake_verbs_internal::SettleLocked(*net_);
  net_->sides.erase(side_);
}

namespace {

absl::Status CheckSges(absl::Span<const Sge> sges, uint32_t max, const char* what) {
  if (sges.size() > max) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s with %u scatter-gather entries exceeds the queue pair's %u", what, sges.size(), max));
  }
  return absl::OkStatus();
}

}  // namespace

#define SMBD_FAKE_POST_PROLOGUE(op)                                              \
  std::lock_guard<std::mutex> lock(net_->mu);                                    \
  Side* s = net_->Find(side_);                                                   \
  SMBD_RETURN_IF_ERROR(fake_verbs_internal::CountOpLocked(*net_, is_client_, op)); \
  if (s == nullptr || !s->error.ok()) return fake_verbs_internal::NotConnected(s)

namespace {

absl::Status CheckSendSlotLocked(const Side& s) {
  const uint64_t in_use = (s.next_seq - 1) - s.retired_seq;
  if (in_use >= s.sizes.send_wr) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "RDMA send queue full (%u work requests; slots free up as completions are polled)",
        s.sizes.send_wr));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status FakeRdmaEndpoint::PostSend(uint64_t wr_id, absl::Span<const Sge> sges,
                                        bool signaled, std::optional<uint32_t> invalidate_rkey) {
  UncountedAllocations uncounted;  // the device's own bookkeeping, not the client's
  SMBD_FAKE_POST_PROLOGUE(FakeOp::kPostSend);
  SMBD_RETURN_IF_ERROR(CheckSges(sges, sizes_.send_sge, "send"));
  SMBD_RETURN_IF_ERROR(CheckSendSlotLocked(*s));
  SendWr wr;
  wr.kind = SendWr::kSend;
  wr.wr_id = wr_id;
  wr.signaled = signaled;
  wr.seq = s->next_seq++;
  wr.sges.assign(sges.begin(), sges.end());
  wr.invalidate_rkey = invalidate_rkey;
  s->sq.push_back(std::move(wr));
  fake_verbs_internal::SettleLocked(*net_);
  return absl::OkStatus();
}

absl::Status FakeRdmaEndpoint::PostRecv(uint64_t wr_id, absl::Span<const Sge> sges) {
  UncountedAllocations uncounted;  // the device's own bookkeeping, not the client's
  SMBD_FAKE_POST_PROLOGUE(FakeOp::kPostRecv);
  SMBD_RETURN_IF_ERROR(CheckSges(sges, sizes_.recv_sge, "receive"));
  if (s->rq.size() >= sizes_.recv_wr) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("RDMA receive queue full (%u work requests)", sizes_.recv_wr));
  }
  fake_verbs_internal::RecvWr wr;
  wr.wr_id = wr_id;
  wr.sges.assign(sges.begin(), sges.end());
  s->rq.push_back(std::move(wr));
  fake_verbs_internal::SettleLocked(*net_);
  return absl::OkStatus();
}

absl::Status FakeRdmaEndpoint::PostRdmaWrite(uint64_t wr_id, absl::Span<const Sge> local,
                                             uint64_t remote_addr, uint32_t rkey, bool signaled) {
  return PostOneSided(/*write=*/true, wr_id, local, remote_addr, rkey, signaled);
}

absl::Status FakeRdmaEndpoint::PostRdmaRead(uint64_t wr_id, absl::Span<const Sge> local,
                                            uint64_t remote_addr, uint32_t rkey, bool signaled) {
  return PostOneSided(/*write=*/false, wr_id, local, remote_addr, rkey, signaled);
}

absl::Status FakeRdmaEndpoint::PostOneSided(bool write, uint64_t wr_id,
                                            absl::Span<const Sge> local, uint64_t remote_addr,
                                            uint32_t rkey, bool signaled) {
  UncountedAllocations uncounted;  // the device's own bookkeeping, not the client's
  SMBD_FAKE_POST_PROLOGUE(write ? FakeOp::kPostRdmaWrite : FakeOp::kPostRdmaRead);
  SMBD_RETURN_IF_ERROR(CheckSges(local, sizes_.send_sge, write ? "RDMA write" : "RDMA read"));
  SMBD_RETURN_IF_ERROR(CheckSendSlotLocked(*s));
  SendWr wr;
  wr.kind = write ? SendWr::kWrite : SendWr::kRead;
  wr.wr_id = wr_id;
  wr.signaled = signaled;
  wr.seq = s->next_seq++;
  wr.sges.assign(local.begin(), local.end());
  wr.remote_addr = remote_addr;
  wr.rkey = rkey;
  s->sq.push_back(std::move(wr));
  fake_verbs_internal::SettleLocked(*net_);
  return absl::OkStatus();
}

int FakeRdmaEndpoint::PollCompletions(absl::Span<WorkCompletion> out) {
  UncountedAllocations uncounted;  // the device's own bookkeeping, not the client's
  std::lock_guard<std::mutex> lock(net_->mu);
  Side* s = net_->Find(side_);
  if (s == nullptr) return 0;
  size_t k = 0;
  while (k < out.size() && !s->cq.empty()) {
    fake_verbs_internal::Cqe& c = s->cq.front();
    if (c.send_queue) {
      s->retired_seq = std::max(s->retired_seq, c.seq);
      --s->send_cq_pending;
    } else {
      --s->recv_cq_pending;
    }
    out[k++] = c.wc;
    s->cq.pop_front();
  }
  return static_cast<int>(k);
}

absl::Status FakeRdmaEndpoint::WaitForCompletions(absl::Duration timeout) {
  UncountedAllocations uncounted;  // the device's own bookkeeping, not the client's
  std::unique_lock<std::mutex> lock(net_->mu);
  Side* s = net_->Find(side_);
  if (s == nullptr) return absl::FailedPreconditionError("fake verbs: endpoint destroyed");
  if (!fake_verbs_internal::WaitFor(s->cv, lock, timeout,
                                    [s] { return !s->cq.empty() || !s->error.ok(); })) {
    return absl::DeadlineExceededError(
        absl::StrCat("no RDMA completion within ", absl::FormatDuration(timeout)));
  }
  if (!s->cq.empty()) return absl::OkStatus();
  return s->error;
}

absl::StatusOr<std::unique_ptr<MemoryRegion>> FakeRdmaEndpoint::RegisterMemory(
    void* addr, size_t length, MemoryAccess access) {
  UncountedAllocations uncounted;  // the device's own bookkeeping, not the client's
  std::lock_guard<std::mutex> lock(net_->mu);
  SMBD_RETURN_IF_ERROR(
      fake_verbs_internal::CountOpLocked(*net_, is_client_, FakeOp::kRegisterMemory));
  if (addr == nullptr || length == 0) {
    return absl::InvalidArgumentError("cannot register an empty memory range");
  }
  if (length > limits_.max_mr_size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "cannot register %u bytes: the device's max_mr_size is %u", length, limits_.max_mr_size));
  }
  // ibv_reg_mr(3): remote write requires local write.
  if (HasAccess(access, MemoryAccess::kRemoteWrite)) access = access | MemoryAccess::kLocalWrite;
  Side* s = net_->Find(side_);
  const int pd = s != nullptr ? s->pd : -1;
  fake_verbs_internal::RegionEntry e;
  e.pd = pd;
  e.addr = static_cast<uint8_t*>(addr);
  e.length = length;
  e.access = access;
  const uint32_t lkey = net_->NewKey();
  e.rkey = net_->NewKey();
  net_->regions[lkey] = e;
  fake_verbs_internal::RkeyEntry r;
  r.pd = pd;
  r.addr = e.addr;
  r.length = length;
  r.access = access;
  net_->rkeys[e.rkey] = r;
  return std::unique_ptr<MemoryRegion>(std::make_unique<fake_verbs_internal::FakeRegion>(
      net_, e.addr, length, lkey, e.rkey, access));
}

absl::StatusOr<std::unique_ptr<MemoryWindow>> FakeRdmaEndpoint::AllocateWindow() {
  std::lock_guard<std::mutex> lock(net_->mu);
  SMBD_RETURN_IF_ERROR(
      fake_verbs_internal::CountOpLocked(*net_, is_client_, FakeOp::kAllocateWindow));
  if (!limits_.memory_windows) {
    return absl::UnimplementedError(
        absl::StrCat("RDMA device ", limits_.device_name, " has no memory windows"));
  }
  Side* s = net_->Find(side_);
  const uint64_t id = net_->next_window++;
  net_->windows[id] = fake_verbs_internal::WindowEntry{s != nullptr ? s->pd : -1, 0};
  return std::unique_ptr<MemoryWindow>(
      std::make_unique<fake_verbs_internal::FakeWindow>(net_, id));
}

absl::Status FakeRdmaEndpoint::PostBindWindow(uint64_t wr_id, MemoryWindow* window,
                                              const MemoryRegion& region, const void* addr,
                                              size_t length, MemoryAccess access,
                                              bool signaled) {
  UncountedAllocations uncounted;  // the device's own bookkeeping, not the client's
  SMBD_FAKE_POST_PROLOGUE(FakeOp::kPostBindWindow);
  if (!limits_.memory_windows) {
    return absl::UnimplementedError(
        absl::StrCat("RDMA device ", limits_.device_name, " has no memory windows"));
  }
  auto* w = dynamic_cast<fake_verbs_internal::FakeWindow*>(window);
  if (w == nullptr || w->net() != net_.get()) {
    return absl::InvalidArgumentError("memory window does not belong to this fake network");
  }
  auto wi = net_->windows.find(w->id());
  auto ri = net_->regions.find(region.lkey());
  if (wi == net_->windows.end() || wi->second.pd != s->pd || ri == net_->regions.end() ||
      ri->second.pd != s->pd) {
    return absl::InvalidArgumentError("window or region belongs to another protection domain");
  }
  if (!fake_verbs_internal::InRange(region.addr(), region.length(),
                                    reinterpret_cast<uint64_t>(addr), length)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "window range [%p, +%u) is outside the region [%p, +%u)", addr, length, region.addr(),
        region.length()));
  }
  SMBD_RETURN_IF_ERROR(CheckSendSlotLocked(*s));
  SendWr wr;
  wr.kind = SendWr::kBind;
  wr.wr_id = wr_id;
  wr.signaled = signaled;
  wr.seq = s->next_seq++;
  wr.window_id = w->id();
  wr.region_lkey = region.lkey();
  wr.bind_addr = static_cast<uint8_t*>(const_cast<void*>(addr));
  wr.bind_length = length;
  wr.bind_access = access;
  wr.rkey = net_->NewKey();
  // The caller learns the new rkey at once (rxe: track it yourself).
  wi->second.rkey = wr.rkey;
  s->sq.push_back(std::move(wr));
  fake_verbs_internal::SettleLocked(*net_);
  return absl::OkStatus();
}

absl::Status FakeRdmaEndpoint::PostLocalInvalidate(uint64_t wr_id, uint32_t rkey, bool signaled) {
  UncountedAllocations uncounted;  // the device's own bookkeeping, not the client's
  SMBD_FAKE_POST_PROLOGUE(FakeOp::kPostLocalInvalidate);
  SMBD_RETURN_IF_ERROR(CheckSendSlotLocked(*s));
  SendWr wr;
  wr.kind = SendWr::kLocalInvalidate;
  wr.wr_id = wr_id;
  wr.signaled = signaled;
  wr.seq = s->next_seq++;
  wr.rkey = rkey;
  s->sq.push_back(std::move(wr));
  fake_verbs_internal::SettleLocked(*net_);
  return absl::OkStatus();
}

#undef SMBD_FAKE_POST_PROLOGUE

absl::Status FakeRdmaEndpoint::error() const {
  std::lock_guard<std::mutex> lock(net_->mu);
  const Side* s = net_->Find(side_);
  if (s == nullptr) return absl::FailedPreconditionError("fake verbs: endpoint destroyed");
  return s->error;
}

int FakeRdmaEndpoint::outstanding_work_requests() const {
  std::lock_guard<std::mutex> lock(net_->mu);
  const Side* s = net_->Find(side_);
  return s == nullptr ? 0 : static_cast<int>(s->sq.size() + s->rq.size());
}

void FakeRdmaEndpoint::DoDisconnect(absl::Status reason) {
  if (reason.ok()) reason = absl::UnavailableError("RDMA endpoint disconnected");
  std::lock_guard<std::mutex> lock(net_->mu);
  Side* s = net_->Find(side_);
  if (s == nullptr) return;
  net_->pending_breaks.emplace_back(side_, reason);
  net_->pending_breaks.emplace_back(
      s->peer, absl::UnavailableError(
                   absl::StrCat("RDMA connection closed by the peer: ", reason.message())));
  fake_verbs_internal::SettleLocked(*net_);
}

}  // namespace smbd
