#include "connect/connect.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "smb2/tcp_transport.h"
#include "smbdirect/verbs_real.h"

namespace smbd {

absl::StatusOr<TransportChoice> ParseTransportChoice(absl::string_view name) {
  const std::string n = absl::AsciiStrToLower(name);
  if (n == "auto") return TransportChoice::kAuto;
  if (n == "rdma" || n == "smbdirect") return TransportChoice::kRdma;
  if (n == "tcp") return TransportChoice::kTcp;
  return absl::InvalidArgumentError(absl::StrCat("unknown transport '", name,
                                                 "' (auto, rdma or tcp)"));
}

namespace {

// The SMB Direct port: the one the caller gave; else the named device's ([MS-SMBD] 2.1: 5445
// over iWARP, 445 otherwise); else 0, which the connector resolves by the device the route to
// the host uses (a user on an iWARP NIC who names no device still reaches port 5445).
uint16_t RdmaPort(const ConnectSpec& spec) {
  if (spec.port != 0) return spec.port;
  if (!spec.rdma_device.empty()) {
    absl::StatusOr<bool> w = IsIwarpDevice(spec.rdma_device);
    if (w.ok()) return SmbDirectPortFor(*w);
  }
  return 0;
}

// An SMB Direct transport to `co`'s host with a page pool of its own, registered with the new
// endpoint's protection domain, which the transport owns: an SMB Direct channel of a client
// whose first connection is TCP (and whose pool is not registered).
absl::StatusOr<std::unique_ptr<Transport>> RdmaTransportWithOwnPool(
    RdmaConnector* connector, const ConnectOptions& co, const SmbDirectOptions& smbdirect,
    size_t pool_bytes) {
  SMBD_ASSIGN_OR_RETURN(std::unique_ptr<RdmaEndpoint> endpoint, connector->Connect(co));
  std::shared_ptr<MemoryRegistrar> registrar = endpoint->registrar_handle();
  PagePoolOptions po;
  po.max_bytes = pool_bytes;
  po.registrar = registrar.get();
  SMBD_ASSIGN_OR_RETURN(std::unique_ptr<PagePool> pool_owned, PagePool::Create(po));
  std::shared_ptr<PagePool> pool(pool_owned.release(), [registrar](PagePool* p) { delete p; });
  SMBD_ASSIGN_OR_RETURN(std::unique_ptr<SmbDirectTransport> t,
                        SmbDirectTransport::Create(std::move(endpoint), pool.get(), smbdirect));
  t->OwnPool(std::move(pool));
  return std::unique_ptr<Transport>(std::move(t));
}

absl::StatusOr<std::unique_ptr<Client>> ConnectRdma(const ConnectSpec& spec,
                                                    RdmaConnector* connector) {
  std::shared_ptr<RdmaConnector> owned;
  if (connector == nullptr) {
    owned = NewVerbsConnector();
    connector = owned.get();
  }
  ConnectOptions co;
  co.host = spec.host;
  co.device = spec.rdma_device;
  co.port = RdmaPort(spec);
  co.send_credit_target = spec.smbdirect.send_credit_target;
  co.receive_credit_max = spec.smbdirect.receive_credit_max;
  co.connect_timeout = spec.rdma_connect_timeout;
  SMBD_ASSIGN_OR_RETURN(std::unique_ptr<RdmaEndpoint> endpoint, connector->Connect(co));
  // The pool's slabs are registered once with the endpoint's protection domain. The registrar
  // handle keeps the registrations' bookkeeping alive for as long as the pool.
  std::shared_ptr<MemoryRegistrar> registrar = endpoint->registrar_handle();
  PagePoolOptions po;
  po.max_bytes = spec.client.pool_bytes;
  po.registrar = registrar.get();
  SMBD_ASSIGN_OR_RETURN(std::unique_ptr<PagePool> pool_owned, PagePool::Create(po));
  std::shared_ptr<PagePool> pool(pool_owned.release(),
                                 [registrar](PagePool* p) { delete p; });
  // A reconnect makes its queue pair in this endpoint's protection domain, so that the pool's
  // registrations serve it too (a connector the caller passed in, such as the fake network's,
  // is not kept: such clients do not reconnect).
  std::shared_ptr<void> pd = endpoint->protection_domain();
  SMBD_ASSIGN_OR_RETURN(std::unique_ptr<SmbDirectTransport> transport,
                        SmbDirectTransport::Create(std::move(endpoint), pool.get(),
                                                   spec.smbdirect));
  ClientOptions o = spec.client;
  if (o.server_name.empty()) o.server_name = spec.host;
  TransportFactory reconnect;
  if (owned != nullptr && pd != nullptr) {
    ConnectOptions again = co;
    again.protection_domain = pd;
    if (spec.client.reconnect.max_outage > absl::ZeroDuration()) {
      again.connect_timeout = std::min(again.connect_timeout, spec.client.reconnect.max_outage);
    }
    PagePool* pool_for_reconnect = pool.get();
    const SmbDirectOptions smbdirect = spec.smbdirect;
    reconnect = [owned, again, pool_for_reconnect,
                 smbdirect]() -> absl::StatusOr<std::unique_ptr<Transport>> {
      SMBD_ASSIGN_OR_RETURN(std::unique_ptr<RdmaEndpoint> e, owned->Connect(again));
      SMBD_ASSIGN_OR_RETURN(std::unique_ptr<SmbDirectTransport> t,
                            SmbDirectTransport::Create(std::move(e), pool_for_reconnect,
                                                       smbdirect));
      return std::unique_ptr<Transport>(std::move(t));
    };
  }
  // Multichannel: SMB Direct channels to the server's other RDMA-capable interfaces, in the
  // same protection domain (the pool's registrations serve every queue pair).
  ChannelFactory channels;
  if (owned != nullptr && pd != nullptr) {
    ConnectOptions base = co;
    base.protection_domain = pd;
    base.device.clear();  // chosen by the address the channel goes to
    PagePool* pool_for_channels = pool.get();
    const SmbDirectOptions smbdirect = spec.smbdirect;
    channels = [owned, base, pool_for_channels,
                smbdirect](const ServerInterface& to) -> absl::StatusOr<std::unique_ptr<Transport>> {
      if (!to.rdma) {
        return absl::FailedPreconditionError(
            "the server does not list this interface as RDMA-capable");
      }
      ConnectOptions c = base;
      c.host = to.address;
      SMBD_ASSIGN_OR_RETURN(std::unique_ptr<RdmaEndpoint> e, owned->Connect(c));
      SMBD_ASSIGN_OR_RETURN(std::unique_ptr<SmbDirectTransport> t,
                            SmbDirectTransport::Create(std::move(e), pool_for_channels,
                                                       smbdirect));
      return std::unique_ptr<Transport>(std::move(t));
    };
  }
  return Client::Create(std::move(transport), std::move(pool), o, std::move(reconnect),
                        std::move(channels));
}

}  // namespace

namespace {

// ConnectTcp; with `rdma` (the TCP-first path of --transport auto with multichannel), extra
// channels to interfaces the server lists as RDMA-capable go over SMB Direct through it.
absl::StatusOr<std::unique_ptr<Client>> ConnectTcpImpl(absl::string_view host, uint16_t port,
                                                       const ClientOptions& options,
                                                       std::shared_ptr<RdmaConnector> rdma,
                                                       const ConnectSpec* spec) {
  PagePoolOptions po;
  po.max_bytes = options.pool_bytes;
  SMBD_ASSIGN_OR_RETURN(std::unique_ptr<PagePool> pool_owned, PagePool::Create(po));
  std::shared_ptr<PagePool> pool(std::move(pool_owned));
  TcpOptions to;
  // Room for the largest READ response plus its header, or a whole sealed frame. With SMB Direct
  // channels beside it, also for a READ of their size: pipelined reads use one request size,
  // and a request of a channel that drops is sent again on this connection.
  to.max_receive_frame = std::max<uint64_t>(options.max_io, 1 << 20) + (64 << 10);
  if (rdma != nullptr) {
    to.max_receive_frame = std::max<uint64_t>(to.max_receive_frame,
                                              uint64_t{options.max_rdma_io} + (64 << 10));
  }
  const uint16_t tcp_port = port == 0 ? 445 : port;
  SMBD_ASSIGN_OR_RETURN(std::unique_ptr<TcpTransport> transport,
                        TcpTransport::Connect(host, tcp_port, pool.get(), to));
  ClientOptions o = options;
  if (o.server_name.empty()) o.server_name = std::string(host);
  // A reconnect connects the same way (the client owns the pool, which outlives its calls).
  PagePool* pool_for_reconnect = pool.get();
  TcpOptions again = to;
  // One attempt never outlasts the whole outage allowed.
  if (options.reconnect.max_outage > absl::ZeroDuration()) {
    again.connect_timeout = std::min(again.connect_timeout, options.reconnect.max_outage);
  }
  auto reconnect = [host = std::string(host), tcp_port, pool_for_reconnect,
                    again]() -> absl::StatusOr<std::unique_ptr<Transport>> {
    SMBD_ASSIGN_OR_RETURN(std::unique_ptr<TcpTransport> t,
                          TcpTransport::Connect(host, tcp_port, pool_for_reconnect, again));
    return std::unique_ptr<Transport>(std::move(t));
  };
  // Multichannel: TCP channels to the server's other interfaces, on the same port; with `rdma`,
  // SMB Direct channels to the RDMA-capable ones (each with a registered pool of its own).
  TcpOptions for_channels = to;
  ConnectOptions rdma_base;
  SmbDirectOptions smbdirect;
  if (rdma != nullptr) {
    rdma_base.device = spec->rdma_device;
    rdma_base.port = RdmaPort(*spec);
    rdma_base.send_credit_target = spec->smbdirect.send_credit_target;
    rdma_base.receive_credit_max = spec->smbdirect.receive_credit_max;
    rdma_base.connect_timeout = spec->rdma_connect_timeout;
    smbdirect = spec->smbdirect;
  }
  const size_t channel_pool = std::min<size_t>(options.pool_bytes, size_t{64} << 20);
  auto channels = [tcp_port, pool_for_reconnect, for_channels, rdma, rdma_base, smbdirect,
                   channel_pool](const ServerInterface& iface)
      -> absl::StatusOr<std::unique_ptr<Transport>> {
    if (rdma != nullptr && iface.rdma) {
      ConnectOptions c = rdma_base;
      c.host = iface.address;
      absl::StatusOr<std::unique_ptr<Transport>> t =
          RdmaTransportWithOwnPool(rdma.get(), c, smbdirect, channel_pool);
      // No RDMA device here, or none that reaches it: a TCP channel instead (Session::
      // AddChannels closes it again when it goes to the first connection's own address).
      if (t.ok()) return t;
    }
    SMBD_ASSIGN_OR_RETURN(std::unique_ptr<TcpTransport> t,
                          TcpTransport::Connect(iface.address, tcp_port, pool_for_reconnect,
                                                for_channels));
    return std::unique_ptr<Transport>(std::move(t));
  };
  return Client::Create(std::move(transport), std::move(pool), o, reconnect, channels);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> ConnectTcp(absl::string_view host, uint16_t port,
                                                   const ClientOptions& options) {
  return ConnectTcpImpl(host, port, options, nullptr, nullptr);
}

absl::StatusOr<std::unique_ptr<Client>> ConnectClient(const ConnectSpec& spec,
                                                      std::string* fallback_note,
                                                      RdmaConnector* connector) {
  if (fallback_note != nullptr) fallback_note->clear();
  if (spec.transport == TransportChoice::kTcp) {
    return ConnectTcp(spec.host, spec.port, spec.client);
  }
  if (spec.transport == TransportChoice::kAuto && spec.client.multichannel.max_channels > 1 &&
      connector == nullptr) {
    // The path Windows takes with multichannel: TCP first, then SMB Direct channels to the
    // interfaces the server lists as RDMA-capable (bound at the first tree connect), which then
    // carry the bulk I/O. Where there is no RDMA device, the channels are TCP ones.
    std::shared_ptr<RdmaConnector> rdma = NewVerbsConnector();
    if (fallback_note != nullptr) {
      *fallback_note = "TCP first; SMB Direct channels to the server's RDMA-capable interfaces "
                       "are added at the first tree connect (multichannel)";
    }
    return ConnectTcpImpl(spec.host, spec.port == 0 ? 0 : spec.port, spec.client,
                          std::move(rdma), &spec);
  }
  absl::StatusOr<std::unique_ptr<Client>> rdma = ConnectRdma(spec, connector);
  if (rdma.ok() || spec.transport == TransportChoice::kRdma) {
    if (!rdma.ok()) {
      return absl::Status(rdma.status().code(),
                          absl::StrCat("SMB Direct to ", spec.host, ": ", rdma.status().message()));
    }
    return rdma;
  }
  if (fallback_note != nullptr) {
    *fallback_note = absl::StrCat("SMB Direct to ", spec.host, " not used (",
                                  rdma.status().message(), "); using TCP");
  }
  return ConnectTcp(spec.host, spec.port, spec.client);
}

}  // namespace smbd
