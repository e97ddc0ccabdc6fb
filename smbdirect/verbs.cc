// The verbs-free parts of the seam: queue sizing, names, and the slab registrar for PagePool.
#include "smbdirect/verbs.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/str_format.h"

namespace smbd {

absl::StatusOr<QueueSizes> SizeQueues(uint32_t send_credit_target, uint32_t receive_credit_max,
                                      uint32_t registration_wrs, const RdmaDeviceLimits& limits,
                                      uint32_t wanted_send_sge, uint32_t wanted_recv_sge) {
  if (send_credit_target == 0 || receive_credit_max == 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "SMB Direct needs at least one credit each way (send credit target %u, receive credit "
        "maximum %u)",
        send_credit_target, receive_credit_max));
  }
  if (wanted_send_sge == 0 || wanted_recv_sge == 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "a work request needs at least one scatter-gather entry (asked for %u send, %u receive)",
        wanted_send_sge, wanted_recv_sge));
  }
  const std::string device =
      limits.device_name.empty() ? std::string("RDMA device") : "RDMA device " + limits.device_name;
  if (limits.max_send_sge == 0 || limits.max_recv_sge == 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s allows no scatter-gather entries (max_send_sge %u, max_recv_sge %u)", device,
        limits.max_send_sge, limits.max_recv_sge));
  }
  // A queue's completions must all fit its completion queue, so the usable depth is the smaller
  // of the two limits. Work in 64 bits: registration_wrs comes from configuration.
  const uint64_t depth_cap = std::min<uint64_t>(limits.max_qp_wr, limits.max_cqe);
  const uint64_t overhead = uint64_t{registration_wrs} + 1;  // + 1: the drain work request
  if (depth_cap < overhead + 1) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s allows %u work requests per queue and %u completion queue entries; SMB Direct needs "
        "at least %u on the send queue (1 credit + %u registration + 1 drain)",
        device, limits.max_qp_wr, limits.max_cqe, overhead + 1, registration_wrs));
  }
  QueueSizes q;
  q.send_credits = static_cast<uint32_t>(std::min<uint64_t>(send_credit_target, depth_cap - overhead));
  q.receive_credits = static_cast<uint32_t>(std::min<uint64_t>(receive_credit_max, depth_cap));
  q.registration_wrs = registration_wrs;
  q.send_wr = static_cast<uint32_t>(q.send_credits + overhead);
  q.recv_wr = q.receive_credits;
  q.send_cqe = q.send_wr;
  q.recv_cqe = q.recv_wr;
  q.send_sge = std::min(wanted_send_sge, limits.max_send_sge);
  q.recv_sge = std::min(wanted_recv_sge, limits.max_recv_sge);
  return q;
}

const char* WcStatusName(WcStatus status) {
  switch (status) {
    case WcStatus::kSuccess:
      return "success";
    case WcStatus::kFlushed:
      return "flushed (WR_FLUSH_ERR)";
    case WcStatus::kLocalLength:
      return "local length error (LOC_LEN_ERR)";
    case WcStatus::kLocalProtection:
      return "local protection error (LOC_PROT_ERR)";
    case WcStatus::kRemoteAccess:
      return "remote access error (REM_ACCESS_ERR)";
    case WcStatus::kRemoteInvalidRequest:
      return "remote invalid request (REM_INV_REQ_ERR)";
    case WcStatus::kRemoteOperation:
      return "remote operation error (REM_OP_ERR)";
    case WcStatus::kRetryExceeded:
      return "transport retry counter exceeded (RETRY_EXC_ERR)";
    case WcStatus::kRnrRetryExceeded:
      return "receiver-not-ready retry counter exceeded (RNR_RETRY_EXC_ERR)";
    case WcStatus::kOther:
      return "other completion error";
  }
  return "unknown completion status";
}

const char* WcOpcodeName(WcOpcode opcode) {
  switch (opcode) {
    case WcOpcode::kSend:
      return "send";
    case WcOpcode::kRecv:
      return "receive";
    case WcOpcode::kRdmaWrite:
      return "RDMA write";
    case WcOpcode::kRdmaRead:
      return "RDMA read";
    case WcOpcode::kLocalInvalidate:
      return "local invalidate";
    case WcOpcode::kBindWindow:
      return "memory window bind";
  }
  return "unknown work request";
}

absl::Status CompletionError(const WorkCompletion& wc) {
  if (wc.status == WcStatus::kSuccess) return absl::OkStatus();
  std::string message = absl::StrFormat("RDMA %s (wr_id %#x) failed: %s", WcOpcodeName(wc.opcode),
                                        wc.wr_id, WcStatusName(wc.status));
  if (wc.vendor_err != 0) absl::StrAppendFormat(&message, ", vendor error %#x", wc.vendor_err);
  // A flush is the consequence of an earlier error or a disconnect, not a cause.
  if (wc.status == WcStatus::kFlushed) return absl::UnavailableError(message);
  return absl::InternalError(message);
}

absl::StatusOr<SlabRegistration> RdmaEndpoint::SlabRegistrar::Register(void* addr, size_t length) {
  // Pool memory is only ever read by local sends and written by local receives; the peer reaches
  // an I/O's memory only through a per-I/O registration. The lock is held across the
  // registration so that the endpoint cannot be destroyed meanwhile (Detach takes it too).
  std::lock_guard<std::mutex> lock(mu_);
  if (endpoint_ == nullptr) {
    return absl::FailedPreconditionError("RDMA endpoint is gone: cannot register pool memory");
  }
  absl::StatusOr<std::unique_ptr<MemoryRegion>> region =
      endpoint_->RegisterMemory(addr, length, MemoryAccess::kLocalWrite);
  if (!region.ok()) return region.status();
  SlabRegistration registration;
  registration.lkey = (*region)->lkey();
  registration.cookie = next_cookie_++;
  regions_.emplace(registration.cookie, *std::move(region));
  return registration;
}

void RdmaEndpoint::SlabRegistrar::Detach() {
  std::lock_guard<std::mutex> lock(mu_);
  endpoint_ = nullptr;
}

void RdmaEndpoint::SlabRegistrar::Deregister(const SlabRegistration& registration) {
  std::unique_ptr<MemoryRegion> region;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = regions_.find(registration.cookie);
    if (it == regions_.end()) return;
    region = std::move(it->second);
    regions_.erase(it);
  }
  // Deregistered here, outside the lock.
}

}  // namespace smbd
