// The rdma-core implementation of the verbs seam (libibverbs + librdmacm). This header is
// verbs-free; only the verbs_real*.cc files include <infiniband/verbs.h> and <rdma/rdma_cma.h>.
#ifndef SMBD_SMBDIRECT_VERBS_REAL_H_
#define SMBD_SMBDIRECT_VERBS_REAL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "smbdirect/verbs.h"

namespace smbd {

struct RdmaDeviceInfo {
  std::string name;                   // "rxe0"
  bool iwarp = false;                 // IBV_TRANSPORT_IWARP: SMB Direct on port 5445
  std::vector<std::string> netdevs;   // network interfaces under the device's ports ("eth0")
};

// The RDMA devices of this machine (ibv_get_device_list(3)). An empty list is not an error.
absl::StatusOr<std::vector<RdmaDeviceInfo>> ListRdmaDevices();

// Whether the named device is iWARP (then connect to kSmbDirectIwarpPort); NotFound if there is
// no such device.
absl::StatusOr<bool> IsIwarpDevice(absl::string_view device_name);

// Connects with rdma_cm and returns endpoints over real queue pairs. Work request id
// kDrainWrId is reserved for the drain at teardown.
std::unique_ptr<RdmaConnector> NewVerbsConnector();

// What protects registered memory across fork(2) in this process; NewVerbsConnector establishes
// it before any registration (see verbs_real_connect.cc).
enum class ForkSafety {
  kKernelCopiesPinnedPages,  // Linux 5.13 and later: nothing needed
  kDontForkRegistrations,    // ibv_fork_init: registered pages are absent in children
  kUnprotected,              // ibv_fork_init failed: do not fork while I/O runs
};
ForkSafety EnsureForkSafety();
inline constexpr uint64_t kDrainWrId = ~uint64_t{0};

namespace verbs_internal {

// Pure helpers of the verbs_real*.cc files, exposed for tests; they take the rdma-core values as
// integers so that this header stays verbs-free.

// ibv_wc_status -> WcStatus.
WcStatus TranslateWcStatus(int ibv_wc_status);

// One ibv_wc -> WorkCompletion. `recv_queue`: the completion came from the receive CQ (the
// opcode of a failed completion is undefined, so the queue decides). The invalidation flag is
// taken from IBV_WC_WITH_INV or from bit 0x4, where rxe (kernel 6.1) reports it.
WorkCompletion TranslateCompletion(uint64_t wr_id, int ibv_wc_status, int ibv_wc_opcode,
                                   bool recv_queue, uint32_t byte_len, unsigned int wc_flags,
                                   uint32_t invalidated_rkey, uint32_t vendor_err);

// MemoryAccess -> IBV_ACCESS_* flags. Remote write implies local write (ibv_reg_mr(3));
// `mw_bind` adds IBV_ACCESS_MW_BIND.
int AccessFlags(MemoryAccess access, bool mw_bind);

// An errno from a verbs call as a status naming the call.
absl::Status ErrnoStatus(int err, absl::string_view what);

// An rdma_cm event that was not the one a connection step waited for, as a status: REJECTED
// -> Unavailable ("refused"), ADDR_ERROR/ROUTE_ERROR/UNREACHABLE/CONNECT_ERROR -> Unavailable
// ("unreachable"), DEVICE_REMOVAL -> Unavailable, anything else -> Internal.
absl::Status CmEventStatus(int event_type, int event_status, absl::string_view step,
                           absl::string_view target);

// Pages of 4 KiB one peer registration may span on this device: rxe and siw (soft providers,
// page list limit 512) get 512; others are bounded by max_mr_size, at most 2048.
uint32_t PagesPerRegistration(absl::string_view device_name, uint64_t max_mr_size);

}  // namespace verbs_internal
}  // namespace smbd

#endif  // SMBD_SMBDIRECT_VERBS_REAL_H_
