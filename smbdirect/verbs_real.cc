// rdma-core implementation of the verbs seam. Only these files (with their test) include
// <infiniband/verbs.h> and <rdma/rdma_cma.h>:
//  - verbs_real.cc (this file): the pure translations of rdma-core values (work completions,
//    access flags, errno, rdma_cm events) declared in verbs_real.h;
//  - verbs_real_devices.cc: device discovery (ibv_get_device_list, sysfs, network interfaces);
//  - verbs_real_connect.cc: VerbsConnector, connection establishment with rdma_cm;
//  - verbs_real_endpoint.cc: VerbsEndpoint and its memory regions and windows, and teardown;
//  - verbs_real_internal.h: the RAII owners of rdma-core objects and what the files share.
#include "smbdirect/verbs_real.h"

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/str_format.h"
#include "smbdirect/verbs_real_internal.h"

namespace smbd {

// Sge mirrors struct ibv_sge, so that buffers/ can gather without verbs headers.
static_assert(sizeof(Sge) == sizeof(ibv_sge), "Sge must match ibv_sge");
static_assert(offsetof(Sge, addr) == offsetof(ibv_sge, addr), "Sge must match ibv_sge");
static_assert(offsetof(Sge, length) == offsetof(ibv_sge, length), "Sge must match ibv_sge");
static_assert(offsetof(Sge, lkey) == offsetof(ibv_sge, lkey), "Sge must match ibv_sge");

namespace verbs_internal {

// rxe (kernel 6.1) reports a SEND_WITH_INVALIDATE receive with this wc_flags bit rather than
// IBV_WC_WITH_INV (measured in the test-bed guest; the invalidated_rkey is right).
constexpr unsigned int kRxeWithInvalidateBit = 0x4;

WcStatus TranslateWcStatus(int ibv_wc_status) {
  switch (ibv_wc_status) {
    case IBV_WC_SUCCESS:
      return WcStatus::kSuccess;
    case IBV_WC_WR_FLUSH_ERR:
      return WcStatus::kFlushed;
    case IBV_WC_LOC_LEN_ERR:
      return WcStatus::kLocalLength;
    case IBV_WC_LOC_PROT_ERR:
      return WcStatus::kLocalProtection;
    case IBV_WC_REM_ACCESS_ERR:
      return WcStatus::kRemoteAccess;
    case IBV_WC_REM_INV_REQ_ERR:
      return WcStatus::kRemoteInvalidRequest;
    case IBV_WC_REM_OP_ERR:
      return WcStatus::kRemoteOperation;
    case IBV_WC_RETRY_EXC_ERR:
      return WcStatus::kRetryExceeded;
    case IBV_WC_RNR_RETRY_EXC_ERR:
      return WcStatus::kRnrRetryExceeded;
    default:
      return WcStatus::kOther;
  }
}

WorkCompletion TranslateCompletion(uint64_t wr_id, int ibv_wc_status, int ibv_wc_opcode,
                                   bool recv_queue, uint32_t byte_len, unsigned int wc_flags,
                                   uint32_t invalidated_rkey, uint32_t vendor_err) {
  WorkCompletion wc;
  wc.wr_id = wr_id;
  wc.status = TranslateWcStatus(ibv_wc_status);
  wc.vendor_err = vendor_err;
  if (wc.status != WcStatus::kSuccess) {
    // ibv_poll_cq(3): only wr_id, status, qp_num and vendor_err are valid on error.
    wc.opcode = recv_queue ? WcOpcode::kRecv : WcOpcode::kSend;
    return wc;
  }
  wc.byte_len = byte_len;
  switch (ibv_wc_opcode) {
    case IBV_WC_SEND:
      wc.opcode = WcOpcode::kSend;
      break;
    case IBV_WC_RDMA_WRITE:
      wc.opcode = WcOpcode::kRdmaWrite;
      break;
    case IBV_WC_RDMA_READ:
      wc.opcode = WcOpcode::kRdmaRead;
      break;
    case IBV_WC_LOCAL_INV:
      wc.opcode = WcOpcode::kLocalInvalidate;
      break;
    case IBV_WC_BIND_MW:
      wc.opcode = WcOpcode::kBindWindow;
      break;
    case IBV_WC_RECV:
    case IBV_WC_RECV_RDMA_WITH_IMM:
      wc.opcode = WcOpcode::kRecv;
      break;
    default:
      wc.opcode = recv_queue ? WcOpcode::kRecv : WcOpcode::kSend;
      break;
  }
  if (recv_queue && (wc_flags & (IBV_WC_WITH_INV | kRxeWithInvalidateBit)) != 0) {
    wc.with_invalidate = true;
    wc.invalidated_rkey = invalidated_rkey;
  }
  return wc;
}

int AccessFlags(MemoryAccess access, bool mw_bind) {
  int flags = 0;
  if (HasAccess(access, MemoryAccess::kLocalWrite)) flags |= IBV_ACCESS_LOCAL_WRITE;
  // ibv_reg_mr(3): REMOTE_WRITE requires LOCAL_WRITE.
  if (HasAccess(access, MemoryAccess::kRemoteWrite)) {
    flags |= IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_LOCAL_WRITE;
  }
  if (HasAccess(access, MemoryAccess::kRemoteRead)) flags |= IBV_ACCESS_REMOTE_READ;
  if (mw_bind) flags |= IBV_ACCESS_MW_BIND;
  return flags;
}

absl::Status ErrnoStatus(int err, absl::string_view what) {
  const std::string message = absl::StrFormat("%s failed: %s (errno %d)", what,
                                              err != 0 ? strerror(err) : "unknown error", err);
  switch (err) {
    case ENOMEM:
    case ENOSPC:
    case EAGAIN:
    case ENOBUFS:
      return absl::ResourceExhaustedError(message);
    case EINVAL:
      return absl::InvalidArgumentError(message);
    case ENODEV:
    case ENOENT:
    case ENXIO:
    case ENOSYS:
      return absl::NotFoundError(message);
    case EPERM:
    case EACCES:
      return absl::PermissionDeniedError(message);
    case ETIMEDOUT:
      return absl::DeadlineExceededError(message);
    case ECONNREFUSED:
    case ECONNRESET:
    case ENETUNREACH:
    case EHOSTUNREACH:
    case EADDRNOTAVAIL:
      return absl::UnavailableError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::Status CmEventStatus(int event_type, int event_status, absl::string_view step,
                           absl::string_view target) {
  const auto type = static_cast<rdma_cm_event_type>(event_type);
  const char* name = rdma_event_str(type);
  // Resolution errors carry a negative errno in `status`; a rejection carries the transport's
  // reject reason (IB: 8 = no listener on that service id).
  const std::string detail =
      event_status < 0 ? absl::StrFormat("%s, %s", name, strerror(-event_status))
                       : absl::StrFormat("%s, status %d", name, event_status);
  if (event_status == -ETIMEDOUT) {
    return absl::DeadlineExceededError(
        absl::StrFormat("RDMA %s for %s timed out (%s)", step, target, detail));
  }
  switch (type) {
    case RDMA_CM_EVENT_REJECTED:
      return absl::UnavailableError(absl::StrFormat(
          "RDMA connection to %s refused (%s): is an SMB Direct server listening there?", target,
          detail));
    case RDMA_CM_EVENT_ADDR_ERROR:
      return absl::UnavailableError(absl::StrFormat(
          "%s unreachable over RDMA: address resolution failed (%s); no RDMA device routes there",
          target, detail));
    case RDMA_CM_EVENT_ROUTE_ERROR:
      return absl::UnavailableError(absl::StrFormat(
          "%s unreachable over RDMA: route resolution failed (%s)", target, detail));
    case RDMA_CM_EVENT_UNREACHABLE:
    case RDMA_CM_EVENT_CONNECT_ERROR:
      return absl::UnavailableError(
          absl::StrFormat("%s unreachable over RDMA during %s (%s)", target, step, detail));
    case RDMA_CM_EVENT_DEVICE_REMOVAL:
      return absl::UnavailableError(
          absl::StrFormat("RDMA device removed during %s for %s (%s)", step, target, detail));
    case RDMA_CM_EVENT_DISCONNECTED:
      return absl::UnavailableError(
          absl::StrFormat("RDMA connection to %s closed during %s (%s)", target, step, detail));
    default:
      return absl::InternalError(
          absl::StrFormat("unexpected rdma_cm event during %s for %s (%s)", step, target, detail));
  }
}

int MillisCeil(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return 0;
  const int64_t ms = absl::ToInt64Milliseconds(d + absl::Milliseconds(1) - absl::Nanoseconds(1));
  return static_cast<int>(std::min<int64_t>(ms, INT_MAX));
}

}  // namespace verbs_internal
}  // namespace smbd
