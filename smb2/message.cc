#include "smb2/message.h"

#include <algorithm>
#include <new>

#include "absl/strings/str_cat.h"

namespace smbd {

// Process-wide free list of messages: grows on demand, never shrinks.
class MessageCache {
 public:
  static MessageCache& Get() {
    static MessageCache* cache = new MessageCache();
    return *cache;
  }

  SmbMessage* Alloc() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.in_use++;
      if (free_ != nullptr) {
        SmbMessage* m = free_;
        free_ = m->next_free_;
        m->next_free_ = nullptr;
        return m;
      }
      stats_.heap_messages++;
    }
    return new SmbMessage();
  }

  void Free(SmbMessage* m) {
    m->Reset();
    std::lock_guard<std::mutex> lock(mu_);
    m->next_free_ = free_;
    free_ = m;
    stats_.in_use--;
  }

  MessageCacheStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  std::mutex mu_;
  SmbMessage* free_ = nullptr;
  MessageCacheStats stats_;
};

MessageCacheStats GetMessageCacheStats() { return MessageCache::Get().stats(); }

SmbMessageRef SmbMessage::New() {
  SmbMessage* m = MessageCache::Get().Alloc();
  m->refs_.store(1, std::memory_order_relaxed);
  return SmbMessageRef::Adopt(m);
}

void SmbMessage::Unref() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) MessageCache::Get().Free(this);
}

void SmbMessage::Reset() {
  header = Smb2Header();
  expected_response_bytes = 0;
  send_ticket.store(0);
  request.Clear();
  wire_offset = wire_length = 0;
  next.reset();
  response_header = Smb2Header();
  response.Clear();
  rdma.reset();
  read_destination = {};
  connection = nullptr;
  pending = false;
  async_id = 0;
  deadline = std::chrono::steady_clock::time_point::max();
  done_.store(false, std::memory_order_relaxed);
  result_ = absl::OkStatus();
  callback_ = nullptr;
  callback_arg_ = nullptr;
}

absl::Duration SmbMessage::TimeLeft() const {
  if (deadline == std::chrono::steady_clock::time_point::max()) return absl::InfiniteDuration();
  return std::max(absl::FromChrono(deadline - std::chrono::steady_clock::now()),
                  absl::ZeroDuration());
}

void SmbMessage::SetDeadlineIn(absl::Duration timeout) {
  const absl::Duration bounded = std::min(timeout, absl::Hours(24 * 365));
  deadline = std::chrono::steady_clock::now() +
             std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                 absl::ToChronoNanoseconds(bounded));
}

void SmbMessage::Complete(absl::Status result) {
  Callback cb;
  void* arg;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_.load(std::memory_order_relaxed)) return;
    result_ = std::move(result);
    done_.store(true, std::memory_order_release);
    cb = callback_;
    arg = callback_arg_;
    if (cb == nullptr) cv_.notify_all();
  }
  if (cb != nullptr) cb(this, arg);
}

absl::Status SmbMessage::Wait(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  // Clamp so that an infinite timeout cannot overflow the clock arithmetic.
  const absl::Duration bounded = std::min(timeout, absl::Hours(24 * 365));
  const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(bounded);
  while (!done_.load(std::memory_order_relaxed)) {
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout &&
        !done_.load(std::memory_order_relaxed)) {
      return absl::DeadlineExceededError(
          absl::StrCat(CommandName(header.command), " (message id ", header.message_id,
                       "): no response within ", absl::FormatDuration(timeout)));
    }
  }
  return result_;
}

}  // namespace smbd
