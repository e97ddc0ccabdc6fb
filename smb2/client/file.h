// File: an open handle ([MS-SMB2] 3.2.4.3). Reads and writes are pipelined over many requests;
// over SMB Direct large enough ones use the RDMA channel.
#ifndef SMBD_SMB2_CLIENT_FILE_H_
#define SMBD_SMB2_CLIENT_FILE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "smb2/client/leases.h"
#include "smb2/client/lost_state.h"
#include "smb2/client/types.h"
#include "smb2/message.h"
#include "smb2/pdu/change_notify.h"
#include "smb2/pdu/common.h"
#include "smb2/pdu/lock.h"

namespace smbd {

class Tree;
namespace client_internal {
class ClientContext;

// What reopening a durable handle after a reconnect needs ([MS-SMB2] 3.2.4.4).
struct ReopenInfo {
  std::string path;  // as sent in the CREATE
  OpenOptions options;
  std::array<uint8_t, 16> create_guid{};
};
}  // namespace client_internal

class File {
 public:
  // Internal: made by Tree::Open.
  File(client_internal::ClientContext* context, Tree* tree, const FileId& id,
       uint64_t size_at_open, std::shared_ptr<client_internal::Lease> lease = nullptr,
       uint32_t durable_timeout_ms = 0, client_internal::ReopenInfo reopen = {});
  // Closes the handle if still open (errors ignored; use Close() to see them).
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  // Reads up to dst.size() bytes at `offset`, pipelined in chunks; returns bytes read (short at
  // end of file).
  absl::StatusOr<uint64_t> Read(uint64_t offset, absl::Span<uint8_t> dst);
  // Streams [offset, offset+length) (length UINT64_MAX: to end of file) to `sink` in order,
  // with up to window_bytes in flight. Returns bytes delivered.
  absl::StatusOr<uint64_t> ReadTo(uint64_t offset, uint64_t length,
                                  const std::function<absl::Status(absl::Span<const uint8_t>)>& sink);
  // Writes all of `src` at `offset`, pipelined.
  absl::Status Write(uint64_t offset, absl::Span<const uint8_t> src);
  absl::StatusOr<FileInfo> Stat();
  // For an open directory: waits for changes in it ([MS-SMB2] 3.2.4.18) and returns them. An
  // empty result means the server saw more than fits the buffer (STATUS_NOTIFY_ENUM_DIR): list
  // the directory again. With nothing changed within options.timeout the request is cancelled
  // and DeadlineExceeded returned; Client::Cancel() ends it with kCancelled.
  absl::StatusOr<std::vector<FileNotification>> WaitForChanges(
      const ChangeNotifyOptions& options = {});
  absl::Status Truncate(uint64_t size);
  absl::Status Flush();

  // Byte-range locks ([MS-SMB2] 3.2.4.19): they belong to this handle and end with it. While
  // another handle holds an exclusive lock over bytes, the server refuses that handle's reads and
  // writes of them (STATUS_FILE_LOCK_CONFLICT) and its locks over them.
  // Lock [offset, offset + length): shared (others may read and lock shared) or exclusive.
  // Without `options.wait`, a conflicting lock fails at once with kFailedPrecondition
  // (STATUS_LOCK_NOT_GRANTED); with it, the server queues the request until the range is free,
  // and past `options.wait_timeout` the request is cancelled (SMB2 CANCEL) and
  // kDeadlineExceeded returned: no lock is then held. If the server granted it just as the
  // cancel went out, the lock is held and OK returned.
  absl::Status Lock(uint64_t offset, uint64_t length, const LockOptions& options = {});
  // Releases a lock taken with exactly this offset and length (kFailedPrecondition,
  // STATUS_RANGE_NOT_LOCKED, if there is none).
  absl::Status Unlock(uint64_t offset, uint64_t length);

  // The lease's caching states now (lease::kRead | kHandle | kWrite), after any breaks; 0 without
  // a lease. lease_breaks(): how many breaks the server sent for it.
  uint32_t lease_state() const;
  // The lease's key (all zero without a lease): what the server's breaks name.
  std::array<uint8_t, 16> lease_key() const;
  uint32_t lease_breaks() const;
  // Whether the server granted a durable handle (OpenOptions::durable_timeout), and for how
  // long it keeps it after a disconnect.
  bool durable() const { return durable_timeout_ms_ != 0; }
  uint32_t durable_timeout_ms() const { return durable_timeout_ms_; }
  // After a reconnect (ClientOptions::reconnect): OK while the handle lives on (reopened with
  // DH2C), or why it was lost (it was not durable, or the server no longer had it). A lost
  // handle fails every call with this; Close() of it is OK.
  absl::Status lost() const { return lost_.status(); }
  // How many times this handle was reopened after a reconnect.
  uint32_t reopens() const { return reopens_.load(); }
  absl::Status Close();

  // Asynchronous read of up to dst.size() (<= the max read size, inline or RDMA as the read will
  // go) bytes at `offset`: returns once the request is sent; `callback(arg, bytes read or
  // error)` runs later on the connection's receive thread, or, if no answer came within the
  // request timeout, with DeadlineExceeded on its watchdog thread (the request is then cancelled
  // at the server and dst is no longer written). Callbacks of different reads may run
  // concurrently on those two threads; a callback must not destroy the Client. dst must stay
  // valid until the callback has run.
  using ReadCallback = void (*)(void* arg, absl::StatusOr<uint32_t> result);
  absl::Status ReadAsync(uint64_t offset, absl::Span<uint8_t> dst, ReadCallback callback,
                         void* arg);

  // Asynchronous write of all of src (<= the max write size for the way it goes: inline, or the
  // RDMA channel) at `offset`: returns once the request is sent; `callback(arg, status)` runs
  // as ReadAsync's does (OK only when the server wrote every byte). src must stay valid and
  // unchanged until the callback has run.
  using WriteCallback = void (*)(void* arg, absl::Status result);
  absl::Status WriteAsync(uint64_t offset, absl::Span<const uint8_t> src, WriteCallback callback,
                          void* arg);
  // Largest ReadAsync / WriteAsync of `bytes` or fewer: what one request of that size may carry.
  uint32_t MaxAsyncRead(uint64_t bytes) const;
  uint32_t MaxAsyncWrite(uint64_t bytes) const;

  // The handle's id (the volatile part may change when it is reopened after a reconnect).
  FileId id() const {
    return FileId{persistent_id_.load(std::memory_order_acquire),
                  volatile_id_.load(std::memory_order_acquire)};
  }
  uint64_t size_at_open() const { return size_at_open_; }

 private:
  friend class Tree;

  // On a new connection (under the context's registry lock): a durable handle is reopened with
  // DH2C; any other is lost. Returns an error only when the connection dropped again.
  absl::Status Reopen();
  void Lose(const absl::Status& why);
  // Close(); from the destructor without reconnecting first (`may_reconnect` false).
  absl::Status CloseImpl(bool may_reconnect);
  // One LOCK element; `wait` > 0 for a lock that waits (then cancelled past it).
  absl::Status LockExchange(const LockElement& element, const char* what, absl::Duration wait);
  // Pipelined reads of [offset, offset+length): `destination(at, n)` gives the buffer for the
  // chunk at `at`, `deliver` gets each chunk's bytes in file order. Returns bytes delivered.
  absl::StatusOr<uint64_t> PipelinedRead(
      uint64_t offset, uint64_t length,
      const std::function<absl::Span<uint8_t>(uint64_t at, size_t n)>& destination,
      const std::function<absl::Status(absl::Span<const uint8_t>)>& deliver);
  // One READ request for [offset, offset+dst.size()) into dst, encoded (its buffer registered
  // for the peer in m->rdma when `allow_rdma` and the read goes by RDMA), not submitted.
  // `on`: the connection it will go on (multichannel; null: the live one), whose transport
  // decides whether the RDMA channel is used.
  absl::StatusOr<SmbMessageRef> PrepareRead(uint64_t offset, absl::Span<uint8_t> dst,
                                            bool allow_rdma, Connection* on = nullptr);
  // One WRITE of src at `offset` (by RDMA when large enough), encoded, not submitted.
  absl::StatusOr<SmbMessageRef> PrepareWrite(uint64_t offset, absl::Span<const uint8_t> src,
                                             Connection* on = nullptr);
  // Whether this session can use the RDMA channel at all (SMB Direct, 3.0 or later, neither
  // signing nor sealing), over `t` (null: the live connection's transport).
  bool RdmaChannelUsable(const Transport* t = nullptr) const;
  // Whether this session could use an RDMA channel at all, whatever the transport: 3.0 or
  // later, neither signing nor sealing (multichannel sends its bulk I/O to SMB Direct channels
  // then).
  bool SessionMayUseRdma() const;
  // Whether an I/O of `bytes` in `memory` goes through the RDMA channel (ClientOptions::
  // rdma_threshold when it gets a window, rdma_threshold_per_io otherwise; without `memory`,
  // the latter), over `t` (null: the live connection's transport).
  bool UseRdma(uint64_t bytes, absl::Span<const uint8_t> memory = {},
               const Transport* t = nullptr) const;
  // Bytes per READ/WRITE request for pipelined I/O.
  uint32_t ChunkSize(bool write) const;

  client_internal::ClientContext* const context_;
  Tree* const tree_;
  std::atomic<uint64_t> persistent_id_;
  std::atomic<uint64_t> volatile_id_;
  const uint64_t size_at_open_;
  const std::shared_ptr<client_internal::Lease> lease_;  // null without a lease
  const uint32_t durable_timeout_ms_;
  const client_internal::ReopenInfo reopen_;
  std::atomic<bool> closed_{false};  // read by a re-establishment on another thread
  std::atomic<uint32_t> reopens_{0};
  client_internal::LostState lost_;
};

}  // namespace smbd

#endif  // SMBD_SMB2_CLIENT_FILE_H_
