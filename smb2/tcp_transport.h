// Direct TCP transport ([MS-SMB2] 2.1: port 445, each message preceded by a 4-byte big-endian
// length whose first byte is 0).
//
// Sending gathers the whole frame into one iovec array behind a 4-byte length word and hands it
// to sendmsg() (the seed's single-send idea), resuming partial sends. Frames of at least
// TcpOptions::zero_copy_min_bytes go out with MSG_ZEROCOPY (the seed's MSG_SPLICE_PAGES, in user
// space): the kernel sends from our memory instead of copying it, and tells on the socket's
// error queue when it is done with it; until then the frame's pool pages stay referenced here
// and a caller's memory is reported unreleased (Transport::AwaitReleased). When the kernel says
// it had to copy anyway (SO_EE_CODE_ZEROCOPY_COPIED: always on loopback) 16 times in a row,
// the transport stops asking, so it costs no more than a plain sendmsg from then on. Receiving
// reads a frame's start into a fragment of a shared page and the rest into pool pages; a READ
// response's data is received straight into the caller's buffer when a PlacementHook names
// one, so the bytes cross from the kernel to their destination once (the kernel's receive
// copy).
#ifndef SMBD_SMB2_TCP_TRANSPORT_H_
#define SMBD_SMB2_TCP_TRANSPORT_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "buffers/bvecq.h"
#include "buffers/page_pool.h"
#include "smb2/transport.h"

namespace smbd {

struct TcpOptions {
  absl::Duration connect_timeout = absl::Seconds(10);
  // A frame (or a send) that makes no progress for this long fails the connection.
  absl::Duration stall_timeout = absl::Seconds(60);
  uint64_t max_receive_frame = 16 << 20;
  // Socket buffer sizes (0: the kernel's defaults and autotuning).
  int send_buffer = 0;
  int receive_buffer = 0;
  // Frames of at least this many bytes are sent with MSG_ZEROCOPY where the socket allows it
  // (0: never). Pinning pages and reading the notification cost more than copying a small
  // frame. In the test-bed guest (virtio-net under TCG) zero-copy took less CPU than a copy
  // from 16 KiB frames up in every run, while at 4 KiB two runs disagreed (1.15x and 0.53x);
  // the kernel's msg_zerocopy documentation puts the break-even near 10 KB (BENCHMARKS.md 2d).
  uint64_t zero_copy_min_bytes = 16 << 10;
  // Benchmarks only: keep asking for zero-copy after the kernel reported a copy (to measure
  // what a forced MSG_ZEROCOPY costs where the kernel copies anyway).
  bool zero_copy_despite_copies = false;
  // Fault injection for tests: the Nth socket operation (1-based; connect, each sendmsg, each
  // recv/readv, each poll, each read of the error queue) fails with an I/O error. 0 disables.
  uint64_t fail_operation = 0;
};

struct TcpStats {
  uint64_t frames_sent = 0;
  uint64_t sendmsg_calls = 0;
  uint64_t frames_received = 0;
  uint64_t bytes_placed = 0;  // READ data received straight into callers' buffers
  uint64_t operations = 0;    // socket operations so far (for fault sweeps)
  // Zero-copy sends.
  bool zero_copy_enabled = false;    // still asking (SO_ZEROCOPY on, no copy reported yet)
  uint64_t zero_copy_frames = 0;     // frames sent (wholly or partly) with MSG_ZEROCOPY
  uint64_t zero_copy_calls = 0;      // sendmsg calls with MSG_ZEROCOPY
  uint64_t zero_copy_notifications = 0;
  uint64_t zero_copy_copied = 0;     // notifications saying the kernel copied after all
  uint64_t frames_lent = 0;          // frames whose memory the kernel holds right now
  bool frame_in_send = false;        // a Send() is running
  // Payload bytes the kernel copied out of our memory (plain sends, and zero-copy sends it
  // reported copied) and bytes it sent from our memory without a copy.
  uint64_t bytes_copied = 0;
  uint64_t bytes_zero_copy = 0;
};

class TcpTransport : public Transport {
 public:
  // Connects to host:port (IPv4 or IPv6, names resolved with getaddrinfo).
  static absl::StatusOr<std::unique_ptr<TcpTransport>> Connect(absl::string_view host,
                                                                uint16_t port, PagePool* pool,
                                                                const TcpOptions& options = {});
  // Wraps an already connected stream socket (tests use socketpair). Takes ownership of `fd`.
  static std::unique_ptr<TcpTransport> FromSocket(int fd, PagePool* pool,
                                                  const TcpOptions& options = {});
  ~TcpTransport() override;

  using Transport::Send;
  absl::Status Send(const Bvecq& frame, absl::Time deadline) override;
  bool usable() const override { return !is_shut_.load(); }
  absl::StatusOr<Bvecq> Receive(absl::Duration idle_timeout) override;
  void Shutdown(absl::Status reason) override;
  void SetPlacementHook(PlacementHook* hook) override { hook_ = hook; }
  TransportLimits limits() const override;
  const char* name() const override { return "tcp"; }
  std::string peer_address() const override;
  uint64_t NextSendTicket() const override { return frames_started_.load() + 1; }
  absl::Status AwaitReleased(uint64_t ticket, absl::Time deadline) override;

  TcpStats stats() const;
  const std::string& peer() const { return peer_; }

 private:
  TcpTransport(int fd, PagePool* pool, const TcpOptions& options, std::string peer);
  absl::Status Fault(const char* op);
  // Waits until fd is readable/writable or the deadline passes (or shutdown).
  absl::Status WaitFor(short events, absl::Time deadline, const char* what);
  // Reads exactly `len` bytes into `dst`.
  absl::Status ReadExact(uint8_t* dst, size_t len, absl::Time deadline);
  // At least `min_len` bytes from recv_frags_ (the rest of its page), or a whole page when the
  // pool is at its bound (waiting up to the stall timeout for one).
  absl::StatusOr<Fragment> ReceivePiece(size_t min_len);
  // Reads `len` bytes into fresh pool pages appended to `frame`.
  absl::Status ReadIntoPages(Bvecq* frame, uint64_t len, absl::Time deadline);
  absl::Status Closed() const;
  // Send() with send_mu_ held; `lent` (or null) is the frame's zero-copy slot.
  struct Lent;
  absl::Status SendLocked(const Bvecq& frame, absl::Time deadline, Lent* lent);

  // One frame lent to the kernel by MSG_ZEROCOPY. Notification ids are the kernel's per-socket
  // counter of zero-copy sendmsg calls ([kernel] Documentation/networking/msg_zerocopy.rst).
  struct Lent {
    bool used = false;
    bool sending = false;  // the sender may still add calls
    bool copied = false;   // a notification said the kernel copied (some of) it
    uint64_t ticket = 0;
    uint64_t first_id = 0;  // ids [first_id, first_id + calls)
    uint64_t calls = 0;
    uint64_t done = 0;      // of those, notified
    uint64_t bytes = 0;     // sent by zero-copy calls
    Bvecq held;             // a reference on each of the frame's pool pages
    uint8_t length_word[4];  // the frame's RFC 1002 length, which the kernel reads late too
  };
  static constexpr int kMaxLent = 64;
  // A free slot for a new lent frame, or null (then the frame is sent plainly). zc_mu_ held.
  Lent* TakeSlotLocked();
  // Ends `lent` if every call of it was notified. zc_mu_ held.
  void MaybeReleaseLocked(Lent* lent);
  // Reads every notification queued on the error queue (never blocks).
  void DrainErrorQueue();

  const int fd_;
  PagePool* const pool_;
  const TcpOptions options_;
  const std::string peer_;
  PlacementHook* hook_ = nullptr;
  // Where frames' first bytes are received (ReceivePiece). Used by the receiving thread only
  // (one receiver at a time).
  FragAllocator recv_frags_;

  std::mutex send_mu_;
  mutable std::mutex state_mu_;
  absl::Status shutdown_;
  std::atomic<bool> is_shut_{false};
  std::atomic<uint64_t> ops_{0};
  std::atomic<uint64_t> frames_sent_{0};
  std::atomic<uint64_t> sendmsg_calls_{0};
  std::atomic<uint64_t> frames_received_{0};
  std::atomic<uint64_t> bytes_placed_{0};
  std::atomic<uint64_t> frames_started_{0};  // under send_mu_: the last frame's ticket
  std::atomic<uint64_t> in_send_{0};  // the ticket of the frame Send() is sending now, or 0

  // Zero-copy state. send_mu_ orders sends; zc_mu_ guards the lent frames and is never held
  // across a blocking call, so the receive thread can read notifications while a send waits.
  std::atomic<bool> zero_copy_{false};
  mutable std::mutex zc_mu_;
  std::condition_variable zc_cv_;
  Lent lent_[kMaxLent];
  int lent_count_ = 0;
  uint64_t zc_next_id_ = 0;  // the kernel's next notification id, unwrapped to 64 bits
  static constexpr int kCopiesToStop = 16;
  int zc_copied_in_a_row_ = 0;  // notifications in a row that reported a copy
  std::atomic<uint64_t> zc_frames_{0};
  std::atomic<uint64_t> zc_calls_{0};
  std::atomic<uint64_t> zc_notifications_{0};
  std::atomic<uint64_t> zc_copied_{0};
  std::atomic<uint64_t> bytes_copied_{0};
  std::atomic<uint64_t> bytes_zero_copy_{0};
};

}  // namespace smbd

#endif  // SMBD_SMB2_TCP_TRANSPORT_H_
