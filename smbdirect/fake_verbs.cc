// FakeRdmaNetwork (the connector and fault injector) and the fake device. The endpoints are in
// fake_verbs_endpoint.cc, the queue-pair machinery in fake_verbs_queue_pair.cc, regions and
// windows in fake_verbs_memory.cc; fake_verbs_internal.h holds the shared state.
#include "smbdirect/fake_verbs.h"

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "smbdirect/fake_verbs_internal.h"
#include "smbdirect/verbs.h"

namespace smbd {

using fake_verbs_internal::NetState;
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
