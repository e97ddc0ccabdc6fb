// The state of a FakeRdmaNetwork (testonly) and what the files of its implementation share:
// fake_verbs_queue_pair.cc (executing work requests, completions, breaking connections),
// fake_verbs_memory.cc (FakeRegion, FakeWindow), fake_verbs_endpoint.cc (FakeRdmaEndpoint) and
// fake_verbs.cc (FakeRdmaNetwork, the connector). Everything here is guarded by NetState::mu.
#ifndef SMBD_SMBDIRECT_FAKE_VERBS_INTERNAL_H_
#define SMBD_SMBDIRECT_FAKE_VERBS_INTERNAL_H_

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "smbdirect/fake_verbs.h"
#include "smbdirect/verbs.h"

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

// --- The queue-pair machinery (fake_verbs_queue_pair.cc) ---

// Counts an operation and returns the injected failure if this is the one.
absl::Status CountOpLocked(NetState& n, bool is_client, FakeOp op);

// Whether [addr, addr + len) lies within [base, base + length).
bool InRange(const uint8_t* base, size_t length, uint64_t addr, uint64_t len);

// Runs everything that can run: deferred breaks and every send queue, until nothing changes.
void SettleLocked(NetState& n);

// The error of a post on side `s` that is not connected (nullptr: the endpoint is gone).
absl::Status NotConnected(const Side* s);

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

// --- Memory regions and windows (fake_verbs_memory.cc) ---

// A registered region; unregisters itself (its lkey and rkey) when destroyed.
class FakeRegion final : public MemoryRegion {
 public:
  FakeRegion(std::shared_ptr<NetState> net, uint8_t* addr, size_t length, uint32_t lkey,
             uint32_t rkey, MemoryAccess access)
      : MemoryRegion(addr, length, lkey, rkey, access), net_(std::move(net)) {}
  ~FakeRegion() override;

 private:
  const std::shared_ptr<NetState> net_;
};

// A type-2 memory window; frees itself and every rkey bound through it when destroyed.
class FakeWindow final : public MemoryWindow {
 public:
  FakeWindow(std::shared_ptr<NetState> net, uint64_t id) : net_(std::move(net)), id_(id) {}
  ~FakeWindow() override;
  uint32_t rkey() const override;
  uint64_t id() const { return id_; }
  const NetState* net() const { return net_.get(); }

 private:
  const std::shared_ptr<NetState> net_;
  const uint64_t id_;
};

}  // namespace fake_verbs_internal
}  // namespace smbd

#endif  // SMBD_SMBDIRECT_FAKE_VERBS_INTERNAL_H_
