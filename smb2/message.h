// SmbMessage: the seed's `struct smb_message`, the request descriptor that travels from the PDU
// encoder down to the transport and back. It replaces a "mid queue entry": it holds the request
// header fields, its encoded bytes (a Bvecq), credits charged and granted, the decoded response,
// and its own completion. There is no shared wait queue: each message wakes only its own waiter
// or runs only its own callback.
//
// Reference rule (from the seed): whoever creates a message holds a reference until completion;
// queueing a message adds a reference; whoever dequeues it owns that reference and either drops
// it or passes it on. `next` chains compound members (the chain holds a reference on each).
//
// Messages are recycled through a process-wide cache, so steady-state I/O allocates none.
#ifndef SMBD_SMB2_MESSAGE_H_
#define SMBD_SMB2_MESSAGE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "buffers/bvecq.h"
#include "smb2/header.h"
#include "smb2/rdma_registration.h"

namespace smbd {

class Connection;

class SmbMessage;

// Intrusive reference-counted pointer to an SmbMessage.
class SmbMessageRef {
 public:
  SmbMessageRef() = default;
  static SmbMessageRef Adopt(SmbMessage* m) { return SmbMessageRef(m); }
  SmbMessageRef(const SmbMessageRef& o);
  SmbMessageRef(SmbMessageRef&& o) noexcept : m_(o.m_) { o.m_ = nullptr; }
  SmbMessageRef& operator=(SmbMessageRef o) noexcept {
    std::swap(m_, o.m_);
    return *this;
  }
  ~SmbMessageRef() { reset(); }
  void reset();
  SmbMessage* release() {
    SmbMessage* m = m_;
    m_ = nullptr;
    return m;
  }
  SmbMessage* get() const { return m_; }
  SmbMessage* operator->() const { return m_; }
  SmbMessage& operator*() const { return *m_; }
  explicit operator bool() const { return m_ != nullptr; }

 private:
  explicit SmbMessageRef(SmbMessage* m) : m_(m) {}
  SmbMessage* m_ = nullptr;
};

class SmbMessage {
 public:
  using Callback = void (*)(SmbMessage* message, void* arg);

  // A fresh message with one reference (the creator's).
  static SmbMessageRef New();

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref();
  uint32_t refcount() const { return refs_.load(std::memory_order_relaxed); }

  // --- Request ---
  // Header fields of the request. message_id is assigned when the message is sent.
  Smb2Header header;
  // Payload bytes the response is expected to carry (READ length, QUERY_INFO output size): with
  // the request's own payload it decides the credit charge.
  uint64_t expected_response_bytes = 0;
  // The encoded request. For a compound, the head's queue holds every member; each member's
  // bytes are [wire_offset, wire_offset + wire_length) of it (padding included).
  Bvecq request;
  uint64_t wire_offset = 0;
  uint64_t wire_length = 0;
  // Next member of a compound chain (holds a reference).
  SmbMessageRef next;

  // --- Response ---
  Smb2Header response_header;
  // The response member's bytes (header + body), sharing the receive buffer's pages.
  Bvecq response;
  // Where a READ response's data goes (the transport may receive it straight there).
  absl::Span<uint8_t> read_destination;
  // The registration that lets the server write read_destination (READ) or read the payload
  // (WRITE) by RDMA, for this request only. Whoever completes the I/O resets it as soon as the
  // answer is in, so that the peer reaches the memory no longer than the request runs; Reset()
  // drops it at the latest.
  std::unique_ptr<RdmaRegistration> rdma;
  // The transport's number for the frame that carried this request (Transport::NextSendTicket),
  // 0 when it lent the kernel nothing that this message does not own. The connection waits for
  // the kernel to release that frame's memory (a WRITE's source) before completing the message.
  std::atomic<uint64_t> send_ticket{0};
  // The connection the request was submitted to (set by Connection::Submit): after a
  // reconnect the client has several, and cancelling or abandoning a request must reach the one
  // that holds it.
  Connection* connection = nullptr;
  // Interim STATUS_PENDING seen: the request goes on asynchronously under this id.
  bool pending = false;
  uint64_t async_id = 0;

  // The request's deadline, from its submission: sending it (credits, the send lock, the
  // transport) ends by then, and a blocking waiter waits until then. For requests completed by
  // callback, if no answer has come by then, the connection cancels the request and completes
  // it with DeadlineExceeded. Steady clock: a wall-clock step must not expire requests.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // Sets `deadline` to now + `timeout` (clamped to a year).
  void SetDeadlineIn(absl::Duration timeout);

  // Scratch space for the layer above (e.g. an async call's callback state), so that it needs
  // no allocation of its own. Trivially destructible contents only.
  alignas(16) unsigned char user_data[48];

  // --- Completion ---
  // Runs `callback(this, arg)` on completion instead of waking a waiter. Set before sending.
  void SetCallback(Callback callback, void* arg) {
    callback_ = callback;
    callback_arg_ = arg;
  }
  // Completes the message once with `result` (OK: response_header/response are valid; the
  // NTSTATUS is in response_header.status). Later calls are ignored.
  void Complete(absl::Status result);
  // Waits for completion up to `timeout`; DeadlineExceeded if it did not complete.
  absl::Status Wait(absl::Duration timeout);
  bool done() const { return done_.load(std::memory_order_acquire); }
  bool has_callback() const { return callback_ != nullptr; }
  // Time left until `deadline` (InfiniteDuration when none is set).
  absl::Duration TimeLeft() const;
  // The transport or protocol result (not the NTSTATUS). Valid once done().
  const absl::Status& result() const { return result_; }

  // Returns the message to its fresh state (the cache does this when it is released).
  void Reset();

 private:
  friend class MessageCache;
  SmbMessage() = default;
  ~SmbMessage() = default;

  std::atomic<uint32_t> refs_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> done_{false};
  absl::Status result_;
  Callback callback_ = nullptr;
  void* callback_arg_ = nullptr;
  SmbMessage* next_free_ = nullptr;
};

struct MessageCacheStats {
  uint64_t heap_messages = 0;  // messages ever allocated from the heap
  uint64_t in_use = 0;
};
MessageCacheStats GetMessageCacheStats();

inline SmbMessageRef::SmbMessageRef(const SmbMessageRef& o) : m_(o.m_) {
  if (m_ != nullptr) m_->Ref();
}
inline void SmbMessageRef::reset() {
  if (m_ != nullptr) m_->Unref();
  m_ = nullptr;
}

}  // namespace smbd

#endif  // SMBD_SMB2_MESSAGE_H_
