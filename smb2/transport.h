// The interface between smb2/ and a transport (Direct TCP here, SMB Direct in smbdirect/).
// smb2/ knows a transport only through this: send one frame, receive complete frames, and, for
// transports that can, register memory for the peer to read or write by RDMA.
#ifndef SMBD_SMB2_TRANSPORT_H_
#define SMBD_SMB2_TRANSPORT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "buffers/bvecq.h"
#include "smb2/rdma_registration.h"
#include "smb2/security/unseal_placement.h"

namespace smbd {

// Lets the receive path put part of a frame (a READ response's data) straight into the caller's
// buffer, so the bytes cross once. The transport knows no SMB2: it shows the hook the first
// peek() bytes of each frame and receives the range the hook names into the hook's buffer
// instead of into pool pages. Called on the receive thread.
class PlacementHook {
 public:
  virtual ~PlacementHook() = default;
  // Bytes of a frame's start that Place() must see; a shorter frame is not placed.
  virtual size_t peek() const = 0;
  // Given the first peek() bytes of a frame of `frame_length` bytes: the frame's bytes
  // [offset, offset + dst.size()) go to dst (empty dst: none). The transport ignores a range
  // that starts before peek() or ends past the frame.
  virtual PlacedRange Place(absl::Span<const uint8_t> head, uint64_t frame_length) = 0;
};

struct TransportLimits {
  // Largest frame the transport accepts from the peer (without framing).
  uint64_t max_receive_frame = 16 << 20;
  // Largest frame the peer accepts from us (SMB Direct: its MaxFragmentedSize).
  uint64_t max_send_frame = 16 << 20;
  // RDMA only: the peer's MaxReadWriteSize and the device's per-registration limit.
  uint32_t max_rdma_io = 0;
};

// Memory a caller registered once for many I/Os (Transport::RegisterBuffer; Client exposes it):
// the way io_uring fixed buffers and libfabric memory regions work. Over SMB Direct it is one
// ibv_reg_mr with local access only (never a remote right; MW_BIND where the device has
// windows): inline sends from it gather by its lkey instead of bouncing into the pool, and where
// the transport binds memory windows, RDMA-channel I/O in it gets a window over exactly the
// I/O's bytes instead of an ibv_reg_mr per I/O. Over TCP it registers nothing (sendmsg reads any
// memory), so one code path serves both. Destroy it only when no I/O in it runs; it may
// outlive the transport (its region keeps the device's protection domain alive).
class RegisteredBuffer {
 public:
  virtual ~RegisteredBuffer() = default;
  RegisteredBuffer(const RegisteredBuffer&) = delete;
  RegisteredBuffer& operator=(const RegisteredBuffer&) = delete;
  absl::Span<uint8_t> memory() const { return memory_; }

 protected:
  explicit RegisteredBuffer(absl::Span<uint8_t> memory) : memory_(memory) {}

 private:
  const absl::Span<uint8_t> memory_;
};

class Transport {
 public:
  virtual ~Transport() = default;

  // Sends one frame (an SMB2 message, a compound chain, or a transform) as one unit. Thread
  // safe; frames from concurrent callers are not interleaved. Gives up at `deadline` (and,
  // before that, when the peer makes no progress for the transport's stall timeout). A frame
  // given up part way leaves the transport shut down, since the stream is then unusable; one
  // given up before any of it went out leaves it usable().
  virtual absl::Status Send(const Bvecq& frame, absl::Time deadline) = 0;
  absl::Status Send(const Bvecq& frame) { return Send(frame, absl::InfiniteFuture()); }

  // Zero-copy sends (TCP with MSG_ZEROCOPY) lend the kernel a frame's memory past Send()'s
  // return, until the kernel reports it done. Pool pages of the frame stay referenced by the
  // transport until then; memory the frame does not own (Bvecq::AppendExternal: a caller's
  // WRITE source) must not be changed or handed back before AwaitReleased(ticket) is OK.
  // Frames are numbered from 1 in send order: NextSendTicket() is the number the next Send()
  // gets, exact while the caller keeps other senders out (the connection's send lock). 0: this
  // transport never lends (every Send copies or finishes with the memory before it returns).
  virtual uint64_t NextSendTicket() const { return 0; }
  // OK once neither Send() nor the kernel reads the memory of frame `ticket` any more: the
  // frame was sent (or given up) and, if lent, released; a frame not started yet is waited for
  // unless the transport is shut down. DeadlineExceeded if it is still read at `deadline`.
  // Shutdown() makes a running Send() stop and the kernel drop what it still holds, so a wait
  // after it ends promptly.
  virtual absl::Status AwaitReleased(uint64_t ticket, absl::Time deadline) {
    return absl::OkStatus();
  }

  // Blocks until one complete frame arrives. `idle_timeout` bounds the wait for a frame to
  // start (InfiniteDuration: wait until Shutdown); once a frame has started, the transport's own
  // stall timeout applies. One receiver at a time.
  virtual absl::StatusOr<Bvecq> Receive(absl::Duration idle_timeout) = 0;

  // Makes Send and Receive fail promptly with `reason`; safe from any thread, idempotent.
  virtual void Shutdown(absl::Status reason) = 0;
  // False once the transport is shut down or has failed.
  virtual bool usable() const = 0;

  virtual void SetPlacementHook(PlacementHook* hook) = 0;

  virtual TransportLimits limits() const = 0;
  // Whether RegisterForPeer works (SMB Direct with the RDMA channel enabled).
  virtual bool supports_rdma() const { return false; }
  // Registers [data, data+length) for the peer: writable by it for a READ, readable for a WRITE.
  virtual absl::StatusOr<std::unique_ptr<RdmaRegistration>> RegisterForPeer(
      absl::Span<uint8_t> memory, bool peer_writes) {
    return absl::UnimplementedError("this transport cannot register memory for RDMA");
  }
  // Registers `memory` for many I/Os (see RegisteredBuffer). The default registers nothing.
  virtual absl::StatusOr<std::unique_ptr<RegisteredBuffer>> RegisterBuffer(
      absl::Span<uint8_t> memory) {
    if (memory.empty()) return absl::InvalidArgumentError("RegisterBuffer: empty range");
    struct Plain final : RegisteredBuffer {
      explicit Plain(absl::Span<uint8_t> m) : RegisteredBuffer(m) {}
    };
    return std::unique_ptr<RegisteredBuffer>(std::make_unique<Plain>(memory));
  }
  // Whether RegisterForPeer binds memory windows over RegisterBuffer memory (so a caller that
  // reuses one buffer for many RDMA I/Os gains by registering it once).
  virtual bool binds_windows() const { return false; }
  // Whether RegisterForPeer(memory) would bind a window (memory lies in one RegisterBuffer
  // region and windows are on), rather than register the memory for this I/O alone.
  virtual bool window_covers(absl::Span<const uint8_t> memory) const { return false; }
  // One line on how RDMA-channel I/O is registered, and why ("per-I/O registration: rxe0's
  // memory windows reach their whole region"); empty for transports without RDMA.
  virtual std::string registration_note() const { return std::string(); }
  // "tcp" or "rdma".
  virtual const char* name() const = 0;
  // The peer's numeric address ("10.0.0.5", "fd00::5"; empty when unknown): multichannel binds
  // extra channels to the server's other interfaces.
  virtual std::string peer_address() const { return std::string(); }
};

// Makes a new transport to the same server the same way as the first (connect/connect.h): what
// a client's reconnection uses (ClientOptions::reconnect).
using TransportFactory = std::function<absl::StatusOr<std::unique_ptr<Transport>>()>;

}  // namespace smbd

#endif  // SMBD_SMB2_TRANSPORT_H_
