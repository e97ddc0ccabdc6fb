// Connection establishment for the rdma-core verbs seam (VerbsConnector).
//
// Connection setup follows rdma_cm(7): create an event channel and an RDMA_PS_TCP id, resolve
// the address and the route (each bounded by a timeout), allocate the protection domain,
// completion channel, completion queues and the RC queue pair on the device the route chose,
// rdma_connect(3), and wait for RDMA_CM_EVENT_ESTABLISHED. The endpoint then owns everything
// (verbs_real_endpoint.cc tears it down).
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <netdb.h>
#include <poll.h>
#include <rdma/rdma_cma.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "smbdirect/verbs.h"
#include "smbdirect/verbs_real.h"
#include "smbdirect/verbs_real_internal.h"

namespace smbd {
namespace verbs_internal {
namespace {

absl::Status SetNonBlocking(int fd, absl::string_view what) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return ErrnoStatus(errno, absl::StrCat("fcntl(O_NONBLOCK) on ", what));
  }
  return absl::OkStatus();
}

// Waits for the next event on `channel` (non-blocking fd) and checks it is `expected`.
absl::Status WaitCmEvent(rdma_event_channel* channel, rdma_cm_event_type expected,
                         absl::Duration timeout, absl::string_view step,
                         absl::string_view target) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    rdma_cm_event* event = nullptr;
    if (rdma_get_cm_event(channel, &event) == 0) {
      const rdma_cm_event_type type = event->event;
      const int status = event->status;
      rdma_ack_cm_event(event);
      if (type == expected) return absl::OkStatus();
      return verbs_internal::CmEventStatus(type, status, step, target);
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return ErrnoStatus(errno, absl::StrCat("rdma_get_cm_event during ", step));
    }
    const absl::Duration remaining = deadline - absl::Now();
    if (remaining <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrFormat(
          "RDMA %s for %s timed out after %s", step, target, absl::FormatDuration(timeout)));
    }
    pollfd p{channel->fd, POLLIN, 0};
    if (poll(&p, 1, MillisCeil(remaining)) < 0 && errno != EINTR) {
      return ErrnoStatus(errno, "poll on the rdma_cm event channel");
    }
  }
}

absl::StatusOr<AddrInfoPtr> Resolve(const std::string& host, uint16_t port, bool numeric) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (numeric) hints.ai_flags = AI_NUMERICHOST;
  addrinfo* raw = nullptr;
  const std::string service = std::to_string(port);
  const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &raw);
  if (rc != 0 || raw == nullptr) {
    return absl::UnavailableError(
        absl::StrFormat("cannot resolve \"%s\" (unreachable): %s", host, gai_strerror(rc)));
  }
  return AddrInfoPtr(raw);
}

// --- The connector ---

class VerbsConnector final : public RdmaConnector {
 public:
  absl::StatusOr<std::unique_ptr<RdmaEndpoint>> Connect(const ConnectOptions& options) override {
    return ConnectVia(options, "");
  }

 private:
  // `iwarp_device`: the iWARP device a first pass with port 0 resolved to; the second pass
  // (port 5445) must reach the server through it too, or the port would not be that device's.
  absl::StatusOr<std::unique_ptr<RdmaEndpoint>> ConnectVia(const ConnectOptions& options,
                                                           const std::string& iwarp_device);
};

absl::StatusOr<std::unique_ptr<RdmaEndpoint>> VerbsConnector::ConnectVia(
    const ConnectOptions& options, const std::string& iwarp_device) {
  // Port 0: by the device the route uses ([MS-SMBD] 2.1), known only after address resolution.
  // Resolved for 445 (InfiniBand and RoCE, the common case); an iWARP device is resolved again
  // for 5445 below.
  const bool by_device = options.port == 0;
  const uint16_t port = by_device ? kSmbDirectPort : options.port;
  // "host:port", "[ipv6]:port" (the endpoint's peer_address(), which SmbDirectTransport splits).
  const bool v6 = absl::StrContains(options.host, ':');
  const std::string target = v6 ? absl::StrFormat("[%s]:%u", options.host, port)
                                : absl::StrFormat("%s:%u", options.host, port);
  if (options.host.empty()) return absl::InvalidArgumentError("no SMB Direct server given");

  // 1. Is there an RDMA device at all (and the named one)?
  SMBD_ASSIGN_OR_RETURN(std::vector<RdmaDeviceInfo> devices, ListRdmaDevices());
  if (devices.empty() && !options.device.empty()) {
    return absl::NotFoundError(absl::StrFormat(
        "no RDMA device named %s: this machine has no RDMA device at all", options.device));
  }
  if (devices.empty()) {
    return absl::NotFoundError(absl::StrFormat(
        "no RDMA device found (ibv_get_device_list is empty) to reach %s; load a provider "
        "(e.g. `rdma link add rxe0 type rxe netdev eth0`) or use TCP",
        target));
  }
  if (!options.device.empty()) {
    const bool found = std::any_of(devices.begin(), devices.end(), [&](const RdmaDeviceInfo& d) {
      return d.name == options.device;
    });
    if (!found) {
      std::vector<std::string> names;
      for (const RdmaDeviceInfo& d : devices) names.push_back(d.name);
      return absl::NotFoundError(absl::StrFormat("no RDMA device named %s (present: %s)",
                                                 options.device, absl::StrJoin(names, ", ")));
    }
  }

  // 2. Addresses.
  SMBD_ASSIGN_OR_RETURN(AddrInfoPtr dst, Resolve(options.host, port, false));
  sockaddr_storage src{};
  bool have_src = false;
  if (!options.source_address.empty()) {
    SMBD_ASSIGN_OR_RETURN(AddrInfoPtr s, Resolve(options.source_address, 0, true));
    std::memcpy(&src, s->ai_addr, s->ai_addrlen);
    have_src = true;
  } else if (!options.device.empty()) {
    SMBD_ASSIGN_OR_RETURN(src, AddressOfDevice(options.device, dst->ai_family));
    have_src = true;
  }

  // 3. rdma_cm id on a non-blocking event channel.
  auto cm = std::make_shared<CmResources>();
  cm->channel.reset(rdma_create_event_channel());
  if (cm->channel == nullptr) {
    const int err = errno;
    return absl::NotFoundError(absl::StrFormat(
        "rdma_create_event_channel failed: %s; is /dev/infiniband/rdma_cm present (module "
        "rdma_ucm)?",
        strerror(err)));
  }
  SMBD_RETURN_IF_ERROR(SetNonBlocking(cm->channel->fd, "the rdma_cm event channel"));
  rdma_cm_id* id = nullptr;
  if (rdma_create_id(cm->channel.get(), &id, nullptr, RDMA_PS_TCP) != 0) {
    return ErrnoStatus(errno, "rdma_create_id");
  }
  cm->id.reset(id);

  // 4. Address and route (5 s each by default).
  if (rdma_resolve_addr(id, have_src ? reinterpret_cast<sockaddr*>(&src) : nullptr,
                        dst->ai_addr, MillisCeil(options.resolve_address_timeout)) != 0) {
    const int err = errno;
    return absl::UnavailableError(absl::StrFormat(
        "%s unreachable over RDMA: rdma_resolve_addr failed: %s", target, strerror(err)));
  }
  SMBD_RETURN_IF_ERROR(WaitCmEvent(cm->channel.get(), RDMA_CM_EVENT_ADDR_RESOLVED,
                                   options.resolve_address_timeout + absl::Milliseconds(500),
                                   "address resolution", target));
  if (id->verbs == nullptr) {
    return absl::NotFoundError(
        absl::StrFormat("%s resolves to no RDMA device (the route is not over RDMA)", target));
  }
  const std::string device_name = ibv_get_device_name(id->verbs->device);
  if (!options.device.empty() && device_name != options.device) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "the route to %s uses RDMA device %s, not %s", target, device_name, options.device));
  }
  if (!iwarp_device.empty() && device_name != iwarp_device) {
    return absl::UnavailableError(absl::StrFormat(
        "the route to %s changed from RDMA device %s to %s while connecting", target,
        iwarp_device, device_name));
  }
  if (by_device && std::any_of(devices.begin(), devices.end(), [&](const RdmaDeviceInfo& d) {
        return d.name == device_name && d.iwarp;
      })) {
    // iWARP: the server listens on 5445. The port is part of the address this id was resolved
    // for (rdma_connect uses it as the TCP port), so resolve again with it; this id and its
    // event channel are freed on return.
    ConnectOptions again = options;
    again.port = kSmbDirectIwarpPort;
    return ConnectVia(again, device_name);
  }
  if (rdma_resolve_route(id, MillisCeil(options.resolve_route_timeout)) != 0) {
    const int err = errno;
    return absl::UnavailableError(absl::StrFormat(
        "%s unreachable over RDMA: rdma_resolve_route failed: %s", target, strerror(err)));
  }
  SMBD_RETURN_IF_ERROR(WaitCmEvent(cm->channel.get(), RDMA_CM_EVENT_ROUTE_RESOLVED,
                                   options.resolve_route_timeout + absl::Milliseconds(500),
                                   "route resolution", target));

  // 5. Device limits and queue sizes.
  ibv_device_attr attr{};
  if (int rc = ibv_query_device(id->verbs, &attr); rc != 0) {
    return ErrnoStatus(rc, absl::StrCat("ibv_query_device on ", device_name));
  }
  RdmaDeviceLimits limits;
  limits.device_name = device_name;
  // The sysfs node type, as for the port (ListRdmaDevices), or the transport type.
  limits.iwarp = id->verbs->device->transport_type == IBV_TRANSPORT_IWARP ||
                 std::any_of(devices.begin(), devices.end(), [&](const RdmaDeviceInfo& d) {
                   return d.name == device_name && d.iwarp;
                 });
  limits.max_qp_wr = static_cast<uint32_t>(std::max(attr.max_qp_wr, 0));
  limits.max_cqe = static_cast<uint32_t>(std::max(attr.max_cqe, 0));
  limits.max_send_sge = static_cast<uint32_t>(std::max(attr.max_sge, 0));
  limits.max_recv_sge = static_cast<uint32_t>(std::max(attr.max_sge, 0));
  limits.max_mr_size = attr.max_mr_size;
  limits.max_pages_per_registration =
      verbs_internal::PagesPerRegistration(device_name, attr.max_mr_size);
  limits.max_inline_data = 0;
  limits.max_qp_rd_atom = static_cast<uint32_t>(std::max(attr.max_qp_rd_atom, 0));
  limits.max_qp_init_rd_atom = static_cast<uint32_t>(std::max(attr.max_qp_init_rd_atom, 0));
  limits.memory_windows =
      (attr.device_cap_flags & (IBV_DEVICE_MEM_WINDOW_TYPE_2A | IBV_DEVICE_MEM_WINDOW_TYPE_2B)) !=
      0;
  // rxe's windows reach their whole region (measured on 6.1 and 6.12, issue #15); other devices
  // are taken at the specification's word, which SmbDirectOptions::registration can overrule.
  limits.windows_isolate = limits.memory_windows && !absl::StartsWith(device_name, "rxe");
  SMBD_ASSIGN_OR_RETURN(
      QueueSizes sizes,
      SizeQueues(options.send_credit_target, options.receive_credit_max, options.registration_wrs,
                 limits, std::min<uint32_t>(options.send_sge, kMaxSge),
                 std::min<uint32_t>(options.recv_sge, kMaxSge)));

  // 6. PD, completion channel, CQs, QP. Locals unwind in reverse order on failure.
  if (options.protection_domain != nullptr) {
    // Only a real endpoint's handle (RdmaEndpoint::protection_domain) is one of these.
    auto owner = std::static_pointer_cast<CmResources>(options.protection_domain);
    if (owner->id == nullptr || owner->id->verbs != id->verbs) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "the route to %s now uses RDMA device %s, not the one the memory was registered with",
          target, device_name));
    }
    cm->pd_owner = std::move(owner);
  } else {
    cm->pd.reset(ibv_alloc_pd(id->verbs));
    if (cm->pd == nullptr) return ErrnoStatus(errno, "ibv_alloc_pd");
  }
  CompChannelPtr comp_channel(ibv_create_comp_channel(id->verbs));
  if (comp_channel == nullptr) return ErrnoStatus(errno, "ibv_create_comp_channel");
  SMBD_RETURN_IF_ERROR(SetNonBlocking(comp_channel->fd, "the completion channel"));
  CqPtr send_cq(ibv_create_cq(id->verbs, static_cast<int>(sizes.send_cqe), nullptr,
                              comp_channel.get(), 0));
  if (send_cq == nullptr) return ErrnoStatus(errno, "ibv_create_cq (send)");
  CqPtr recv_cq(ibv_create_cq(id->verbs, static_cast<int>(sizes.recv_cqe), nullptr,
                              comp_channel.get(), 0));
  if (recv_cq == nullptr) return ErrnoStatus(errno, "ibv_create_cq (receive)");
  ibv_qp_init_attr qp_attr{};
  qp_attr.send_cq = send_cq.get();
  qp_attr.recv_cq = recv_cq.get();
  qp_attr.qp_type = IBV_QPT_RC;
  qp_attr.sq_sig_all = 0;
  qp_attr.cap.max_send_wr = sizes.send_wr;
  qp_attr.cap.max_recv_wr = sizes.recv_wr;
  qp_attr.cap.max_send_sge = sizes.send_sge;
  qp_attr.cap.max_recv_sge = sizes.recv_sge;
  qp_attr.cap.max_inline_data = 0;
  if (rdma_create_qp(id, cm->protection_domain(), &qp_attr) != 0) {
    return ErrnoStatus(errno, absl::StrFormat("rdma_create_qp (send %u x %u SGE, receive %u x %u)",
                                              sizes.send_wr, sizes.send_sge, sizes.recv_wr,
                                              sizes.recv_sge));
  }
  QueuePairOwner qp(id);
  FdOwner wake(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (wake.get() < 0) return ErrnoStatus(errno, "eventfd");

  // 7. Connect ([MS-SMBD] 3.1.5.2): no private data; the server reads through RDMA READ from
  // us (SMB2 WRITE), so we accept that many incoming reads (responder resources).
  rdma_conn_param param{};
  param.responder_resources = static_cast<uint8_t>(
      std::min<int>(options.responder_resources, attr.max_qp_rd_atom));
  param.initiator_depth = static_cast<uint8_t>(
      std::min<int>(options.initiator_depth, attr.max_qp_init_rd_atom));
  param.retry_count = std::min<uint8_t>(options.retry_count, 7);
  param.rnr_retry_count = std::min<uint8_t>(options.rnr_retry_count, 7);
  param.flow_control = 1;
  if (rdma_connect(id, &param) != 0) {
    return ErrnoStatus(errno, absl::StrCat("rdma_connect to ", target));
  }
  SMBD_RETURN_IF_ERROR(WaitCmEvent(cm->channel.get(), RDMA_CM_EVENT_ESTABLISHED,
                                   options.connect_timeout, "connect", target));

  return NewVerbsEndpoint(std::move(cm), std::move(comp_channel), std::move(send_cq),
                          std::move(recv_cq), std::move(qp), std::move(wake), std::move(limits),
                          sizes, target);
}

}  // namespace
}  // namespace verbs_internal

// Fork safety: a child made by fork(2) shares the parent's pages copy-on-write, and before
// Linux 5.13 the parent's next write to a registered page moved it away from what the device
// had mapped (data silently going to the child's copy). Since 5.13 the kernel copies pinned
// pages at fork instead, and rdma-core reports IBV_FORK_UNNEEDED. Where it does not, turn on
// rdma-core's madvise(MADV_DONTFORK) protection (as RDMAV_FORK_SAFE=1 would) before the first
// registration; registered memory then simply does not exist in a child.
ForkSafety EnsureForkSafety() {
  static const ForkSafety state = [] {
    switch (ibv_is_fork_initialized()) {
      case IBV_FORK_UNNEEDED:
        return ForkSafety::kKernelCopiesPinnedPages;
      case IBV_FORK_ENABLED:
        return ForkSafety::kDontForkRegistrations;
      case IBV_FORK_DISABLED:
      default:
        return ibv_fork_init() == 0 ? ForkSafety::kDontForkRegistrations
                                    : ForkSafety::kUnprotected;
    }
  }();
  return state;
}

std::unique_ptr<RdmaConnector> NewVerbsConnector() {
  EnsureForkSafety();
  return std::make_unique<verbs_internal::VerbsConnector>();
}

}  // namespace smbd
