#include "smbdirect/smbdirect_transport.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "buffers/wire.h"
#include "smbdirect/send_planner.h"

namespace smbd {
namespace {

// wr_id tags: receives use their slot number, sends set the top bit.
constexpr uint64_t kSendTag = uint64_t{1} << 63;
// Window work: kRegTag | window index << 1 | (1 for a local invalidation, 0 for a bind).
constexpr uint64_t kRegTag = uint64_t{1} << 62;
constexpr uint32_t kHeaderBytes = 24;
constexpr uint32_t kHeaderStride = 32;  // a slot's header space (8-byte aligned)
constexpr int kMaxSge = 32;

}  // namespace

const char* RdmaRegistrationModeName(RdmaRegistrationMode mode) {
  switch (mode) {
    case RdmaRegistrationMode::kAuto:
      return "auto";
    case RdmaRegistrationMode::kPerIo:
      return "per-io";
    case RdmaRegistrationMode::kWindows:
      return "windows";
  }
  return "?";
}

// A RegisterBuffer region: known to the transport (by address) while it lives.
class SmbDirectTransport::CallerBuffer final : public RegisteredBuffer {
 public:
  CallerBuffer(absl::Span<uint8_t> memory, std::unique_ptr<MemoryRegion> region,
               std::shared_ptr<CallerRegions> regions)
      : RegisteredBuffer(memory),
        region_(std::move(region)),
        regions_(std::move(regions)),
        end_(reinterpret_cast<uintptr_t>(memory.data()) + memory.size()) {}
  ~CallerBuffer() override {
    std::unique_lock<std::shared_mutex> lock(regions_->mu);
    regions_->by_end.erase(end_);
  }
 private:
  std::unique_ptr<MemoryRegion> region_;
  std::shared_ptr<CallerRegions> regions_;
  const uintptr_t end_;
};

// A registration of one I/O's memory for the peer: one or more MRs, their descriptors.
class SmbDirectTransport::Registration : public RdmaRegistration {
 public:
  Registration(SmbDirectTransport* t) : transport_(t) {}
  ~Registration() override {
    // The peer's rkeys stop working here: the window is invalidated (unless the server did) or
    // the regions deregistered.
    if (window_ >= 0) transport_->ReleaseWindow(static_cast<uint32_t>(window_));
    regions_.clear();
    std::lock_guard<std::mutex> lock(transport_->mu_);
    transport_->stats_.live_registrations--;
  }
  absl::Span<const BufferDescriptorV1> descriptors() const override { return descriptors_; }
  bool remote_invalidate() const override { return window_ >= 0; }

  // One per RDMA-channel I/O: recycled through a free list, so that steady-state I/O allocates
  // no registration objects (smb2/client:no_alloc_test counts it).
  static void* operator new(size_t n) {
    if (n == sizeof(Registration)) {
      std::lock_guard<std::mutex> lock(free_mu_);
      if (free_ != nullptr) {
        FreeBlock* b = free_;
        free_ = b->next;
        --free_count_;
        return b;
      }
    }
    return ::operator new(std::max(n, sizeof(FreeBlock)));
  }
  static void operator delete(void* p, size_t n) {
    if (n == sizeof(Registration)) {
      std::lock_guard<std::mutex> lock(free_mu_);
      if (free_count_ < kMaxFree) {
        free_ = new (p) FreeBlock{free_};
        ++free_count_;
        return;
      }
    }
    ::operator delete(p);
  }

  SmbDirectTransport* const transport_;
  absl::InlinedVector<std::unique_ptr<MemoryRegion>, 4> regions_;
  absl::InlinedVector<BufferDescriptorV1, 4> descriptors_;
  int window_ = -1;  // windows_ index, when the I/O got a window instead of regions

 private:
  struct FreeBlock {
    FreeBlock* next;
  };
  static constexpr int kMaxFree = 1024;  // more I/Os than that in flight are rare
  static inline std::mutex free_mu_;
  static inline FreeBlock* free_ = nullptr;
  static inline int free_count_ = 0;
};

absl::StatusOr<std::unique_ptr<SmbDirectTransport>> SmbDirectTransport::Create(
    std::unique_ptr<RdmaEndpoint> endpoint, PagePool* pool, const SmbDirectOptions& options) {
  if (endpoint == nullptr || pool == nullptr) {
    return absl::InvalidArgumentError("SmbDirectTransport needs an endpoint and a pool");
  }
  if (options.max_receive_size > kPageSize || options.max_receive_size < kSmbDirectMinReceiveSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_receive_size ", options.max_receive_size, " must be in [128, ", kPageSize, "]"));
  }
  std::unique_ptr<SmbDirectTransport> t(
      new SmbDirectTransport(std::move(endpoint), pool, options));
  SMBD_RETURN_IF_ERROR(t->CarveHeaders());
  absl::Status s = t->Negotiate();
  if (!s.ok()) {
    t->Fail(s);
    return s;
  }
  t->completion_thread_ = std::thread([p = t.get()] { p->CompletionLoop(); });
  return t;
}

SmbDirectTransport::SmbDirectTransport(std::unique_ptr<RdmaEndpoint> endpoint, PagePool* pool,
                                       const SmbDirectOptions& options)
    : endpoint_(std::move(endpoint)),
      pool_(pool),
      options_(options),
      keepalive_(options.keepalive, absl::Now()) {
  SmbDirectCreditOptions co;
  co.send_credit_target = options.send_credit_target;
  co.receive_credit_max = static_cast<uint16_t>(
      std::min<uint32_t>(options.receive_credit_max, endpoint_->queue_sizes().recv_wr));
  credits_ = std::make_unique<SmbDirectCreditGate>(co);
  receives_.resize(co.receive_credit_max);
  recv_frags_ = std::make_unique<FragAllocator>(pool_);
  max_undelivered_ = std::max<uint32_t>(options.max_undelivered_receives, 1);
  // Sends never take the send queue's room for window binds and invalidations, whatever
  // credits a peer grants: window work must not find the queue full.
  const QueueSizes& q = endpoint_->queue_sizes();
  const uint32_t slots = std::max<uint32_t>(
      q.send_wr > q.registration_wrs ? q.send_wr - q.registration_wrs : 0, 2);
  // Registration mode (SmbDirectOptions::registration), decided once from the device's facts.
  const RdmaDeviceLimits& dev = endpoint_->limits();
  max_windows_ = std::min<uint32_t>(options.max_windows, q.registration_wrs / 2);
  if (options.registration == RdmaRegistrationMode::kPerIo) {
    registration_note_ = "per-I/O registration (chosen by the caller)";
  } else if (!dev.memory_windows) {
    registration_note_ =
        absl::StrCat("per-I/O registration: ", dev.device_name, " has no type-2 memory windows");
  } else if (max_windows_ == 0) {
    registration_note_ = absl::StrCat(
        "per-I/O registration: the send queue has no room for window binds (registration_wrs ",
        q.registration_wrs, ")");
  } else if (options.registration == RdmaRegistrationMode::kAuto && !dev.windows_isolate) {
    registration_note_ = absl::StrCat("per-I/O registration: ", dev.device_name,
                                      "'s memory windows reach their whole region");
  } else {
    windows_enabled_ = true;
    registration_note_ = absl::StrCat(
        "memory windows over registered buffers (up to ", max_windows_, " bound), per-I/O "
        "registration elsewhere",
        dev.windows_isolate ? "" : "; forced: this device's windows do not isolate");
  }
  windows_.reserve(max_windows_);
  send_slots_.resize(slots);
  for (uint32_t i = 0; i < slots; ++i) free_slots_.push_back(slots - 1 - i);
}

absl::Status SmbDirectTransport::CarveHeaders() {
  constexpr uint32_t kPerPage = kPageSize / kHeaderStride;
  for (uint32_t i = 0; i < send_slots_.size(); ++i) {
    if (i % kPerPage == 0) {
      SMBD_ASSIGN_OR_RETURN(PageRef page, pool_->TryAlloc());
      header_pages_.push_back(std::move(page));
    }
    const PageRef& page = header_pages_.back();
    send_slots_[i].header = page.data() + (i % kPerPage) * kHeaderStride;
    send_slots_[i].header_lkey = page->lkey();
  }
  return absl::OkStatus();
}

SmbDirectTransport::~SmbDirectTransport() {
  Shutdown(absl::CancelledError("SMB Direct transport closed"));
  if (completion_thread_.joinable()) completion_thread_.join();
  // Destroying the endpoint drains the queue pair (every posted receive and send flushed):
  // only then may the pages they point into go back to the pool, where the next user could
  // otherwise see the device write into them (members would go first in declaration order).
  endpoint_.reset();
}

std::string SmbDirectTransport::peer_address() const {
  // The endpoint says "ip:port" or "[ipv6]:port".
  std::string a = endpoint_ != nullptr ? endpoint_->peer_address() : std::string();
  if (!a.empty() && a[0] == '[') {
    const size_t close = a.find(']');
    return close == std::string::npos ? std::string() : a.substr(1, close - 1);
  }
  const size_t colon = a.rfind(':');
  return colon == std::string::npos ? a : a.substr(0, colon);
}

absl::Status SmbDirectTransport::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

SmbDirectStats SmbDirectTransport::stats() const {
  SmbDirectStats s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s = stats_;
  }
  std::shared_lock<std::shared_mutex> lock(caller_regions_->mu);
  s.caller_buffers = caller_regions_->by_end.size();
  return s;
}

TransportLimits SmbDirectTransport::limits() const {
  TransportLimits l;
  l.max_receive_frame = params_.max_fragmented_receive_size;
  l.max_send_frame = params_.max_fragmented_send_size;
  // One I/O is bounded by the peer's MaxReadWriteSize; larger registrations are split into
  // several descriptors by RegisterForPeer.
  l.max_rdma_io = params_.max_read_write_size;
  return l;
}

void SmbDirectTransport::Fail(absl::Status status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error_.ok()) return;
    error_ = status.ok() ? absl::UnavailableError("SMB Direct connection closed") : status;
  }
  credits_->Fail(status);
  endpoint_->Disconnect(status);
  delivered_cv_.notify_all();
  slots_cv_.notify_all();
  {
    std::lock_guard<std::mutex> lock(win_mu_);  // a waiter between its check and its wait
  }
  win_cv_.notify_all();
  {
    std::lock_guard<std::mutex> lock(sent_mu_);
  }
  sent_cv_.notify_all();
}

void SmbDirectTransport::Shutdown(absl::Status reason) {
  stopping_ = true;
  Fail(reason);
}

absl::Status SmbDirectTransport::PostReceive(uint32_t slot) {
  Fragment& r = receives_[slot];
  if (!r.page) {
    std::lock_guard<std::mutex> lock(recv_frags_mu_);
    // 4-byte alignment keeps three 1364-byte buffers in a page ([MS-SMBD] 2.2.3's fields are
    // read bytewise by the decoder, and the payload's 8-byte DataOffset is relative).
    SMBD_ASSIGN_OR_RETURN(r, recv_frags_->Alloc(options_.max_receive_size, 4));
  }
  Sge sge{reinterpret_cast<uintptr_t>(r.data), options_.max_receive_size, r.page->lkey()};
  return endpoint_->PostRecv(slot, absl::MakeConstSpan(&sge, 1));
}

absl::Status SmbDirectTransport::Negotiate() {
  const uint32_t n = static_cast<uint32_t>(receives_.size());
  if (n < 2) return absl::FailedPreconditionError("SMB Direct needs at least 2 receive buffers");
  for (uint32_t i = 0; i < n; ++i) SMBD_RETURN_IF_ERROR(PostReceive(i));
  // [MS-SMBD] 3.1.5.2: the negotiate request, from a registered page.
  SmbDirectNegotiateRequest req;
  req.credits_requested = options_.send_credit_target;
  req.preferred_send_size = options_.preferred_send_size;
  req.max_receive_size = options_.max_receive_size;
  req.max_fragmented_size = options_.max_fragmented_size;
  SMBD_ASSIGN_OR_RETURN(PageRef page, pool_->TryAlloc());
  WireWriter w(absl::MakeSpan(page.data(), kNegotiateRequestSize));
  SMBD_RETURN_IF_ERROR(EncodeSmbDirectNegotiateRequest(req, &w));
  SMBD_RETURN_IF_ERROR(w.Finish());
  Sge sge{reinterpret_cast<uintptr_t>(page.data()), kNegotiateRequestSize, page->lkey()};
  SMBD_RETURN_IF_ERROR(endpoint_->PostSend(kSendTag, absl::MakeConstSpan(&sge, 1), true));

  const absl::Time deadline = absl::Now() + options_.negotiate_timeout;
  bool sent = false;
  std::optional<WorkCompletion> response;
  WorkCompletion wcs[8];
  while (!sent || !response.has_value()) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrCat(
          "SMB Direct negotiate with ", endpoint_->peer_address(), ": no response within ",
          absl::FormatDuration(options_.negotiate_timeout)));
    }
    const int got = endpoint_->PollCompletions(absl::MakeSpan(wcs));
    if (got == 0) {
      absl::Status s = endpoint_->WaitForCompletions(left);
      if (!s.ok() && s.code() != absl::StatusCode::kDeadlineExceeded) return s;
      continue;
    }
    for (int i = 0; i < got; ++i) {
      if (wcs[i].status != WcStatus::kSuccess) {
        return absl::UnavailableError(absl::StrCat("SMB Direct negotiate: ",
                                                   CompletionError(wcs[i]).message()));
      }
      if (wcs[i].wr_id & kSendTag) {
        sent = true;
      } else if (!response.has_value()) {
        response = wcs[i];
      } else {
        return absl::DataLossError("SMB Direct negotiate: more than one response");
      }
    }
  }
  const uint32_t slot = static_cast<uint32_t>(response->wr_id);
  if (slot >= receives_.size()) return absl::InternalError("negotiate: bad receive slot");
  absl::Span<const uint8_t> bytes(receives_[slot].data, response->byte_len);
  SMBD_ASSIGN_OR_RETURN(
      params_, ProcessSmbDirectNegotiateResponse(req, bytes, options_.max_read_write_size));
  reassembler_ = std::make_unique<Reassembler>(params_.max_fragmented_receive_size);
  // n receives were posted; the response used one, which is posted again.
  SMBD_RETURN_IF_ERROR(credits_->OnReceivePosted(n - 1));
  SMBD_RETURN_IF_ERROR(
      credits_->OnNegotiated(params_.send_credits, params_.receive_credit_target));
  SMBD_RETURN_IF_ERROR(PostReceive(slot));
  SMBD_RETURN_IF_ERROR(credits_->OnReceivePosted(1));
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> SmbDirectTransport::TakeSendSlot(absl::Time deadline) {
  std::unique_lock<std::mutex> lock(slots_mu_);
  const absl::Time until = std::min(deadline, absl::Now() + options_.send_timeout);
  // Data messages leave kReservedSlots free: a credit-only message from the completion thread
  // (which alone frees slots) must never have to wait for one.
  while (free_slots_.size() <= kReservedSlots) {
    SMBD_RETURN_IF_ERROR(status());
    if (slots_cv_.wait_until(lock, absl::ToChronoTime(until)) == std::cv_status::timeout &&
        free_slots_.size() <= kReservedSlots) {
      return absl::DeadlineExceededError("SMB Direct: no send completion within the timeout");
    }
  }
  const uint32_t slot = free_slots_.back();
  free_slots_.pop_back();
  send_slots_[slot].in_use = true;
  return slot;
}

std::optional<uint32_t> SmbDirectTransport::TryTakeSendSlot() {
  std::lock_guard<std::mutex> lock(slots_mu_);
  if (free_slots_.empty()) return std::nullopt;
  const uint32_t slot = free_slots_.back();
  free_slots_.pop_back();
  send_slots_[slot].in_use = true;
  return slot;
}

void SmbDirectTransport::ReturnSlot(uint32_t slot) {
  std::lock_guard<std::mutex> lock(slots_mu_);
  SendSlot& s = send_slots_[slot];
  s.hold.Clear();
  s.lends_ticket = 0;
  s.in_use = false;
  free_slots_.push_back(slot);
  slots_cv_.notify_one();
}

absl::Status SmbDirectTransport::PostMessage(uint32_t slot, const DataTransferHeader& h,
                                             absl::Span<const Sge> payload, Bvecq hold,
                                             bool empty) {
  SendSlot& s = send_slots_[slot];
  s.hold = std::move(hold);
  absl::StatusOr<size_t> hlen = EncodeDataTransferHeader(h, absl::MakeSpan(s.header, kHeaderBytes));
  if (!hlen.ok()) {
    ReturnSlot(slot);
    return hlen.status();
  }
  Sge sges[kMaxSge];
  sges[0] = Sge{reinterpret_cast<uintptr_t>(s.header), static_cast<uint32_t>(*hlen), s.header_lkey};
  for (size_t i = 0; i < payload.size(); ++i) sges[i + 1] = payload[i];
  absl::Status st =
      endpoint_->PostSend(kSendTag | slot, absl::MakeConstSpan(sges, payload.size() + 1), true);
  if (!st.ok()) {
    ReturnSlot(slot);
    return st;
  }
  std::lock_guard<std::mutex> lock(mu_);
  stats_.messages_sent++;
  if (empty) stats_.empty_messages_sent++;
  keepalive_.OnMessageSent(h.response_requested(), absl::Now());
  return absl::OkStatus();
}

absl::Status SmbDirectTransport::SendEmpty(uint16_t flags) {
  // Runs on the completion thread, which must never wait: without a free slot the message is
  // deferred until a send completion frees one (RetryDeferredEmpty).
  std::optional<uint32_t> slot = TryTakeSendSlot();
  if (!slot.has_value()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      deferred_empty_ = true;
      deferred_empty_flags_ |= flags;
      stats_.empty_messages_deferred++;
    }
    // On another thread than the completion thread (Receive() reposting), the last send
    // completion may have freed a slot between the try and the flag: look once more, or the
    // message would wait for the completion loop's next wakeup (up to a second).
    slot = TryTakeSendSlot();
    if (!slot.has_value()) return absl::OkStatus();
    std::lock_guard<std::mutex> lock(mu_);
    flags |= deferred_empty_flags_;
    deferred_empty_ = false;
    deferred_empty_flags_ = 0;
  }
  absl::StatusOr<std::optional<SmbDirectSendTicket>> ticket = credits_->TryAcquireEmpty(flags);
  if (ticket.ok() && !ticket->has_value() && (flags & kSmbDirectResponseRequested) != 0) {
    // Keepalive probes may go whenever a credit allows (TryAcquireSend), not only when the
    // credit rules want an empty message.
    ticket = credits_->TryAcquireSend(flags);
  }
  if (!ticket.ok() || !ticket->has_value()) {
    ReturnSlot(*slot);
    return ticket.status();
  }
  const SmbDirectSendTicket& t = **ticket;
  DataTransferHeader h = MakeDataTransferHeader(t.credits_requested, t.credits_granted, t.flags, 0, 0);
  return PostMessage(*slot, h, {}, Bvecq(), true);
}

absl::Status SmbDirectTransport::RetryDeferredEmpty() {
  uint16_t flags = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!deferred_empty_) return absl::OkStatus();
    deferred_empty_ = false;
    flags = deferred_empty_flags_;
    deferred_empty_flags_ = 0;
  }
  return SendEmpty(flags);
}

absl::StatusOr<Bvecq> SmbDirectTransport::MakeSendable(const Bvecq& frame, bool* lends) {
  // Keep references on the frame's pages; bytes in unregistered memory (lkey 0: caller buffers
  // of small inline WRITEs) go by their RegisterBuffer region's lkey when they lie in one, and
  // are otherwise copied into pool pages, which are registered.
  Bvecq out;
  BvecqIter it = frame.begin();
  uint64_t bounced = 0;
  uint64_t registered = 0;
  *lends = false;
  while (it.remaining() > 0) {
    Sge sge[16];
    BvecqIter before = it;
    GatherResult g = it.GatherSge(sge, 16, UINT64_MAX);
    uint64_t at = frame.size() - before.remaining();
    for (int i = 0; i < g.entries; ++i) {
      const MemoryRegion* caller = nullptr;
      if (sge[i].lkey == 0) {
        caller = FindCallerRegion(reinterpret_cast<const void*>(sge[i].addr), sge[i].length);
      }
      if (sge[i].lkey != 0) {
        SMBD_ASSIGN_OR_RETURN(Bvecq part, frame.Slice(at, sge[i].length));
        out.Splice(std::move(part));
      } else if (caller != nullptr) {
        SMBD_RETURN_IF_ERROR(out.AppendExternal(reinterpret_cast<void*>(sge[i].addr),
                                                sge[i].length, caller->lkey()));
        registered += sge[i].length;
        *lends = true;
      } else {
        const uint8_t* src = reinterpret_cast<const uint8_t*>(sge[i].addr);
        uint32_t left = sge[i].length;
        while (left > 0) {
          SMBD_ASSIGN_OR_RETURN(PageRef page, pool_->TryAlloc());
          const uint32_t n = std::min<uint32_t>(left, kPageSize);
          std::memcpy(page.data(), src, n);
          SMBD_RETURN_IF_ERROR(out.Append(std::move(page), 0, n));
          src += n;
          left -= n;
          bounced += n;
        }
      }
      at += sge[i].length;
    }
  }
  if (bounced > 0 || registered > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.bounced_bytes += bounced;
    stats_.registered_send_bytes += registered;
  }
  return out;
}

absl::Status SmbDirectTransport::Send(const Bvecq& frame, absl::Time deadline) {
  std::lock_guard<std::mutex> lock(send_mu_);
  // Every call takes a number (NextSendTicket) and is marked running until it returns, before
  // any check, so that AwaitReleased never mistakes a frame about to go out for one that will
  // not.
  const uint64_t ticket = frames_started_.load() + 1;
  frames_started_.store(ticket);
  in_send_.store(ticket);
  const uint64_t frame_ticket = ticket;
  struct Sent {
    SmbDirectTransport* t;
    ~Sent() {
      std::lock_guard<std::mutex> l(t->sent_mu_);
      t->in_send_.store(0);
      t->sent_cv_.notify_all();
    }
  } sent{this};
  SMBD_RETURN_IF_ERROR(status());  // failed or shut down: this frame never reads its memory
  if (frame.size() == 0) return absl::InvalidArgumentError("SMB Direct: empty frame");
  if (frame.size() > params_.max_fragmented_send_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SMB Direct: a ", frame.size(), "-byte frame exceeds the peer's MaxFragmentedSize ",
        params_.max_fragmented_send_size));
  }
  bool lends = false;
  SMBD_ASSIGN_OR_RETURN(Bvecq sendable, MakeSendable(frame, &lends));
  SendPlanLimits limits;
  limits.max_send_size = params_.max_send_size;
  limits.max_send_sge = static_cast<int>(
      std::min<uint32_t>({endpoint_->queue_sizes().send_sge, endpoint_->limits().max_send_sge,
                          static_cast<uint32_t>(kMaxSge)}));
  limits.max_fragmented_send_size = params_.max_fragmented_send_size;
  SMBD_ASSIGN_OR_RETURN(SendPlanner planner, SendPlanner::Create(sendable, limits));
  Sge payload[kMaxSge];
  bool posted_any = false;
  while (!planner.done()) {
    SMBD_ASSIGN_OR_RETURN(PlannedMessage m,
                          planner.Next(absl::MakeSpan(payload, planner.max_payload_sges())));
    // [MS-SMBD] 3.1.5.1: a send credit per message; wait (bounded by send_timeout and by the
    // caller's deadline, for the whole frame) when the peer has granted none, never spin.
    const absl::Duration wait =
        std::max(std::min(options_.send_timeout, deadline - absl::Now()), absl::ZeroDuration());
    absl::StatusOr<SmbDirectSendTicket> ticket = credits_->AcquireSend(wait);
    if (!ticket.ok()) {
      absl::Status s = ticket.status();
      if (s.code() == absl::StatusCode::kDeadlineExceeded) {
        s = absl::DeadlineExceededError(absl::StrCat(
            "SMB Direct: the peer granted no send credit within ", absl::FormatDuration(wait),
            " (", s.message(), ")"));
      }
      // A frame cut short leaves the connection unusable; one not started yet leaves it
      // usable (the caller decides: SMB2 message ids spent on it, or a skippable CANCEL).
      if (posted_any) Fail(s);
      return s;
    }
    DataTransferHeader h = m.Header(*ticket);
    absl::StatusOr<uint32_t> slot = TakeSendSlot(deadline);
    if (!slot.ok()) {
      // The credit just taken is spent either way: the connection cannot go on.
      Fail(slot.status());
      return slot.status();
    }
    // The last message of the frame holds the frame's pages until its send completes (an RC
    // QP completes sends in order, so earlier messages are done by then).
    Bvecq hold;
    if (planner.done()) {
      hold = std::move(sendable);
      if (lends) {
        // The device reads the caller's memory until this, the frame's last send, completes.
        send_slots_[*slot].lends_ticket = frame_ticket;
        std::lock_guard<std::mutex> l(sent_mu_);
        caller_lent_ = frame_ticket;
      }
    }
    absl::Status s =
        PostMessage(*slot, h, absl::MakeConstSpan(payload, m.sge_count), std::move(hold), false);
    posted_any = true;
    if (!s.ok()) {
      Fail(s);
      return s;
    }
  }
  std::lock_guard<std::mutex> l(mu_);
  stats_.frames_sent++;
  return absl::OkStatus();
}

absl::Status SmbDirectTransport::AwaitReleased(uint64_t ticket, absl::Time deadline) {
  if (ticket == 0) return absl::OkStatus();
  std::unique_lock<std::mutex> lock(sent_mu_);
  while (true) {
    // Not started and the transport failed: Send() will return before reading it.
    const bool not_started = ticket > frames_started_.load() && status().ok();
    // A frame gathering RegisterBuffer memory is read by the device until its last send
    // completes (completions come in order; a failed connection's queue pair reads no more).
    const bool device_reads =
        ticket <= caller_lent_ && caller_released_ < ticket && status().ok();
    if (!not_started && in_send_.load() != ticket && !device_reads) return absl::OkStatus();
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "SMB Direct: frame ", ticket, " to ", endpoint_->peer_address(), " is still being sent"));
    }
    sent_cv_.wait_for(lock, std::chrono::milliseconds(std::clamp<int64_t>(
                                absl::ToInt64Milliseconds(deadline - absl::Now()), 1, 100)));
  }
}

absl::StatusOr<Bvecq> SmbDirectTransport::Receive(absl::Duration idle_timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  const absl::Duration bounded = std::min(idle_timeout, absl::Hours(24 * 365));
  const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(bounded);
  while (delivered_.empty()) {
    if (!error_.ok()) return error_;
    if (delivered_cv_.wait_until(lock, deadline) == std::cv_status::timeout &&
        delivered_.empty() && error_.ok()) {
      return absl::DeadlineExceededError("SMB Direct: no message within the idle timeout");
    }
  }
  Delivered d = std::move(delivered_.front());
  delivered_.pop_front();
  undelivered_receives_ -= d.receives;
  std::vector<uint32_t> repost;
  // Resume once the backlog is half gone, not at the first frame taken (no flapping).
  if (!parked_.empty() && undelivered_receives_ <= max_undelivered_ / 2) std::swap(repost, parked_);
  lock.unlock();
  if (!repost.empty()) {
    // [MS-SMBD] 3.1.5.9: the receives the peer may now fill, and credits for them.
    absl::Status s;
    for (uint32_t slot : repost) {
      if (s.ok()) s = PostReceive(slot);
      if (s.ok()) s = credits_->OnReceivePosted(1);
    }
    if (s.ok() && credits_->EmptyMessageWanted()) s = SendEmpty(0);
    if (!s.ok()) Fail(s);
  }
  return std::move(d.frame);
}

absl::Status SmbDirectTransport::HandleReceive(uint32_t slot, uint32_t byte_len) {
  if (slot >= receives_.size() || !receives_[slot].page) {
    return absl::InternalError("SMB Direct: completion for an unknown receive");
  }
  Fragment& buffer = receives_[slot];
  if (byte_len > options_.max_receive_size) {
    return absl::DataLossError(absl::StrCat("SMB Direct: received ", byte_len,
                                            " bytes, above MaxReceiveSize ",
                                            options_.max_receive_size));
  }
  absl::StatusOr<DataTransferHeader> h = DecodeDataTransfer(
      absl::MakeConstSpan(buffer.data, byte_len), params_.max_fragmented_receive_size);
  if (!h.ok()) return h.status();
  SMBD_RETURN_IF_ERROR(credits_->OnDataTransferReceived(*h));
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.messages_received++;
    keepalive_.OnMessageReceived(absl::Now());
  }
  bool park = false;
  if (h->data_length > 0) {
    // The payload stays in the receive buffer; the reassembled message holds a reference to
    // its page, and the slot gets a fresh buffer when posted again.
    Bvecq received;
    const uint32_t offset = static_cast<uint32_t>(buffer.data - buffer.page.data());
    SMBD_RETURN_IF_ERROR(received.Append(std::move(buffer.page), offset, byte_len));
    buffer = Fragment();
    SMBD_ASSIGN_OR_RETURN(std::optional<Bvecq> complete, reassembler_->Add(*h, received));
    std::lock_guard<std::mutex> lock(mu_);
    frame_receives_++;
    if (complete.has_value()) {
      delivered_.push_back(Delivered{*std::move(complete), frame_receives_});
      undelivered_receives_ += frame_receives_;
      frame_receives_ = 0;
      stats_.frames_received++;
      delivered_cv_.notify_one();
    }
    // Frames wait for the consumer and hold their receive pages: past the limit, the receive
    // is not posted again (so not granted) until Receive() catches up. Only delivered frames
    // count, so a frame being reassembled always gets the receives it needs to complete.
    if (undelivered_receives_ > max_undelivered_) {
      parked_.push_back(slot);
      stats_.receives_parked++;
      park = true;
    }
  } else if (h->remaining_data_length != 0) {
    return absl::DataLossError("SMB Direct: empty message with RemainingDataLength");
  }
  if (park) return absl::OkStatus();
  // [MS-SMBD] 3.1.5.9: post the receive again at once and grant it promptly.
  SMBD_RETURN_IF_ERROR(PostReceive(slot));
  SMBD_RETURN_IF_ERROR(credits_->OnReceivePosted(1));
  if (credits_->EmptyMessageWanted()) SMBD_RETURN_IF_ERROR(SendEmpty(0));
  return absl::OkStatus();
}

absl::Status SmbDirectTransport::HandleCompletion(const WorkCompletion& wc) {
  if (wc.status != WcStatus::kSuccess) {
    if (stopping_) return absl::CancelledError("stopping");
    // A flushed work request only says that the queue pair went into error; the endpoint knows
    // why (the peer hung up, refused an RDMA access, ...). Say that, and the completion.
    const absl::Status why = endpoint_->error();
    if (wc.status == WcStatus::kFlushed && !why.ok()) {
      return absl::UnavailableError(absl::StrCat("SMB Direct with ", endpoint_->peer_address(),
                                                 ": ", why.message(), " (",
                                                 CompletionError(wc).message(), ")"));
    }
    return absl::UnavailableError(absl::StrCat("SMB Direct with ", endpoint_->peer_address(), ": ",
                                               CompletionError(wc).message()));
  }
  if ((wc.wr_id & kSendTag) == 0 && (wc.wr_id & kRegTag) != 0) {
    const uint32_t index = static_cast<uint32_t>((wc.wr_id & ~kRegTag) >> 1);
    if ((wc.wr_id & 1) != 0) {  // a local invalidation; binds need no answer
      std::lock_guard<std::mutex> lock(win_mu_);
      if (index < windows_.size()) windows_[index].invalidate_done = true;
      win_cv_.notify_all();
    }
    return absl::OkStatus();
  }
  if (wc.wr_id & kSendTag) {
    const uint32_t slot = static_cast<uint32_t>(wc.wr_id & ~kSendTag);
    if (slot >= send_slots_.size()) return absl::OkStatus();  // the negotiate request
    std::lock_guard<std::mutex> lock(slots_mu_);
    SendSlot& s = send_slots_[slot];
    if (s.lends_ticket != 0) {
      std::lock_guard<std::mutex> l(sent_mu_);
      caller_released_ = std::max(caller_released_, s.lends_ticket);
      s.lends_ticket = 0;
      sent_cv_.notify_all();
    }
    s.hold.Clear();
    if (s.in_use) {
      s.in_use = false;
      free_slots_.push_back(slot);
    }
    slots_cv_.notify_one();
    return absl::OkStatus();
  }
  if (wc.opcode != WcOpcode::kRecv) return absl::OkStatus();
  // [MS-SMB2] 3.3.5.12: the server invalidated the window we offered with
  // RDMA_V1_INVALIDATE; remember it so that we never invalidate it a second time.
  if (wc.with_invalidate) NotePeerInvalidated(wc.invalidated_rkey);
  return HandleReceive(static_cast<uint32_t>(wc.wr_id), wc.byte_len);
}

void SmbDirectTransport::CompletionLoop() {
  WorkCompletion wcs[32];
  while (status().ok()) {
    const int n = endpoint_->PollCompletions(absl::MakeSpan(wcs));
    absl::Status s;
    for (int i = 0; i < n && s.ok(); ++i) s = HandleCompletion(wcs[i]);
    // A credit-only message that found no free slot goes now, if a send completion freed one.
    if (s.ok()) s = RetryDeferredEmpty();
    if (!s.ok()) {
      Fail(s);
      break;
    }
    if (n > 0) continue;
    // Keepalive ([MS-SMBD] 3.1.6): probe an idle peer, give up on a silent one.
    KeepaliveTimer::Action action;
    {
      std::lock_guard<std::mutex> lock(mu_);
      action = keepalive_.Poll(absl::Now());
    }
    if (action == KeepaliveTimer::Action::kPeerDead) {
      Fail(absl::UnavailableError(absl::StrCat(
          "SMB Direct: ", endpoint_->peer_address(), " did not answer a keepalive within ",
          absl::FormatDuration(options_.keepalive.response_timeout))));
      break;
    }
    if (action == KeepaliveTimer::Action::kSendKeepalive) {
      s = SendEmpty(kSmbDirectResponseRequested);
      {
        std::lock_guard<std::mutex> lock(mu_);
        stats_.keepalives_sent++;
      }
      if (!s.ok()) {
        Fail(s);  // disconnects and wakes every waiter, like any other transport error
        break;
      }
    }
    if (options_.busy_poll) continue;
    absl::Duration wait;
    {
      std::lock_guard<std::mutex> lock(mu_);
      wait = std::clamp(keepalive_.NextDeadline() - absl::Now(), absl::Milliseconds(1),
                        absl::Seconds(1));
    }
    absl::Status waited = endpoint_->WaitForCompletions(wait);
    if (!waited.ok() && waited.code() != absl::StatusCode::kDeadlineExceeded) {
      Fail(waited);
      break;
    }
  }
  // Wake everyone: receivers get the error.
  delivered_cv_.notify_all();
  slots_cv_.notify_all();
}

absl::StatusOr<std::unique_ptr<RdmaRegistration>> SmbDirectTransport::RegisterForPeer(
    absl::Span<uint8_t> memory, bool peer_writes) {
  SMBD_RETURN_IF_ERROR(status());
  if (memory.empty()) return absl::InvalidArgumentError("RegisterForPeer: empty range");
  auto reg = std::make_unique<Registration>(this);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.live_registrations++;
    stats_.registrations++;
  }
  // Exactly the I/O's bytes, with only the access the peer needs ([MS-SMB2] 3.2.4.6/3.2.4.7):
  // REMOTE_WRITE for a READ's destination, REMOTE_READ for a WRITE's source.
  const MemoryAccess access = peer_writes
                                  ? (MemoryAccess::kLocalWrite | MemoryAccess::kRemoteWrite)
                                  : MemoryAccess::kRemoteRead;
  if (windows_enabled_) {
    const MemoryRegion* caller = FindCallerRegion(memory.data(), memory.size());
    std::optional<uint32_t> index;
    if (caller != nullptr) {
      SMBD_ASSIGN_OR_RETURN(index, TakeWindow());
      if (!index.has_value()) {
        std::lock_guard<std::mutex> lock(mu_);
        stats_.window_fallbacks++;
      }
    }
    if (index.has_value()) {
      // A bind is a send-queue work request: the send carrying this request is posted after it
      // on the same queue pair, so the window is bound before the server can learn its rkey.
      // The window covers exactly the I/O (one descriptor, whatever its size), and the request
      // asks the server to invalidate it with its answer.
      WindowSlot& w = windows_[*index];  // ours alone until ReleaseWindow
      const MemoryAccess window_access =
          peer_writes ? MemoryAccess::kRemoteWrite : MemoryAccess::kRemoteRead;
      reg->window_ = static_cast<int>(*index);
      absl::Status bound = endpoint_->PostBindWindow(kRegTag | (uint64_t{*index} << 1),
                                                     w.window.get(), *caller, memory.data(),
                                                     memory.size(), window_access, true);
      if (!bound.ok()) {
        std::lock_guard<std::mutex> lock(win_mu_);
        free_windows_.push_back(*index);
        reg->window_ = -1;
        return bound;
      }
      {
        std::lock_guard<std::mutex> lock(win_mu_);
        w.rkey = w.window->rkey();
        w.bound = true;
        w.peer_invalidated = false;
      }
      reg->descriptors_.push_back(BufferDescriptorV1{reinterpret_cast<uintptr_t>(memory.data()),
                                                     w.rkey,
                                                     static_cast<uint32_t>(memory.size())});
      std::lock_guard<std::mutex> lock(mu_);
      stats_.window_binds++;
      return reg;
    }
  }
  // Devices limit pages per region (rxe: 512): split the range at that many pages.
  const uint32_t max_pages = endpoint_->limits().max_pages_per_registration;
  uint8_t* p = memory.data();
  size_t left = memory.size();
  while (left > 0) {
    size_t n = left;
    if (max_pages > 0) {
      const uintptr_t start_page = reinterpret_cast<uintptr_t>(p) / kPageSize;
      const uintptr_t limit = (start_page + max_pages) * kPageSize;
      n = std::min<size_t>(left, limit - reinterpret_cast<uintptr_t>(p));
    }
    SMBD_ASSIGN_OR_RETURN(std::unique_ptr<MemoryRegion> mr, endpoint_->RegisterMemory(p, n, access));
    reg->descriptors_.push_back(
        BufferDescriptorV1{reinterpret_cast<uintptr_t>(p), mr->rkey(), static_cast<uint32_t>(n)});
    reg->regions_.push_back(std::move(mr));
    p += n;
    left -= n;
  }
  return reg;
}

absl::StatusOr<std::unique_ptr<RegisteredBuffer>> SmbDirectTransport::RegisterBuffer(
    absl::Span<uint8_t> memory) {
  SMBD_RETURN_IF_ERROR(status());
  if (memory.empty()) return absl::InvalidArgumentError("RegisterBuffer: empty range");
  // Local access only: the peer reaches this memory through nothing but a window bound for one
  // I/O (MW_BIND where the device has windows). Local write: READ answers land here, and a
  // window the peer may write needs it.
  MemoryAccess access = MemoryAccess::kLocalWrite;
  if (endpoint_->limits().memory_windows) access = access | MemoryAccess::kWindowBind;
  const uintptr_t start = reinterpret_cast<uintptr_t>(memory.data());
  const uintptr_t end = start + memory.size();
  std::unique_lock<std::shared_mutex> lock(caller_regions_->mu);
  // Overlapping buffers would make the lkey of a byte ambiguous.
  auto next = caller_regions_->by_end.upper_bound(start);
  if (next != caller_regions_->by_end.end() &&
      reinterpret_cast<uintptr_t>(next->second->addr()) < end) {
    return absl::InvalidArgumentError(
        "RegisterBuffer: the range overlaps a buffer registered before");
  }
  SMBD_ASSIGN_OR_RETURN(std::unique_ptr<MemoryRegion> region,
                        endpoint_->RegisterMemory(memory.data(), memory.size(), access));
  const MemoryRegion* r = region.get();
  auto buffer = std::make_unique<CallerBuffer>(memory, std::move(region), caller_regions_);
  caller_regions_->by_end.emplace(end, r);
  return std::unique_ptr<RegisteredBuffer>(std::move(buffer));
}

const MemoryRegion* SmbDirectTransport::FindCallerRegion(const void* p, size_t n) const {
  const uintptr_t start = reinterpret_cast<uintptr_t>(p);
  std::shared_lock<std::shared_mutex> lock(caller_regions_->mu);
  if (caller_regions_->by_end.empty()) return nullptr;
  auto it = caller_regions_->by_end.upper_bound(start);  // the first region ending past start
  if (it == caller_regions_->by_end.end()) return nullptr;
  const MemoryRegion* r = it->second;
  const uintptr_t r_start = reinterpret_cast<uintptr_t>(r->addr());
  if (start < r_start || n > it->first - start) return nullptr;
  return r;
}

absl::StatusOr<std::optional<uint32_t>> SmbDirectTransport::TakeWindow() {
  std::lock_guard<std::mutex> lock(win_mu_);
  if (!free_windows_.empty()) {
    const uint32_t index = free_windows_.back();
    free_windows_.pop_back();
    return index;
  }
  if (windows_.size() >= max_windows_) return std::nullopt;
  SMBD_ASSIGN_OR_RETURN(std::unique_ptr<MemoryWindow> window, endpoint_->AllocateWindow());
  windows_.push_back(WindowSlot{std::move(window)});
  return static_cast<uint32_t>(windows_.size() - 1);
}

void SmbDirectTransport::ReleaseWindow(uint32_t index) {
  std::unique_lock<std::mutex> lock(win_mu_);
  WindowSlot& w = windows_[index];
  bool invalidated = false;
  if (w.bound && !w.peer_invalidated && status().ok()) {
    // The server did not invalidate the window (a plain error answer, an I/O given up): do it
    // here, and wait, so that the caller's buffer is unreachable before it is handed back.
    w.invalidate_done = false;
    const uint32_t rkey = w.rkey;
    lock.unlock();
    absl::Status posted =
        endpoint_->PostLocalInvalidate(kRegTag | (uint64_t{index} << 1) | 1, rkey, true);
    lock.lock();
    const auto deadline =
        std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(options_.invalidate_timeout);
    while (posted.ok() && !w.invalidate_done && status().ok()) {
      if (win_cv_.wait_until(lock, deadline) == std::cv_status::timeout) break;
    }
    invalidated = w.invalidate_done;
    if (!invalidated && status().ok()) {
      // Dropping the connection revokes every rkey at once.
      lock.unlock();
      Fail(absl::UnavailableError(absl::StrCat(
          "SMB Direct with ", endpoint_->peer_address(), ": the local invalidation of a memory "
          "window did not complete within ", absl::FormatDuration(options_.invalidate_timeout),
          posted.ok() ? "" : absl::StrCat(" (", posted.message(), ")"))));
      lock.lock();
    }
  }
  w.bound = false;
  w.peer_invalidated = false;
  w.invalidate_done = false;
  free_windows_.push_back(index);
  lock.unlock();
  if (invalidated) {
    std::lock_guard<std::mutex> l(mu_);
    stats_.local_invalidations++;
  }
}

void SmbDirectTransport::NotePeerInvalidated(uint32_t rkey) {
  bool known = false;
  {
    std::lock_guard<std::mutex> lock(win_mu_);
    for (WindowSlot& w : windows_) {
      if (w.bound && w.rkey == rkey && !w.peer_invalidated) {
        w.peer_invalidated = true;
        known = true;
        break;
      }
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (known) {
    stats_.peer_invalidations++;
  } else {
    // A stale rkey (an I/O given up and invalidated here) or one we never offered: the device
    // has already refused or done it; there is nothing of ours to undo.
    stats_.unexpected_invalidations++;
  }
}

}  // namespace smbd
