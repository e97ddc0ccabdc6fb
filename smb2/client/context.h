// What a Client shares with the Sessions, Trees and Files made from it: the connection, what
// negotiation agreed, the request helpers every operation uses, and the I/O counters. Internal
// to smb2/client: each API object holds a pointer to this instead of reaching into the private
// members of the object it came from.
#ifndef SMBD_SMB2_CLIENT_CONTEXT_H_
#define SMBD_SMB2_CLIENT_CONTEXT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "buffers/page_pool.h"
#include "buffers/wire.h"
#include "smb2/client/leases.h"
#include "smb2/client/types.h"
#include "smb2/compound.h"
#include "smb2/connection.h"
#include "smb2/constants.h"
#include "smb2/header.h"
#include "smb2/message.h"
#include "smb2/security/preauth.h"

namespace smbd {
namespace client_internal {

// Counters behind ClientStats, updated by reads and writes on any thread.
struct IoCounters {
  std::atomic<uint64_t> bytes_read{0};
  std::atomic<uint64_t> bytes_written{0};
  std::atomic<uint64_t> rdma_reads{0};
  std::atomic<uint64_t> rdma_writes{0};
  std::atomic<uint64_t> rdma_bytes_read{0};
  std::atomic<uint64_t> rdma_bytes_written{0};
  std::atomic<uint64_t> bytes_placed{0};  // READ data the transport put straight into dst
  std::atomic<uint64_t> bytes_copied{0};  // READ data copied from receive buffers into dst

  void CountRead(uint64_t bytes, bool rdma);
  void CountWrite(uint64_t bytes, bool rdma);
};

class ClientContext {
 public:
  ClientContext(std::shared_ptr<PagePool> pool, const ClientOptions& options);
  // Closes the connection: whatever is still in flight fails.
  ~ClientContext();
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  // Opens the connection over `transport` and negotiates ([MS-SMB2] 3.2.4.2.1).
  absl::Status Start(std::unique_ptr<Transport> transport);

  PagePool* pool() const { return pool_.get(); }
  // Where request encoders take their bytes from (EncodeOne).
  FragArena* frags() { return &frags_; }
  const std::shared_ptr<PagePool>& shared_pool() const { return pool_; }
  const ClientOptions& options() const { return options_; }
  Connection* connection() const { return connection_.get(); }
  Transport* transport() const { return connection_->transport(); }
  const NegotiatedInfo& negotiated() const { return negotiated_; }
  // The server's SPNEGO hint from the NEGOTIATE answer (empty if none).
  const std::vector<uint8_t>& negotiate_token() const { return negotiate_token_; }
  // The connection's preauth integrity hash after NEGOTIATE (3.1.1); sessions fork it.
  const PreauthIntegrity& preauth() const { return preauth_; }
  const uint8_t* client_guid() const { return client_guid_; }
  // Leases of this client's open files, and the acknowledgement of their breaks.
  LeaseTable* leases() const { return leases_.get(); }
  IoCounters& counters() { return counters_; }
  const IoCounters& counters() const { return counters_; }

  // Dialects in the options' range, lowest first, as NEGOTIATE offered them.
  std::vector<uint16_t> OfferedDialects() const;
  // Security mode this client sends in NEGOTIATE, SESSION_SETUP and VALIDATE_NEGOTIATE.
  uint16_t SecurityMode() const;

  // A request of `command` for the session and tree, charged for `payload` bytes.
  SmbMessageRef NewMessage(Command command, uint64_t session_id, uint32_t tree_id,
                           uint64_t payload = 0) const;
  // CreditCharge for `bytes` of payload under the negotiated dialect ([MS-SMB2] 3.2.4.1.5).
  uint16_t Charge(uint64_t bytes) const;

  // Submits a chain with each member's deadline request_timeout from now.
  absl::Status Submit(const SmbMessageRef& chain);
  // Waits for one submitted message until its deadline; on timeout cancels it at the server
  // and abandons it (its destination is not written after this returns).
  absl::Status Await(SmbMessage* m);
  // Submit, then Await every member.
  absl::Status RoundTrip(const SmbMessageRef& chain);
  // One request whose body `body` writes, sent and answered; the answer's NTSTATUS as a Status.
  absl::Status Exchange(Command command, uint64_t session_id, uint32_t tree_id,
                        const std::function<void(WireWriter*)>& body, absl::string_view what);

  // Largest READ / WRITE with inline data, or on the RDMA channel.
  uint32_t MaxRead(bool rdma) const;
  uint32_t MaxWrite(bool rdma) const;
  // Requests in flight for pipelined I/O of `chunk`-byte requests.
  size_t Depth(uint32_t chunk) const;

  // Bumped by Client::Cancel(); running pipelines compare it with the value they started with.
  uint64_t cancel_epoch() const { return cancel_epoch_.load(std::memory_order_acquire); }
  // Cancels everything in flight (Client::Cancel); returns the CANCELs sent.
  int Cancel();

 private:
  absl::Status Negotiate();

  const std::shared_ptr<PagePool> pool_;
  const ClientOptions options_;
  // Request bytes (destroyed before pool_, whose pages it holds).
  FragArena frags_;
  std::unique_ptr<Connection> connection_;
  NegotiatedInfo negotiated_;
  std::vector<uint8_t> negotiate_token_;
  PreauthIntegrity preauth_;
  uint8_t client_guid_[16] = {};
  IoCounters counters_;
  // Shared with the connection's notification handler (which holds a weak reference).
  std::shared_ptr<LeaseTable> leases_;
  std::atomic<uint64_t> cancel_epoch_{0};
};

// Encodes one request member into m->request with `body` writing the command's body; `body`
// returns void or absl::Status. The bytes are packed into a page fragment of the context's
// arena (a request of ~100 bytes no longer takes a 4 KiB page).
template <typename Body>
absl::Status EncodeOne(SmbMessage* m, ClientContext& context, Body&& body) {
  FragArena::Lease frags = context.frags()->Acquire();
  CompoundWriter cw(&m->request, context.pool(), frags.get());
  WireWriter* w = cw.Begin(m, false);
  absl::Status s;
  if constexpr (std::is_void_v<decltype(body(w))>) {
    body(w);
  } else {
    s = body(w);
  }
  cw.End();
  if (!s.ok()) return s;
  return cw.Finish();
}

// The member's answer as a reader.
inline WireReader Reader(const SmbMessage& m) { return WireReader(m.response.begin()); }

// An answer's NTSTATUS as a Status (OK for success and warnings).
absl::Status ResponseStatus(const SmbMessage& m, absl::string_view what);

// A copy of bytes [offset, offset+length) of an answer (a security token), bounds-checked.
absl::StatusOr<std::vector<uint8_t>> CopyBuffer(const SmbMessage& m, uint64_t offset,
                                                uint64_t length, absl::string_view what);

}  // namespace client_internal
}  // namespace smbd

#endif  // SMBD_SMB2_CLIENT_CONTEXT_H_
