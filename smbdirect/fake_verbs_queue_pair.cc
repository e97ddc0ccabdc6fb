// The queue-pair machinery of FakeRdmaNetwork: executing the send queues against the peers'
// receive queues and memory, producing completions, fault injection, and breaking connections
// (every outstanding work request flushes).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "smbdirect/fake_verbs.h"
#include "smbdirect/fake_verbs_internal.h"
#include "smbdirect/verbs.h"

namespace smbd {
namespace fake_verbs_internal {

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

bool InRange(const uint8_t* base, size_t length, uint64_t addr, uint64_t len) {
  const uint64_t b = reinterpret_cast<uint64_t>(base);
  return addr >= b && len <= length && addr - b <= length - len;
}

namespace {

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
    // ibv_bind_mw(3): the region needs IBV_ACCESS_MW_BIND (the real RegisterMemory sets it for
    // kWindowBind and for remote rights), and a window the peer may write needs a region with
    // local write.
    const MemoryAccess ra = r->second.access;
    const bool bindable = HasAccess(ra, MemoryAccess::kWindowBind) ||
                          HasAccess(ra, MemoryAccess::kRemoteWrite) ||
                          HasAccess(ra, MemoryAccess::kRemoteRead);
    if (!bindable) ok = false;
    if (HasAccess(wr.bind_access, MemoryAccess::kRemoteWrite) &&
        !HasAccess(ra, MemoryAccess::kLocalWrite)) {
      ok = false;
    }
  }
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

}  // namespace

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

absl::Status NotConnected(const Side* s) {
  if (s == nullptr) return absl::FailedPreconditionError("fake verbs: endpoint destroyed");
  return absl::Status(s->error.code(),
                      absl::StrCat("RDMA queue pair is not connected: ", s->error.message()));
}

}  // namespace fake_verbs_internal
}  // namespace smbd
