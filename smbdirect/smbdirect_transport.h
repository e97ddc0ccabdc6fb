// SmbDirectTransport: the [MS-SMBD] transport under the same Transport interface as TCP.
//
// Connection: [MS-SMBD] negotiate over an RdmaEndpoint (receives posted from the registered pool
// first, 3.1.5.2), then data-transfer messages. Sending is the seed's smbd_post_send_iter: a
// frame (Bvecq) is cut by SendPlanner into messages no larger than the peer's MaxReceiveSize;
// each message is one ibv_post_send whose SGEs are the send slot's 24-byte header (carved once
// per connection) and the frame's own registered pool pages, sent as they are. Caller memory in
// a RegisterBuffer region is gathered by its lkey (the frame's ticket is then released only
// when its last send completes); other caller memory (lkey 0: a caller's buffer for an inline
// WRITE) is first copied into pool pages (MakeSendable; SmbDirectStats::bounced_bytes counts
// it). Credits follow 3.1.5.1 (SmbDirectCreditGate). Receiving
// validates every header (3.1.5.8), reassembles fragmented messages (Reassembler), reposts
// receives and grants credits promptly (also with empty messages), answers RESPONSE_REQUESTED,
// and keeps the connection alive (3.1.6). Any violation or QP error is sticky: the endpoint is
// disconnected and every caller gets the first error.
//
// RDMA channel: RegisterForPeer gives the server exactly one I/O's bytes for that I/O only. Where
// windows are on (RdmaRegistrationMode; by default only on devices whose windows isolate: not
// rxe, whose window rkeys reach their whole region) and the I/O lies in a RegisterBuffer
// region, a type-2 window is bound over exactly the I/O (a send-queue work request) and
// offered for remote invalidation; it is invalidated here, and waited for, only if the server
// did not. Otherwise the range is registered (ibv_reg_mr, REMOTE_WRITE for a READ's
// destination, REMOTE_READ for a WRITE's source), split where the device limits pages per
// region, and deregistered when the returned object dies.
#ifndef SMBD_SMBDIRECT_SMBDIRECT_TRANSPORT_H_
#define SMBD_SMBDIRECT_SMBDIRECT_TRANSPORT_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <algorithm>
#include <memory>
#include <mutex>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "buffers/bvecq.h"
#include "buffers/page_pool.h"
#include "smb2/transport.h"
#include "smbdirect/keepalive.h"
#include "smbdirect/reassembly.h"
#include "smbdirect/smbdirect_credits.h"
#include "smbdirect/smbdirect_wire.h"
#include "smbdirect/verbs.h"

namespace smbd {

// How RDMA-channel I/O memory is made reachable by the server ([MS-SMB2] 2.2.19, 3.2.4.6).
enum class RdmaRegistrationMode {
  // Memory windows where the device enforces them (RdmaDeviceLimits::windows_isolate) and the
  // I/O lies in a RegisterBuffer region; per-I/O registration otherwise.
  kAuto,
  // ibv_reg_mr of exactly the I/O's bytes, deregistered when the I/O ends.
  kPerIo,
  // Windows over RegisterBuffer memory even where the device does not enforce a window's range
  // (rxe): for function tests of the window path, not for isolation.
  kWindows,
};
const char* RdmaRegistrationModeName(RdmaRegistrationMode mode);

struct SmbDirectOptions {
  // What we ask for in the negotiate request ([MS-SMBD] 2.2.1). 1364 is what Windows and
  // Linux use; it fits a receive buffer in one pool page.
  uint32_t preferred_send_size = 1364;
  uint32_t max_receive_size = 1364;
  // Linux uses (1364 * 255) / 2 so that reassembly cannot starve credits.
  uint32_t max_fragmented_size = (1364 * 255) / 2;
  uint16_t send_credit_target = 255;
  uint16_t receive_credit_max = 255;
  uint32_t max_read_write_size = 8 << 20;
  absl::Duration negotiate_timeout = absl::Seconds(5);
  // A sender without credits waits this long, then the connection fails.
  absl::Duration send_timeout = absl::Seconds(60);
  KeepaliveOptions keepalive;
  // Spin on the CQ instead of sleeping on the completion channel (lowest latency, one core).
  bool busy_poll = false;
  // Receive buffers held by frames delivered but not yet taken by Receive() before the
  // transport stops reposting (and so granting) receives: a peer cannot make a slow consumer
  // fill the pool. The default, 16384 receives (64 MiB of pool pages), is more than
  // a 16 MiB window of inline answers can hold (about 12,300 messages of 1364 bytes), so a
  // transfer with a consumer that keeps up never parks: parking stops the peer's credits, and
  // a peer that waits for credits to finish an answer while the client waits for its grants
  // stalls both (seen once in four signed 256 MiB reads from ksmbd with a limit of 255).
  uint32_t max_undelivered_receives = 16384;
  RdmaRegistrationMode registration = RdmaRegistrationMode::kAuto;
  // Windows bound at once (each can hold a bind and an invalidation in the send queue, so at
  // most the endpoint's registration_wrs / 2); an I/O that finds none free is registered per
  // I/O instead (SmbDirectStats::window_fallbacks).
  uint32_t max_windows = 32;
  // How long a local invalidation may take before the connection is dropped (which revokes
  // every rkey at once).
  absl::Duration invalidate_timeout = absl::Seconds(5);
};

struct SmbDirectStats {
  uint64_t messages_sent = 0;
  uint64_t empty_messages_sent = 0;
  uint64_t empty_messages_deferred = 0;  // found no free send slot; sent after a completion
  uint64_t messages_received = 0;
  uint64_t frames_sent = 0;
  uint64_t frames_received = 0;
  uint64_t bounced_bytes = 0;      // unregistered caller bytes copied into the pool to send
  uint64_t registrations = 0;      // RDMA channel registrations made
  uint64_t live_registrations = 0;
  uint64_t keepalives_sent = 0;
  uint64_t receives_parked = 0;    // receives not reposted while the consumer lagged
  uint64_t registered_send_bytes = 0;  // inline bytes sent from RegisterBuffer memory (no bounce)
  uint64_t window_binds = 0;           // I/Os given a memory window instead of a registration
  uint64_t window_fallbacks = 0;       // I/Os in RegisterBuffer memory that found no free window
  uint64_t peer_invalidations = 0;     // windows the server invalidated (SEND_WITH_INVALIDATE)
  uint64_t local_invalidations = 0;    // windows we invalidated because the server did not
  uint64_t unexpected_invalidations = 0;  // SEND_WITH_INVALIDATE naming no window we offered
  uint64_t caller_buffers = 0;         // RegisterBuffer regions alive
};

class SmbDirectTransport : public Transport {
 public:
  // Negotiates over `endpoint`. `pool` must be registered through endpoint->registrar() (its
  // pages carry the endpoint's lkeys) and outlive the transport.
  static absl::StatusOr<std::unique_ptr<SmbDirectTransport>> Create(
      std::unique_ptr<RdmaEndpoint> endpoint, PagePool* pool, const SmbDirectOptions& options);
  ~SmbDirectTransport() override;
  // Makes the transport the owner of its pool (or of what keeps it alive): released after
  // everything else, when the transport is destroyed. For a transport whose pool is its own
  // (an SMB Direct channel of a client whose first connection is TCP).
  void OwnPool(std::shared_ptr<void> pool) { owned_pool_ = std::move(pool); }
  // The server's address without the port (multichannel skips the interface it names).
  std::string peer_address() const override;
  // The same with the port ("ip:port", "[ipv6]:port"): 445 or 5445 by the device ([MS-SMBD] 2.1).
  std::string peer_endpoint() const {
    return endpoint_ != nullptr ? endpoint_->peer_address() : std::string();
  }

  using Transport::Send;
  absl::Status Send(const Bvecq& frame, absl::Time deadline) override;
  // Send() reads a frame's caller memory (bouncing it into pool pages) while it runs, and
  // nothing after it returns: AwaitReleased waits for a frame not started yet or running.
  uint64_t NextSendTicket() const override { return frames_started_.load() + 1; }
  absl::Status AwaitReleased(uint64_t ticket, absl::Time deadline) override;
  bool usable() const override { return status().ok(); }
  absl::StatusOr<Bvecq> Receive(absl::Duration idle_timeout) override;
  void Shutdown(absl::Status reason) override;
  void SetPlacementHook(PlacementHook* hook) override {}
  TransportLimits limits() const override;
  bool supports_rdma() const override { return true; }
  absl::StatusOr<std::unique_ptr<RdmaRegistration>> RegisterForPeer(absl::Span<uint8_t> memory,
                                                                     bool peer_writes) override;
  const char* name() const override { return "rdma"; }
  absl::StatusOr<std::unique_ptr<RegisteredBuffer>> RegisterBuffer(
      absl::Span<uint8_t> memory) override;
  bool binds_windows() const override { return windows_enabled_; }
  bool window_covers(absl::Span<const uint8_t> memory) const override {
    return windows_enabled_ && FindCallerRegion(memory.data(), memory.size()) != nullptr;
  }
  std::string registration_note() const override { return registration_note_; }

  const NegotiatedParams& negotiated() const { return params_; }
  SmbDirectStats stats() const;
  absl::Status status() const;
  RdmaEndpoint* endpoint() const { return endpoint_.get(); }

 private:
  // First, so that it goes last (after the endpoint and every page reference).
  std::shared_ptr<void> owned_pool_;
  class Registration;
  class CallerBuffer;
  // RegisterBuffer regions by end address, shared with the handles (which may outlive us).
  struct CallerRegions {
    mutable std::shared_mutex mu;
    std::map<uintptr_t, const MemoryRegion*> by_end;
  };
  // The RegisterBuffer region holding all of [p, p+n), or null.
  const MemoryRegion* FindCallerRegion(const void* p, size_t n) const;
  // A type-2 window and the state of its latest bind.
  struct WindowSlot {
    std::unique_ptr<MemoryWindow> window;
    uint32_t rkey = 0;
    bool bound = false;             // bound, and not yet invalidated by either side
    bool peer_invalidated = false;  // the server's SEND_WITH_INVALIDATE named rkey
    bool invalidate_done = false;   // our local invalidation completed
  };
  // A free window (allocated on first use, up to max_windows_), or nullopt when all are bound.
  absl::StatusOr<std::optional<uint32_t>> TakeWindow();
  // Invalidates window `index` unless the server did (never twice: invalidating an invalid
  // window panics rxe), waits for it, and frees the window.
  void ReleaseWindow(uint32_t index);
  void NotePeerInvalidated(uint32_t rkey);
  // One posted send: what its SGEs point into stays referenced until it completes.
  struct SendSlot {
    // The slot's own 24-byte data-transfer header, carved from header_pages_ at creation (one
    // page serves 128 slots; a page per message would cost ~780 pages per MiB sent inline).
    uint8_t* header = nullptr;
    uint32_t header_lkey = 0;
    Bvecq hold;  // the frame's pages (last message of a frame) and bounce pages
    uint64_t lends_ticket = 0;  // last message of a frame that gathers RegisterBuffer memory
    bool in_use = false;
  };
  // Gives every send slot its header space.
  absl::Status CarveHeaders();

  SmbDirectTransport(std::unique_ptr<RdmaEndpoint> endpoint, PagePool* pool,
                     const SmbDirectOptions& options);
  absl::Status Negotiate();
  absl::Status PostReceive(uint32_t slot);
  void CompletionLoop();
  absl::Status HandleCompletion(const WorkCompletion& wc);
  absl::Status HandleReceive(uint32_t slot, uint32_t byte_len);
  // Posts one message (header + payload SGEs) in `slot`; takes `hold` into the slot. The slot
  // is returned on failure.
  absl::Status PostMessage(uint32_t slot, const DataTransferHeader& h,
                           absl::Span<const Sge> payload, Bvecq hold, bool empty);
  // An empty message (credits, RESPONSE_REQUESTED) from the completion thread: never waits;
  // deferred when no send slot is free.
  absl::Status SendEmpty(uint16_t flags);
  absl::Status RetryDeferredEmpty();
  // A slot for a data message, leaving kReservedSlots free; waits until `deadline` (at most
  // send_timeout).
  absl::StatusOr<uint32_t> TakeSendSlot(absl::Time deadline);
  // Any free slot, or none, at once (empty messages).
  std::optional<uint32_t> TryTakeSendSlot();
  void ReturnSlot(uint32_t slot);
  static constexpr size_t kReservedSlots = 1;
  void Fail(absl::Status status);
  // Copies the frame's bytes that live in unregistered memory into pool pages.
  // Bytes in RegisterBuffer memory are gathered by its lkey (`*lends` set: the device reads
  // them until the send completes).
  absl::StatusOr<Bvecq> MakeSendable(const Bvecq& frame, bool* lends);

  // Not const: the destructor destroys it (draining the queue pair) before the pages that its
  // posted receives and sends point into go back to the pool.
  std::unique_ptr<RdmaEndpoint> endpoint_;
  PagePool* const pool_;
  const SmbDirectOptions options_;
  NegotiatedParams params_;
  std::unique_ptr<SmbDirectCreditGate> credits_;
  std::unique_ptr<Reassembler> reassembler_;

  // Receive buffers by slot (wr_id = slot).
  // Receive buffers, max_receive_size bytes each, packed three to a page at the default 1364
  // (a fragment holds a page reference; a frame that keeps its payload holds one too). An
  // empty message's buffer is posted again as it is.
  std::vector<Fragment> receives_;
  std::mutex recv_frags_mu_;  // PostReceive runs on the completion thread and in Receive()
  std::unique_ptr<FragAllocator> recv_frags_;

  std::mutex send_mu_;  // one frame at a time: fragments of two frames must not interleave
  std::atomic<uint64_t> frames_started_{0};  // under send_mu_: the last frame's ticket
  std::atomic<uint64_t> in_send_{0};         // the ticket of the frame being sent, or 0
  std::mutex sent_mu_;
  std::condition_variable sent_cv_;          // in_send_ went back to 0, or a lent frame completed
  uint64_t caller_lent_ = 0;      // under sent_mu_: the latest frame that lent caller memory
  uint64_t caller_released_ = 0;  // under sent_mu_: the latest such frame whose send completed
  std::mutex slots_mu_;
  std::condition_variable slots_cv_;
  std::vector<SendSlot> send_slots_;
  std::vector<uint32_t> free_slots_;

  mutable std::mutex mu_;
  std::condition_variable delivered_cv_;
  struct Delivered {
    Bvecq frame;
    uint32_t receives = 0;  // receive buffers it holds
  };
  // Frames waiting for Receive(), oldest first: a ring that grows only when its high-water mark
  // rises (std::deque allocates and frees a block every few hundred frames, in steady state).
  class DeliveredQueue {
   public:
    bool empty() const { return count_ == 0; }
    Delivered& front() { return slots_[head_]; }
    void pop_front() {
      slots_[head_] = Delivered();
      head_ = (head_ + 1) % slots_.size();
      --count_;
    }
    void push_back(Delivered d) {
      if (count_ == slots_.size()) Grow();
      slots_[(head_ + count_) % slots_.size()] = std::move(d);
      ++count_;
    }

   private:
    void Grow() {
      std::vector<Delivered> bigger(std::max<size_t>(16, slots_.size() * 2));
      for (size_t i = 0; i < count_; ++i) {
        bigger[i] = std::move(slots_[(head_ + i) % slots_.size()]);
      }
      slots_ = std::move(bigger);
      head_ = 0;
    }
    std::vector<Delivered> slots_;
    size_t head_ = 0;
    size_t count_ = 0;
  };
  DeliveredQueue delivered_;
  std::vector<PageRef> header_pages_;  // the send slots' headers (destroyed after endpoint_)
  uint32_t frame_receives_ = 0;         // receives in the frame being reassembled
  uint32_t undelivered_receives_ = 0;   // receives held by delivered_
  uint32_t max_undelivered_ = 0;
  std::vector<uint32_t> parked_;        // receive slots not reposted (consumer behind)
  bool deferred_empty_ = false;         // an empty message waits for a send slot
  uint16_t deferred_empty_flags_ = 0;
  absl::Status error_;
  KeepaliveTimer keepalive_;
  SmbDirectStats stats_;
  std::atomic<bool> stopping_{false};

  std::shared_ptr<CallerRegions> caller_regions_ = std::make_shared<CallerRegions>();
  bool windows_enabled_ = false;
  uint32_t max_windows_ = 0;
  std::string registration_note_;
  std::mutex win_mu_;  // before mu_ when both are held
  std::condition_variable win_cv_;
  std::vector<WindowSlot> windows_;  // reserved to max_windows_: never reallocated
  std::vector<uint32_t> free_windows_;

  std::thread completion_thread_;
};

}  // namespace smbd

#endif  // SMBD_SMBDIRECT_SMBDIRECT_TRANSPORT_H_
