// Connecting a Client over SMB Direct, Direct TCP, or SMB Direct with a TCP fallback ("auto").
// The one package that knows both transports: the client API (smb2/client) knows only the
// Transport interface, and smbdirect/ knows nothing of the client.
#ifndef SMBD_CONNECT_CONNECT_H_
#define SMBD_CONNECT_CONNECT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "smb2/client/client.h"
#include "smbdirect/smbdirect_transport.h"
#include "smbdirect/verbs.h"

namespace smbd {

enum class TransportChoice { kAuto, kRdma, kTcp };
absl::StatusOr<TransportChoice> ParseTransportChoice(absl::string_view name);

struct ConnectSpec {
  std::string host;
  uint16_t port = 0;  // 0: 445 for TCP, 445 (RoCE/IB) or 5445 (iWARP) for SMB Direct
  TransportChoice transport = TransportChoice::kAuto;
  std::string rdma_device;  // empty: chosen by address
  ClientOptions client;
  SmbDirectOptions smbdirect;
  absl::Duration rdma_connect_timeout = absl::Seconds(10);
};

// Connects and negotiates. kRdma fails with the reason SMB Direct could not be used; kTcp never
// touches verbs; kAuto tries SMB Direct and falls back to TCP, putting the one-line reason in
// `*fallback_note` (empty when SMB Direct worked). `connector` overrides the rdma_cm connector
// (tests pass a fake network).
absl::StatusOr<std::unique_ptr<Client>> ConnectClient(const ConnectSpec& spec,
                                                      std::string* fallback_note,
                                                      RdmaConnector* connector = nullptr);

// Connects over Direct TCP to host:port (0: 445) and negotiates, with a page pool of
// options.pool_bytes.
absl::StatusOr<std::unique_ptr<Client>> ConnectTcp(absl::string_view host, uint16_t port,
                                                   const ClientOptions& options);

}  // namespace smbd

#endif  // SMBD_CONNECT_CONNECT_H_
