// SMB2 leases held by a client's open files, and the acknowledgement of the server's lease
// breaks ([MS-SMB2] 3.2.5.19.2 receiving a lease break, 3.2.4.25 sending the acknowledgement).
// Internal to smb2/client.
//
// The client caches no file data, so a break has nothing to flush or write back: the new state
// is recorded and, where the server asks for it (SMB2_NOTIFY_BREAK_LEASE_FLAG_ACK_REQUIRED), an
// acknowledgement goes out at once. Notifications arrive on the connection's receive thread,
// which must not block on a round trip of its own; acknowledgements are sent by a worker thread
// that starts with the first lease.
#ifndef SMBD_SMB2_CLIENT_LEASES_H_
#define SMBD_SMB2_CLIENT_LEASES_H_

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "buffers/bvecq.h"
#include "smb2/connection.h"
#include "smb2/header.h"

namespace smbd {
namespace client_internal {

class ClientContext;

using LeaseKey = std::array<uint8_t, 16>;

// One open's lease; shared by the File and the table so that a break for a file being closed
// touches nothing freed.
struct Lease {
  LeaseKey key{};
  // Of the open now (new ones after a reconnect).
  std::atomic<uint64_t> session_id{0};
  std::atomic<uint32_t> tree_id{0};
  std::atomic<uint32_t> state{0};  // kLeaseReadCaching | kLeaseHandleCaching | kLeaseWriteCaching
  std::atomic<uint32_t> breaks{0};
  std::atomic<uint16_t> epoch{0};
  // The open's session encrypts: a break for this lease counts only if it came sealed with that
  // session's keys (a plaintext one could be anybody's).
  bool sealed_session = false;
  // Guarded by the table's mutex: an acknowledgement is queued, for this state. Breaks that come
  // before it is sent update the state instead of queueing more (a server cannot grow the queue
  // past one entry per lease).
  bool ack_queued = false;
  uint32_t ack_state = 0;
};

struct LeaseCounters {
  std::atomic<uint64_t> breaks{0};          // lease break notifications for our leases
  std::atomic<uint64_t> acks{0};            // acknowledgements the server accepted
  std::atomic<uint64_t> ack_failures{0};    // acknowledgements that failed (error, no answer)
  std::atomic<uint64_t> unknown{0};         // notifications for no lease of ours (closed, bogus)
  std::atomic<uint64_t> unauthenticated{0};  // for a lease of a sealed session, not sealed by it
};

class LeaseTable {
 public:
  explicit LeaseTable(ClientContext* context) : context_(context) {}
  ~LeaseTable() { Stop(); }
  // Stops the worker (acknowledgements not yet sent are dropped: the connection is going). The
  // ClientContext calls it after closing the connection, so that a round trip in progress ends.
  void Stop();
  LeaseTable(const LeaseTable&) = delete;
  LeaseTable& operator=(const LeaseTable&) = delete;

  // A fresh random lease key.
  static LeaseKey NewKey();
  // Registers a lease before its CREATE goes out, holding the requested state (a break that
  // comes before Granted() then lowers that).
  void Add(std::shared_ptr<Lease> lease);
  // The CREATE answer: the lease holds at most `state` (0: not granted), at epoch `epoch` or
  // later. Under the table's lock, so that a break handled meanwhile is not undone.
  void Granted(Lease* lease, uint32_t state, uint16_t epoch);
  void Remove(const LeaseKey& key);

  // The connection's notification handler: a lease break (StructureSize 44) for one of ours.
  // Oplock breaks are ignored: this client requests no oplocks. Runs on the receive thread.
  void OnNotification(const Smb2Header& header, const Bvecq& bytes,
                      const Connection::NotificationOrigin& origin);

  const LeaseCounters& counters() const { return counters_; }

 private:
  void Run();
  void Acknowledge(const Lease& lease, uint32_t state);

  ClientContext* const context_;
  LeaseCounters counters_;
  std::mutex mu_;
  std::condition_variable cv_;
  absl::flat_hash_map<LeaseKey, std::shared_ptr<Lease>> leases_;
  std::deque<std::shared_ptr<Lease>> jobs_;
  bool stop_ = false;
  std::thread worker_;  // started with the first lease
};

}  // namespace client_internal
}  // namespace smbd

#endif  // SMBD_SMB2_CLIENT_LEASES_H_
