// The client API: Client (one connection, negotiated) -> Session (authenticated) -> Tree (a
// share) -> File (an open handle). Blocking calls with timeouts; large reads and writes are
// pipelined over many multi-credit requests; small-file reads and stats are compounded into one
// round trip. Including this header gives all four (session.h, tree.h, file.h).
//
// Works over any Transport: connect/connect.h makes a Client over Direct TCP or SMB Direct.
// Thread-safe: several threads may use the same Tree and File concurrently.
//
// Lifetimes: a Session, Tree or File refers to the object it came from, so destroy them in
// reverse order of creation (files, trees, sessions, then the client), as scoped variables do.
#ifndef SMBD_SMB2_CLIENT_CLIENT_H_
#define SMBD_SMB2_CLIENT_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buffers/page_pool.h"
#include "smb2/client/session.h"
#include "smb2/client/types.h"
#include "smb2/connection.h"
#include "smb2/transport.h"

namespace smbd {

namespace client_internal {
class ClientContext;
}  // namespace client_internal

class Client {
 public:
  // Negotiates over a connected transport, with buffers from `pool` (which must outlive the
  // client; for RDMA it is registered with the device). `reconnect` makes a new transport to the
  // same server after a drop (ClientOptions::reconnect; ConnectTcp and ConnectClient pass one);
  // without it a dropped connection fails what is in flight and every later call.
  // `channels` connects to another of the server's interfaces for multichannel
  // (ClientOptions::multichannel; ConnectTcp and ConnectClient pass one).
  static absl::StatusOr<std::unique_ptr<Client>> Create(
      std::unique_ptr<Transport> transport, std::shared_ptr<PagePool> pool,
      const ClientOptions& options,
      TransportFactory reconnect = nullptr, ChannelFactory channels = nullptr);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Authenticates (Kerberos or NTLMv2 over SPNEGO, anonymous or guest). With reconnection on,
  // the session keeps a copy of the credentials (the password zeroed when it is destroyed) to
  // log in again after a drop.
  absl::StatusOr<std::unique_ptr<Session>> Login(const Credentials& credentials);

  // Whether a dropped connection is re-established (ClientOptions::reconnect set, and the client
  // knows how to connect again: made by ConnectTcp or ConnectClient over TCP).
  bool reconnects() const;

  // The client's connections: the first and any multichannel channels (dropped ones
  // included, marked not up), with the I/O each carried.
  std::vector<ChannelInfo> channels() const;
  // One line on multichannel: the channels in use, or why there are none (not asked for, the
  // server does not offer it, a binding refused...).
  std::string multichannel_note() const;

  const NegotiatedInfo& negotiated() const;
  const ClientOptions& options() const;
  Connection* connection() const;
  PagePool* pool() const;
  ClientStats stats() const;

  // Cancels what this client is doing: every request in flight gets an SMB2 CANCEL ([MS-SMB2]
  // 3.2.4.24), and pipelined reads and writes running now stop issuing requests and return
  // kCancelled once the ones in flight have ended (so no buffer is written after they return).
  // A request the server cancels fails with kCancelled; one it had already finished completes
  // normally. Calls started afterwards are not affected. Thread-safe (not async-signal-safe:
  // call it from a thread, e.g. one that sigwait()s). Returns the number of CANCELs sent.
  int Cancel();

  // Registers `memory` once for many I/Os (see RegisteredBuffer in smb2/transport.h): over SMB
  // Direct, inline WRITEs from it are sent by its lkey instead of being copied into the pool,
  // and where the transport binds memory windows (registration_note()), READs and WRITEs on
  // the RDMA channel in it get a window over exactly their bytes instead of an ibv_reg_mr each.
  // Over TCP it registers nothing. Destroy the handle only when no I/O in the memory runs;
  // buffers may not overlap.
  absl::StatusOr<std::unique_ptr<RegisteredBuffer>> RegisterBuffer(absl::Span<uint8_t> memory);
  // One line on how RDMA-channel I/O memory is registered and why (per-I/O registration or
  // memory windows); empty over TCP.
  std::string registration_note() const;

  // Largest READ / WRITE this client sends with inline data, or on the RDMA channel.
  uint32_t max_read(bool rdma = false) const;
  uint32_t max_write(bool rdma = false) const;

 private:
  explicit Client(std::unique_ptr<client_internal::ClientContext> context);

  const std::unique_ptr<client_internal::ClientContext> context_;
};

}  // namespace smbd

#endif  // SMBD_SMB2_CLIENT_CLIENT_H_
