// Declarations shared by the files of the rdma-core implementation of the verbs seam
// (verbs_real*.cc): the RAII owners of rdma-core objects, and the helpers one file defines for
// another. Internal to //smbdirect:verbs_real; unlike verbs_real.h it includes
// <infiniband/verbs.h> and <rdma/rdma_cma.h>.
#ifndef SMBD_SMBDIRECT_VERBS_REAL_INTERNAL_H_
#define SMBD_SMBDIRECT_VERBS_REAL_INTERNAL_H_

#include <ifaddrs.h>
#include <infiniband/verbs.h>
#include <netdb.h>
#include <rdma/rdma_cma.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "smbdirect/verbs.h"
#include "smbdirect/verbs_real.h"

namespace smbd {
namespace verbs_internal {

// The most scatter-gather entries one work request carries (they are copied to the stack).
inline constexpr size_t kMaxSge = 64;

// --- RAII owners (each releases exactly one rdma-core object) ---

struct EventChannelDeleter {
  void operator()(rdma_event_channel* c) const { rdma_destroy_event_channel(c); }
};
struct CmIdDeleter {
  void operator()(rdma_cm_id* id) const { rdma_destroy_id(id); }
};
struct PdDeleter {
  void operator()(ibv_pd* pd) const { ibv_dealloc_pd(pd); }
};
struct CompChannelDeleter {
  void operator()(ibv_comp_channel* c) const { ibv_destroy_comp_channel(c); }
};
struct CqDeleter {
  void operator()(ibv_cq* cq) const { ibv_destroy_cq(cq); }
};
struct MrDeleter {
  void operator()(ibv_mr* mr) const { ibv_dereg_mr(mr); }
};
struct MwDeleter {
  void operator()(ibv_mw* mw) const { ibv_dealloc_mw(mw); }
};
struct DeviceListDeleter {
  void operator()(ibv_device** list) const { ibv_free_device_list(list); }
};
struct AddrInfoDeleter {
  void operator()(addrinfo* ai) const { freeaddrinfo(ai); }
};
struct IfAddrsDeleter {
  void operator()(ifaddrs* ifa) const { freeifaddrs(ifa); }
};

using EventChannelPtr = std::unique_ptr<rdma_event_channel, EventChannelDeleter>;
using CmIdPtr = std::unique_ptr<rdma_cm_id, CmIdDeleter>;
using PdPtr = std::unique_ptr<ibv_pd, PdDeleter>;
using CompChannelPtr = std::unique_ptr<ibv_comp_channel, CompChannelDeleter>;
using CqPtr = std::unique_ptr<ibv_cq, CqDeleter>;
using MrPtr = std::unique_ptr<ibv_mr, MrDeleter>;
using MwPtr = std::unique_ptr<ibv_mw, MwDeleter>;
using DeviceListPtr = std::unique_ptr<ibv_device*, DeviceListDeleter>;
using AddrInfoPtr = std::unique_ptr<addrinfo, AddrInfoDeleter>;
using IfAddrsPtr = std::unique_ptr<ifaddrs, IfAddrsDeleter>;

// The queue pair rdma_create_qp(3) attached to a cm_id; destroyed with rdma_destroy_qp(3).
class QueuePairOwner {
 public:
  QueuePairOwner() = default;
  explicit QueuePairOwner(rdma_cm_id* id) : id_(id) {}
  QueuePairOwner(QueuePairOwner&& other) noexcept : id_(std::exchange(other.id_, nullptr)) {}
  QueuePairOwner& operator=(QueuePairOwner&&) = delete;
  ~QueuePairOwner() {
    if (id_ != nullptr && id_->qp != nullptr) rdma_destroy_qp(id_);
  }
  ibv_qp* get() const { return id_ != nullptr ? id_->qp : nullptr; }

 private:
  rdma_cm_id* id_ = nullptr;
};

class FdOwner {
 public:
  explicit FdOwner(int fd = -1) : fd_(fd) {}
  FdOwner(FdOwner&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FdOwner& operator=(FdOwner&&) = delete;
  ~FdOwner() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// What the endpoint and every region and window made from it share: the protection domain and
// the cm_id (whose device context the PD lives on) and its event channel. Members are declared
// in reverse teardown order: PD first, then the cm_id, then the channel, then (last) the
// resources of an earlier connection whose PD this one uses instead of its own
// (ConnectOptions::protection_domain: a reconnect keeps the page pool's registrations valid).
struct CmResources {
  std::shared_ptr<CmResources> pd_owner;
  EventChannelPtr channel;
  CmIdPtr id;
  PdPtr pd;  // null when pd_owner's is used
  ibv_pd* protection_domain() const {
    return pd != nullptr ? pd.get() : pd_owner->protection_domain();
  }
};

// --- Helpers (verbs_real.cc) ---

// `d` in whole milliseconds, rounded up (0 for a duration <= 0, at most INT_MAX): the timeout
// poll(2) and rdma_cm take.
int MillisCeil(absl::Duration d);

// --- Device discovery (verbs_real_devices.cc) ---

// Network interfaces of an RDMA device, from sysfs (ports/N/gid_attrs/ndevs/M name the netdev
// of each GID; iWARP devices have none there and expose the netdev through ports/N/gid_attrs
// only when populated, so this may be empty).
std::vector<std::string> NetdevsOf(const std::string& device);

// An IP address of `family` on one of the network interfaces of RDMA device `device` (see
// NetdevsOf), to bind rdma_resolve_addr to.
absl::StatusOr<sockaddr_storage> AddressOfDevice(const std::string& device, int family);

// --- The endpoint (verbs_real_endpoint.cc) ---

// The endpoint over a connected queue pair; owns everything it is given. `peer` names the server
// ("host:port") in its errors.
std::unique_ptr<RdmaEndpoint> NewVerbsEndpoint(std::shared_ptr<CmResources> cm,
                                               CompChannelPtr comp_channel, CqPtr send_cq,
                                               CqPtr recv_cq, QueuePairOwner qp, FdOwner wake,
                                               RdmaDeviceLimits limits, QueueSizes sizes,
                                               std::string peer);

}  // namespace verbs_internal
}  // namespace smbd

#endif  // SMBD_SMBDIRECT_VERBS_REAL_INTERNAL_H_
