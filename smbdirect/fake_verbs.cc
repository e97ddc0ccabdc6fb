#include "smbdirect/fake_verbs.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "buffers/status_macros.h"

namespace smbd {
namespace fake_verbs_internal {

// A registered region, found by its lkey.
struct RegionEntry {
  int pd = 0;
  uint8_t* addr = nullptr;
  size_t length = 0;
  MemoryAccess access = MemoryAccess::kNone;
  uint32_t rkey = 0;
};

// What an rkey names: a region (valid while registered) or one bind of a window (valid until
// invalidated, rebound or the window is freed).
struct RkeyEntry {
  bool window = false;
  int pd = 0;
  uint8_t* addr = nullptr;
  size_t length = 0;
  MemoryAccess access = MemoryAccess::kNone;
  bool valid = true;
  uint32_t region_lkey = 0;  // windows: the region the bind went to
  uint64_t window_id = 0;
};

struct WindowEntry {
  int pd = 0;
  uint32_t rkey = 0;  // latest bind (0: never bound)
};

struct SendWr {
  enum Kind { kSend, kWrite, kRead, kBind, kLocalInvalidate };
  Kind kind = kSend;
  uint64_t wr_id = 0;
  bool signaled = true;
  uint64_t seq = 0;
  std::vector<Sge> sges;
  uint64_t remote_addr = 0;
  uint32_t rkey = 0;  // RDMA: remote key; local invalidate: the key; bind: the new key
  std::optional<uint32_t> invalidate_rkey;
  // Bind.
  uint64_t window_id = 0;
  uint32_t region_lkey = 0;
  uint8_t* bind_addr = nullptr;
  size_t bind_length = 0;
  MemoryAccess bind_access = MemoryAccess::kNone;
  int rnr_tries = 0;
};

struct RecvWr {
  uint64_t wr_id = 0;
  std::vector<Sge> sges;
};

struct Cqe {
  WorkCompletion wc;
  bool send_queue = false;
  uint64_t seq = 0;
};

struct Side {
  int id = 0;
  int pd = 0;
  int peer = 0;
  bool is_client = false;
  QueueSizes sizes;
  std::deque<SendWr> sq;  // posted, not yet executed, in order
  std::deque<RecvWr> rq;
  std::deque<Cqe> cq;
  uint64_t next_seq = 1;     // sequence number of the next send-queue work request
  uint64_t retired_seq = 0;  // send-queue slots up to here are free again
  uint32_t send_cq_pending = 0;
  uint32_t recv_cq_pending = 0;
  absl::Status error;  // OK while connected
  std::condition_variable cv;
};

struct NetState {
  explicit NetState(FakeNetworkOptions o) : options(std::move(o)) {}

  std::mutex mu;
  const FakeNetworkOptions options;
  std::map<int, std::unique_ptr<Side>> sides;
  int next_side = 1;
  int next_pd = 1;
  uint32_t next_key = 0x1000;
  std::map<uint32_t, RegionEntry> regions;  // by lkey
  std::map<uint32_t, RkeyEntry> rkeys;
  std::map<uint64_t, WindowEntry> windows;
  uint64_t next_window = 1;
  std::vector<std::pair<int, absl::Status>> pending_breaks;
  int double_invalidations = 0;

  // Faults.
  int64_t op_count = 0;
  int64_t fail_at = 0;
  int64_t fail_counter = 0;
  absl::Status fail_status;
  std::optional<FakeOp> fail_only;
  std::optional<WcStatus> inject_wc;
  int64_t completion_count = 0;
  int64_t inject_wc_at = 0;
  int64_t inject_wc_counter = 0;
  WcStatus inject_wc_at_status = WcStatus::kFlushed;
  std::optional<uint32_t> inject_short;
  std::optional<absl::Status> inject_connect;

  // Accepted peer ends not yet taken.
  std::deque<std::unique_ptr<FakeRdmaEndpoint>> accepted;
  std::condition_variable accept_cv;
  std::function<void(std::unique_ptr<FakeRdmaEndpoint>)> accept_handler;
  std::function<void(bool)> destroyed_hook;

  uint32_t NewKey() {
    uint32_t key = next_key;
    next_key += 0x11;  // spread keys so that off-by-one keys are never valid
    return key;
  }
  Side* Find(int id) {
    auto it = sides.find(id);
    return it == sides.end() ? nullptr : it->second.get();
  }
  bool FaultApplies(bool is_client) const {
    switch (options.fault_side) {
      case FaultSide::kClient:
        return is_client;
      case FaultSide::kPeer:
        return !is_client;
      case FaultSide::kBoth:
        return true;
    }
    return false;
  }
};

namespace {

// Counts an operation and returns the injected failure if this is the one.
absl::Status CountOpLocked(NetState& n, bool is_client, FakeOp op) {
  if (!n.FaultApplies(is_client)) return absl::OkStatus();
  ++n.op_count;
  if (n.fail_at > 0 && (!n.fail_only.has_value() || *n.fail_only == op)) {
    if (++n.fail_counter == n.fail_at) {
      n.fail_at = 0;
      return absl::Status(n.fail_status.code(),
                          absl::StrCat(n.fail_status.message(), " (", FakeOpName(op), ")"));
    }
  }
  return absl::OkStatus();
}

WcOpcode OpcodeOf(const SendWr& wr) {
  switch (wr.kind) {
    case SendWr::kSend:
      return WcOpcode::kSend;
    case SendWr::kWrite:
      return WcOpcode::kRdmaWrite;
    case SendWr::kRead:
      return WcOpcode::kRdmaRead;
    case SendWr::kBind:
      return WcOpcode::kBindWindow;
    case SendWr::kLocalInvalidate:
      return WcOpcode::kLocalInvalidate;
  }
  return WcOpcode::kSend;
}

void AddCqeLocked(NetState& n, Side& s, Cqe cqe) {
  if (n.FaultApplies(s.is_client)) {
    ++n.completion_count;
    if (n.inject_wc_at > 0 && ++n.inject_wc_counter == n.inject_wc_at) {
      n.inject_wc_at = 0;
      if (!n.inject_wc.has_value()) n.inject_wc = n.inject_wc_at_status;
    }
  }
  if (n.inject_wc.has_value() && n.FaultApplies(s.is_client)) {
    cqe.wc.status = *n.inject_wc;
    n.inject_wc.reset();
    absl::Status reason = absl::UnavailableError(
        absl::StrCat("fake verbs: injected completion error: ", WcStatusName(cqe.wc.status)));
    n.pending_breaks.emplace_back(s.id, reason);
    n.pending_breaks.emplace_back(s.peer, reason);
  }
  uint32_t& pending = cqe.send_queue ? s.send_cq_pending : s.recv_cq_pending;
  const uint32_t capacity = cqe.send_queue ? s.sizes.send_cqe : s.sizes.recv_cqe;
  if (pending >= capacity && s.error.ok()) {
    n.pending_breaks.emplace_back(
        s.id, absl::InternalError(absl::StrFormat(
                  "fake verbs: %s completion queue overrun (%u entries)",
                  cqe.send_queue ? "send" : "receive", capacity)));
  }
  ++pending;
  s.cq.push_back(std::move(cqe));
  s.cv.notify_all();
}

// Moves `s` to the error state: every outstanding work request completes as flushed.
void BreakLocked(NetState& n, Side& s, absl::Status reason) {
  if (!s.error.ok()) return;
  if (reason.ok()) reason = absl::UnavailableError("RDMA connection broken");
  s.error = std::move(reason);
  std::deque<SendWr> sq;
  std::deque<RecvWr> rq;
  sq.swap(s.sq);
  rq.swap(s.rq);
  for (const SendWr& wr : sq) {
    Cqe cqe;
    cqe.wc.wr_id = wr.wr_id;
    cqe.wc.status = WcStatus::kFlushed;
    cqe.wc.opcode = OpcodeOf(wr);
    cqe.send_queue = true;
    cqe.seq = wr.seq;
    AddCqeLocked(n, s, cqe);
  }
  for (const RecvWr& wr : rq) {
    Cqe cqe;
    cqe.wc.wr_id = wr.wr_id;
    cqe.wc.status = WcStatus::kFlushed;
    cqe.wc.opcode = WcOpcode::kRecv;
    AddCqeLocked(n, s, cqe);
  }
  s.cv.notify_all();
}

// Completes a send-queue work request; an error also breaks `s`.
void CompleteSendLocked(NetState& n, Side& s, const SendWr& wr, WcStatus status,
                        uint32_t byte_len = 0) {
  if (status == WcStatus::kSuccess && !wr.signaled) return;
  Cqe cqe;
  cqe.wc.wr_id = wr.wr_id;
  cqe.wc.status = status;
  cqe.wc.opcode = OpcodeOf(wr);
  cqe.wc.byte_len = byte_len;
  cqe.send_queue = true;
  cqe.seq = wr.seq;
  AddCqeLocked(n, s, cqe);
  if (status != WcStatus::kSuccess) BreakLocked(n, s, CompletionError(cqe.wc));
}

void CompleteRecvLocked(NetState& n, Side& s, const RecvWr& wr, WcStatus status,
                        uint32_t byte_len = 0, std::optional<uint32_t> invalidated = {}) {
  Cqe cqe;
  cqe.wc.wr_id = wr.wr_id;
  cqe.wc.status = status;
  cqe.wc.opcode = WcOpcode::kRecv;
  cqe.wc.byte_len = byte_len;
  if (invalidated.has_value()) {
    cqe.wc.with_invalidate = true;
    cqe.wc.invalidated_rkey = *invalidated;
  }
  AddCqeLocked(n, s, cqe);
  if (status != WcStatus::kSuccess) BreakLocked(n, s, CompletionError(cqe.wc));
}

bool InRange(const uint8_t* base, size_t length, uint64_t addr, uint64_t len) {
  const uint64_t b = reinterpret_cast<uint64_t>(base);
  return addr >= b && len <= length && addr - b <= length - len;
}

struct Piece {
  uint8_t* p;
  uint64_t len;
};

// Resolves local SGEs against the regions of protection domain `pd`.
bool ResolveLocalLocked(const NetState& n, int pd, const std::vector<Sge>& sges, bool need_write,
                        std::vector<Piece>* out) {
  for (const Sge& sge : sges) {
    auto it = n.regions.find(sge.lkey);
    if (it == n.regions.end() || it->second.pd != pd) return false;
    if (!InRange(it->second.addr, it->second.length, sge.addr, sge.length)) return false;
    if (need_write && !HasAccess(it->second.access, MemoryAccess::kLocalWrite)) return false;
    out->push_back(Piece{reinterpret_cast<uint8_t*>(sge.addr), sge.length});
  }
  return true;
}

// Resolves {addr, rkey, len} at protection domain `pd` for a one-sided access.
uint8_t* ResolveRemoteLocked(const NetState& n, int pd, uint32_t rkey, uint64_t addr,
                             uint64_t len, MemoryAccess need) {
  auto it = n.rkeys.find(rkey);
  if (it == n.rkeys.end()) return nullptr;
  const RkeyEntry& e = it->second;
  if (!e.valid || e.pd != pd || !HasAccess(e.access, need)) return nullptr;
  if (e.window && !n.options.windows_enforce_range) {
    // rxe: the window's rkey reaches the whole region underneath.
    auto r = n.regions.find(e.region_lkey);
    if (r == n.regions.end()) return nullptr;
    if (!InRange(r->second.addr, r->second.length, addr, len)) return nullptr;
  } else if (!InRange(e.addr, e.length, addr, len)) {
    return nullptr;
  }
  return reinterpret_cast<uint8_t*>(addr);
}

uint64_t Total(const std::vector<Piece>& pieces) {
  uint64_t total = 0;
  for (const Piece& p : pieces) total += p.len;
  return total;
}

void CopyPieces(const std::vector<Piece>& src, const std::vector<Piece>& dst, uint64_t bytes) {
  size_t si = 0, di = 0;
  uint64_t so = 0, doff = 0;
  while (bytes > 0 && si < src.size() && di < dst.size()) {
    const uint64_t n =
        std::min({bytes, src[si].len - so, dst[di].len - doff});
    if (n > 0) std::memmove(dst[di].p + doff, src[si].p + so, n);
    so += n;
    doff += n;
    bytes -= n;
    if (so == src[si].len) ++si, so = 0;
    if (doff == dst[di].len) ++di, doff = 0;
  }
}

enum class Exec { kDone, kBlocked };

Exec ExecuteSendLocked(NetState& n, Side& s, Side& t, SendWr& wr) {
  std::vector<Piece> src;
  if (!ResolveLocalLocked(n, s.pd, wr.sges, /*need_write=*/false, &src)) {
    CompleteSendLocked(n, s, wr, WcStatus::kLocalProtection);
    return Exec::kDone;
  }
  if (t.rq.empty()) {
    // Receiver not ready: RC retries the send (rnr_retry 7: forever).
    if (n.options.rnr_retry_count >= 7 || wr.rnr_tries++ < n.options.rnr_retry_count) {
      return Exec::kBlocked;
    }
    CompleteSendLocked(n, s, wr, WcStatus::kRnrRetryExceeded);
    return Exec::kDone;
  }
  RecvWr recv = std::move(t.rq.front());
  t.rq.pop_front();

  std::optional<uint32_t> invalidated;
  if (wr.invalidate_rkey.has_value()) {
    auto it = n.rkeys.find(*wr.invalidate_rkey);
    if (it != n.rkeys.end() && it->second.window && it->second.pd == t.pd && it->second.valid) {
      it->second.valid = false;
      invalidated = *wr.invalidate_rkey;
    } else {
      if (it != n.rkeys.end() && it->second.window && !it->second.valid) ++n.double_invalidations;
      // rxe: the receive completes with REM_INV_REQ_ERR and the receiver's QP fails, while the
      // sender's send completes successfully.
      CompleteRecvLocked(n, t, recv, WcStatus::kRemoteInvalidRequest);
      CompleteSendLocked(n, s, wr, WcStatus::kSuccess);
      return Exec::kDone;
    }
  }
  std::vector<Piece> dst;
  if (!ResolveLocalLocked(n, t.pd, recv.sges, /*need_write=*/true, &dst)) {
    CompleteRecvLocked(n, t, recv, WcStatus::kLocalProtection);
    CompleteSendLocked(n, s, wr, WcStatus::kRemoteOperation);
    return Exec::kDone;
  }
  const uint64_t total = Total(src);
  if (total > Total(dst)) {
    CompleteRecvLocked(n, t, recv, WcStatus::kLocalLength);
    CompleteSendLocked(n, s, wr, WcStatus::kRemoteInvalidRequest);
    return Exec::kDone;
  }
  uint64_t placed = total;
  if (n.inject_short.has_value() && n.FaultApplies(t.is_client)) {
    placed = std::min<uint64_t>(placed, *n.inject_short);
    n.inject_short.reset();
  }
  CopyPieces(src, dst, placed);
  CompleteRecvLocked(n, t, recv, WcStatus::kSuccess, static_cast<uint32_t>(placed), invalidated);
  CompleteSendLocked(n, s, wr, WcStatus::kSuccess, static_cast<uint32_t>(total));
  return Exec::kDone;
}

void ExecuteRdmaLocked(NetState& n, Side& s, Side& t, SendWr& wr) {
  const bool write = wr.kind == SendWr::kWrite;
  std::vector<Piece> local;
  if (!ResolveLocalLocked(n, s.pd, wr.sges, /*need_write=*/!write, &local)) {
    CompleteSendLocked(n, s, wr, WcStatus::kLocalProtection);
    return;
  }
  const uint64_t len = Total(local);
  uint8_t* remote = ResolveRemoteLocked(n, t.pd, wr.rkey, wr.remote_addr, len,
                                        write ? MemoryAccess::kRemoteWrite
                                              : MemoryAccess::kRemoteRead);
  if (remote == nullptr) {
    // The responder NAKs the access and its queue pair fails too.
    n.pending_breaks.emplace_back(
        t.id, absl::UnavailableError(absl::StrFormat(
                  "RDMA connection broken: the peer's RDMA %s with rkey %#x was refused",
                  write ? "write" : "read", wr.rkey)));
    CompleteSendLocked(n, s, wr, WcStatus::kRemoteAccess);
    return;
  }
  std::vector<Piece> remote_piece = {Piece{remote, len}};
  if (write) {
    CopyPieces(local, remote_piece, len);
  } else {
    CopyPieces(remote_piece, local, len);
  }
  CompleteSendLocked(n, s, wr, WcStatus::kSuccess, static_cast<uint32_t>(len));
}

void ExecuteBindLocked(NetState& n, Side& s, SendWr& wr) {
  auto w = n.windows.find(wr.window_id);
  auto r = n.regions.find(wr.region_lkey);
  bool ok = w != n.windows.end() && r != n.regions.end() && r->second.pd == s.pd;
  if (ok) {
    // A type-2 window must be invalid (never bound or invalidated) before it is bound again.
    for (const auto& [key, e] : n.rkeys) {
      if (e.window && e.window_id == wr.window_id && e.valid) ok = false;
    }
  }
  if (!ok) {
    CompleteSendLocked(n, s, wr, WcStatus::kOther);
    return;
  }
  RkeyEntry e;
  e.window = true;
  e.pd = s.pd;
  e.addr = wr.bind_addr;
  e.length = wr.bind_length;
  e.access = wr.bind_access;
  e.region_lkey = wr.region_lkey;
  e.window_id = wr.window_id;
  n.rkeys[wr.rkey] = e;
  CompleteSendLocked(n, s, wr, WcStatus::kSuccess);
}

void ExecuteLocalInvalidateLocked(NetState& n, Side& s, SendWr& wr) {
  auto it = n.rkeys.find(wr.rkey);
  if (it != n.rkeys.end() && it->second.window && it->second.pd == s.pd && it->second.valid) {
    it->second.valid = false;
    CompleteSendLocked(n, s, wr, WcStatus::kSuccess);
    return;
  }
  // Invalidating an invalid window panics rxe; here it fails loudly and is counted.
  if (it != n.rkeys.end() && it->second.window && !it->second.valid) ++n.double_invalidations;
  CompleteSendLocked(n, s, wr, WcStatus::kOther);
}

// Executes the send queue of `s` from its head; returns whether anything happened.
bool PumpLocked(NetState& n, Side& s) {
  bool progress = false;
  while (s.error.ok() && !s.sq.empty()) {
    SendWr wr = std::move(s.sq.front());
    s.sq.pop_front();
    const bool needs_peer =
        wr.kind == SendWr::kSend || wr.kind == SendWr::kWrite || wr.kind == SendWr::kRead;
    Side* t = n.Find(s.peer);
    if (needs_peer && (t == nullptr || !t->error.ok())) {
      CompleteSendLocked(n, s, wr, WcStatus::kRetryExceeded);
      progress = true;
      continue;
    }
    switch (wr.kind) {
      case SendWr::kSend:
        if (ExecuteSendLocked(n, s, *t, wr) == Exec::kBlocked) {
          s.sq.push_front(std::move(wr));
          return progress;
        }
        break;
      case SendWr::kWrite:
      case SendWr::kRead:
        ExecuteRdmaLocked(n, s, *t, wr);
        break;
      case SendWr::kBind:
        ExecuteBindLocked(n, s, wr);
        break;
      case SendWr::kLocalInvalidate:
        ExecuteLocalInvalidateLocked(n, s, wr);
        break;
    }
    progress = true;
  }
  return progress;
}

// Runs everything that can run: deferred breaks and every send queue, until nothing changes.
void SettleLocked(NetState& n) {
  for (;;) {
    bool progress = false;
    while (!n.pending_breaks.empty()) {
      auto breaks = std::move(n.pending_breaks);
      n.pending_breaks.clear();
      for (auto& [id, reason] : breaks) {
        if (Side* s = n.Find(id); s != nullptr && s->error.ok()) {
          BreakLocked(n, *s, reason);
          progress = true;
        }
      }
    }
    for (auto& [id, side] : n.sides) {
      if (side->error.ok() && !side->sq.empty()) progress |= PumpLocked(n, *side);
    }
    if (!progress && n.pending_breaks.empty()) return;
  }
}

// Waits on `cv` until `ready()` or `timeout`; returns ready(). Very long timeouts wait forever.
template <typename Pred>
bool WaitFor(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
             absl::Duration timeout, Pred ready) {
  if (timeout >= absl::Hours(24 * 365)) {
    cv.wait(lock, ready);
    return true;
  }
  const auto deadline = std::chrono::steady_clock::now() +
                        absl::ToChronoNanoseconds(std::max(timeout, absl::ZeroDuration()));
  return cv.wait_until(lock, deadline, ready);
}

absl::Status NotConnected(const Side* s) {
  if (s == nullptr) return absl::FailedPreconditionError("fake verbs: endpoint destroyed");
  return absl::Status(s->error.code(),
                      absl::StrCat("RDMA queue pair is not connected: ", s->error.message()));
}

class FakeRegion final : public MemoryRegion {
 public:
  FakeRegion(std::shared_ptr<NetState> net, uint8_t* addr, size_t length, uint32_t lkey,
             uint32_t rkey, MemoryAccess access)
      : MemoryRegion(addr, length, lkey, rkey, access), net_(std::move(net)) {}
  ~FakeRegion() override {
    std::lock_guard<std::mutex> lock(net_->mu);
    net_->regions.erase(lkey());
    net_->rkeys.erase(rkey());
  }

 private:
  const std::shared_ptr<NetState> net_;
};

class FakeWindow final : public MemoryWindow {
 public:
  FakeWindow(std::shared_ptr<NetState> net, uint64_t id) : net_(std::move(net)), id_(id) {}
  ~FakeWindow() override {
    std::lock_guard<std::mutex> lock(net_->mu);
    net_->windows.erase(id_);
    for (auto it = net_->rkeys.begin(); it != net_->rkeys.end();) {
      if (it->second.window && it->second.window_id == id_) {
        it = net_->rkeys.erase(it);
      } else {
        ++it;
      }
    }
  }
  uint32_t rkey() const override {
    std::lock_guard<std::mutex> lock(net_->mu);
    auto it = net_->windows.find(id_);
    return it == net_->windows.end() ? 0 : it->second.rkey;
  }
  uint64_t id() const { return id_; }
  const NetState* net() const { return net_.get(); }

 private:
  const std::shared_ptr<NetState> net_;
  const uint64_t id_;
};

}  // namespace
}  // namespace fake_verbs_internal

using fake_verbs_internal::NetState;
using fake_verbs_internal::SendWr;
using fake_verbs_internal::Side;

RdmaDeviceLimits FakeDeviceLimits() {
  RdmaDeviceLimits l;
  l.device_name = "fake_rxe0";
  l.iwarp = false;
  l.max_qp_wr = 16384;
  l.max_cqe = 32767;
  l.max_send_sge = 32;
  l.max_recv_sge = 32;
  l.max_mr_size = uint64_t{1} << 32;
  l.max_pages_per_registration = 512;
  l.max_inline_data = 256;
  l.max_qp_rd_atom = 128;
  l.max_qp_init_rd_atom = 128;
  l.memory_windows = true;
  return l;
}

const char* FakeOpName(FakeOp op) {
  switch (op) {
    case FakeOp::kConnect:
      return "connect";
    case FakeOp::kRegisterMemory:
      return "register memory";
    case FakeOp::kAllocateWindow:
      return "allocate memory window";
    case FakeOp::kPostSend:
      return "post send";
    case FakeOp::kPostRecv:
      return "post receive";
    case FakeOp::kPostRdmaWrite:
      return "post RDMA write";
    case FakeOp::kPostRdmaRead:
      return "post RDMA read";
    case FakeOp::kPostBindWindow:
      return "post window bind";
    case FakeOp::kPostLocalInvalidate:
      return "post local invalidate";
  }
  return "unknown operation";
}

// --- FakeRdmaEndpoint ---

FakeRdmaEndpoint::FakeRdmaEndpoint(std::shared_ptr<NetState> net, int side,
                                   const RdmaDeviceLimits& limits, const QueueSizes& sizes,
                                   bool is_client, std::string peer_address)
    : net_(std::move(net)),
      side_(side),
      limits_(limits),
      sizes_(sizes),
      is_client_(is_client),
      peer_address_(std::move(peer_address)) {}

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

// --- FakeRdmaNetwork ---

FakeRdmaNetwork::FakeRdmaNetwork(FakeNetworkOptions options)
    : net_(std::make_shared<NetState>(std::move(options))) {}

FakeRdmaNetwork::~FakeRdmaNetwork() {
  std::deque<std::unique_ptr<FakeRdmaEndpoint>> accepted;
  {
    std::lock_guard<std::mutex> lock(net_->mu);
    accepted.swap(net_->accepted);
    net_->accept_handler = nullptr;
  }
  // Destroyed outside the lock (their destructors take it).
}

FakeEndpointPair FakeRdmaNetwork::CreatePair(const QueueSizes& client_sizes,
                                             const QueueSizes& peer_sizes) {
  std::lock_guard<std::mutex> lock(net_->mu);
  auto client = std::make_unique<Side>();
  auto peer = std::make_unique<Side>();
  client->id = net_->next_side++;
  peer->id = net_->next_side++;
  client->pd = net_->next_pd++;
  peer->pd = net_->next_pd++;
  client->peer = peer->id;
  peer->peer = client->id;
  client->is_client = true;
  client->sizes = client_sizes;
  peer->sizes = peer_sizes;
  const int client_id = client->id;
  const int peer_id = peer->id;
  net_->sides[client_id] = std::move(client);
  net_->sides[peer_id] = std::move(peer);
  FakeEndpointPair pair;
  pair.client.reset(new FakeRdmaEndpoint(net_, client_id, net_->options.client_limits,
                                         client_sizes, true, net_->options.peer_address));
  pair.peer.reset(new FakeRdmaEndpoint(net_, peer_id, net_->options.peer_limits, peer_sizes,
                                       false, "198.51.100.7:49152"));
  return pair;
}

FakeEndpointPair FakeRdmaNetwork::CreatePair(uint32_t credits, uint32_t sge) {
  absl::StatusOr<QueueSizes> c =
      SizeQueues(credits, credits, 4, net_->options.client_limits, sge, sge);
  absl::StatusOr<QueueSizes> p = SizeQueues(credits, credits, 4, net_->options.peer_limits, sge, sge);
  return CreatePair(c.ok() ? *c : QueueSizes{}, p.ok() ? *p : QueueSizes{});
}

absl::StatusOr<std::unique_ptr<RdmaEndpoint>> FakeRdmaNetwork::Connect(
    const ConnectOptions& options) {
  {
    std::lock_guard<std::mutex> lock(net_->mu);
    SMBD_RETURN_IF_ERROR(fake_verbs_internal::CountOpLocked(*net_, true, FakeOp::kConnect));
    if (net_->inject_connect.has_value()) {
      absl::Status status = *net_->inject_connect;
      net_->inject_connect.reset();
      return status;
    }
  }
  const RdmaDeviceLimits& limits = net_->options.client_limits;
  if (!options.device.empty() && options.device != limits.device_name) {
    return absl::NotFoundError(absl::StrFormat("no RDMA device named \"%s\" (the fake has \"%s\")",
                                               options.device, limits.device_name));
  }
  if (options.host.empty()) {
    return absl::UnavailableError("cannot resolve an empty RDMA server address (unreachable)");
  }
  SMBD_ASSIGN_OR_RETURN(
      QueueSizes client_sizes,
      SizeQueues(options.send_credit_target, options.receive_credit_max, options.registration_wrs,
                 limits, options.send_sge, options.recv_sge));
  SMBD_ASSIGN_OR_RETURN(
      QueueSizes peer_sizes,
      SizeQueues(net_->options.peer_send_credits, net_->options.peer_receive_credits,
                 net_->options.peer_registration_wrs, net_->options.peer_limits,
                 net_->options.peer_limits.max_send_sge, net_->options.peer_limits.max_recv_sge));
  FakeEndpointPair pair = CreatePair(client_sizes, peer_sizes);
  std::function<void(std::unique_ptr<FakeRdmaEndpoint>)> handler;
  {
    std::lock_guard<std::mutex> lock(net_->mu);
    handler = net_->accept_handler;
    if (!handler) {
      net_->accepted.push_back(std::move(pair.peer));
      net_->accept_cv.notify_all();
    }
  }
  if (handler) handler(std::move(pair.peer));
  return std::unique_ptr<RdmaEndpoint>(std::move(pair.client));
}

std::unique_ptr<FakeRdmaEndpoint> FakeRdmaNetwork::WaitForPeer(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(net_->mu);
  if (!fake_verbs_internal::WaitFor(net_->accept_cv, lock, timeout,
                                    [this] { return !net_->accepted.empty(); })) {
    return nullptr;
  }
  std::unique_ptr<FakeRdmaEndpoint> peer = std::move(net_->accepted.front());
  net_->accepted.pop_front();
  return peer;
}

void FakeRdmaNetwork::SetAcceptHandler(
    std::function<void(std::unique_ptr<FakeRdmaEndpoint>)> handler) {
  std::lock_guard<std::mutex> lock(net_->mu);
  net_->accept_handler = std::move(handler);
}

void FakeRdmaNetwork::FailNthOperation(int64_t n, absl::Status status,
                                       std::optional<FakeOp> only) {
  std::lock_guard<std::mutex> lock(net_->mu);
  net_->fail_at = n;
  net_->fail_counter = 0;
  net_->fail_status =
      status.ok() ? absl::UnavailableError("fake verbs: injected operation failure") : status;
  net_->fail_only = only;
}

int64_t FakeRdmaNetwork::operation_count() const {
  std::lock_guard<std::mutex> lock(net_->mu);
  return net_->op_count;
}

void FakeRdmaNetwork::InjectCompletionError(WcStatus status) {
  std::lock_guard<std::mutex> lock(net_->mu);
  net_->inject_wc = status;
}

void FakeRdmaNetwork::InjectCompletionErrorAt(int64_t n, WcStatus status) {
  std::lock_guard<std::mutex> lock(net_->mu);
  net_->inject_wc_at = n;
  net_->inject_wc_counter = 0;
  net_->inject_wc_at_status = status;
}

int64_t FakeRdmaNetwork::completion_count() const {
  std::lock_guard<std::mutex> lock(net_->mu);
  return net_->completion_count;
}

void FakeRdmaNetwork::InjectShortReceive(uint32_t byte_len) {
  std::lock_guard<std::mutex> lock(net_->mu);
  net_->inject_short = byte_len;
}

void FakeRdmaNetwork::InjectConnectError(absl::Status status) {
  std::lock_guard<std::mutex> lock(net_->mu);
  net_->inject_connect = std::move(status);
}

void FakeRdmaNetwork::DisconnectAll(absl::Status reason) {
  if (reason.ok()) reason = absl::UnavailableError("fake network: disconnected");
  std::lock_guard<std::mutex> lock(net_->mu);
  for (auto& [id, side] : net_->sides) net_->pending_breaks.emplace_back(id, reason);
  fake_verbs_internal::SettleLocked(*net_);
}

int FakeRdmaNetwork::live_memory_regions() const {
  std::lock_guard<std::mutex> lock(net_->mu);
  return static_cast<int>(net_->regions.size());
}

int FakeRdmaNetwork::live_memory_windows() const {
  std::lock_guard<std::mutex> lock(net_->mu);
  return static_cast<int>(net_->windows.size());
}

void FakeRdmaNetwork::SetEndpointDestroyedHook(std::function<void(bool is_client)> hook) {
  std::lock_guard<std::mutex> lock(net_->mu);
  net_->destroyed_hook = std::move(hook);
}

int FakeRdmaNetwork::live_endpoints() const {
  std::lock_guard<std::mutex> lock(net_->mu);
  return static_cast<int>(net_->sides.size());
}

int FakeRdmaNetwork::outstanding_work_requests() const {
  std::lock_guard<std::mutex> lock(net_->mu);
  size_t total = 0;
  for (const auto& [id, side] : net_->sides) total += side->sq.size() + side->rq.size();
  return static_cast<int>(total);
}

int FakeRdmaNetwork::double_invalidations() const {
  std::lock_guard<std::mutex> lock(net_->mu);
  return net_->double_invalidations;
}

}  // namespace smbd
