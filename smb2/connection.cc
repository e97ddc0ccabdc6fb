#include "smb2/connection.h"

#include <string.h>

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "buffers/wire.h"
#include "smb2/compound.h"
#include "smb2/constants.h"
#include "smb2/ntstatus.h"
#include "smb2/pdu/cancel.h"
#include "smb2/pdu/read.h"

namespace smbd {
namespace {

// Message id of server notifications (oplock/lease breaks), [MS-SMB2] 3.2.5.19.
constexpr uint64_t kNotificationId = 0xFFFFFFFFFFFFFFFFull;
// [MS-SMB2] 2.2.41: SessionId of a transform header.
constexpr uint64_t kTransformSessionIdOffset = 44;
// Once its message ids are spent, a frame gets at least this long to go out.
constexpr absl::Duration kMinSendTime = absl::Seconds(1);

void PatchU16(Bvecq* q, uint64_t at, uint16_t v) {
  uint8_t b[2];
  StoreLE<uint16_t>(b, v);
  absl::StatusOr<BvecqIter> it = q->Range(at, 2);
  if (it.ok()) it->CopyIn(b);
}
void PatchU32(Bvecq* q, uint64_t at, uint32_t v) {
  uint8_t b[4];
  StoreLE<uint32_t>(b, v);
  absl::StatusOr<BvecqIter> it = q->Range(at, 4);
  if (it.ok()) it->CopyIn(b);
}
void PatchU64(Bvecq* q, uint64_t at, uint64_t v) {
  uint8_t b[8];
  StoreLE<uint64_t>(b, v);
  absl::StatusOr<BvecqIter> it = q->Range(at, 8);
  if (it.ok()) it->CopyIn(b);
}

}  // namespace

bool Connection::SendLock::LockUntil(absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  const auto until = absl::ToChronoTime(deadline);
  while (held_) {
    if (cv_.wait_until(lock, until) == std::cv_status::timeout && held_) return false;
  }
  held_ = true;
  return true;
}

void Connection::SendLock::Unlock() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    held_ = false;
  }
  cv_.notify_one();
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Create(
    std::unique_ptr<Transport> transport, PagePool* pool, const ConnectionOptions& options) {
  if (transport == nullptr || pool == nullptr) {
    return absl::InvalidArgumentError("Connection needs a transport and a pool");
  }
  std::unique_ptr<Connection> c(new Connection(std::move(transport), pool, options));
  c->transport_->SetPlacementHook(c.get());
  c->receiver_ = std::thread([conn = c.get()] { conn->ReceiveLoop(); });
  c->watchdog_ = std::thread([conn = c.get()] { conn->WatchDeadlines(); });
  return c;
}

Connection::Connection(std::unique_ptr<Transport> transport, PagePool* pool,
                       const ConnectionOptions& options)
    : transport_(std::move(transport)),
      pool_(pool),
      options_(options),
      credits_(options.credits),
      seal_frags_(pool),
      unseal_frags_(pool) {
  pending_.reserve(1024);
}

Connection::~Connection() {
  Close(absl::CancelledError("connection closed"));
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  watchdog_cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  if (receiver_.joinable()) receiver_.join();
  transport_->SetPlacementHook(nullptr);
}

void Connection::Close(absl::Status reason) {
  transport_->Shutdown(reason);
  Fail(reason.ok() ? absl::CancelledError("connection closed") : reason);
}

absl::Status Connection::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

ConnectionStats Connection::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void Connection::SetSessionSecurity(uint64_t session_id,
                                    std::shared_ptr<SessionSecurity> security) {
  std::lock_guard<std::mutex> lock(mu_);
  if (security == nullptr) {
    security_.erase(session_id);
  } else {
    security_[session_id] = std::move(security);
  }
}

std::vector<uint64_t> Connection::SecuredSessions() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<uint64_t> ids;
  for (const auto& [id, security] : security_) ids.push_back(id);
  return ids;
}

bool Connection::HasSessionSecurity(uint64_t session_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return security_.contains(session_id);
}

void Connection::SetNotificationHandler(NotificationHandler handler) {
  std::lock_guard<std::mutex> lock(mu_);
  notify_ = std::move(handler);
}

void Connection::SetFailureHandler(FailureHandler handler) {
  std::lock_guard<std::mutex> lock(mu_);
  on_failure_ = std::move(handler);
}

std::shared_ptr<SessionSecurity> Connection::SecurityFor(uint64_t session_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = security_.find(session_id);
  return it == security_.end() ? nullptr : it->second;
}

absl::Status Connection::Submit(const SmbMessageRef& chain, absl::Time deadline) {
  if (!chain) return absl::InvalidArgumentError("Submit: empty chain");
  // Members encoded on their own join the head's queue here, as the seed splices at submit.
  SMBD_RETURN_IF_ERROR(JoinCompound(chain.get()));
  uint32_t total_charge = 0;
  for (SmbMessage* m = chain.get(); m != nullptr; m = m->next.get()) {
    total_charge += std::max<uint16_t>(m->header.credit_charge, 1);
    m->connection = this;
  }
  if (total_charge > 0xFFFF) return absl::InvalidArgumentError("Submit: chain charges too much");
  {
    absl::Status s = status();
    if (!s.ok()) return s;
  }
  if (deadline == absl::InfiniteFuture()) {
    const absl::Duration left = chain->TimeLeft();
    deadline = absl::Now() + (left == absl::InfiniteDuration() ? options_.credit_timeout : left);
  }
  // All credits of a chain are taken at once: partial acquisitions by two chains could
  // otherwise deadlock each other.
  SMBD_RETURN_IF_ERROR(credits_.Acquire(static_cast<uint16_t>(total_charge),
                                        std::max(deadline - absl::Now(), absl::ZeroDuration())));

  std::shared_ptr<SessionSecurity> security = SecurityFor(chain->header.session_id);
  // The send lock, within the request's deadline: a frame stuck behind a slow peer must not
  // hold every other request past its own.
  SendLockHolder send_lock(&send_mu_);
  if (!send_lock.LockUntil(deadline)) {
    credits_.Release(static_cast<uint16_t>(total_charge));
    return absl::DeadlineExceededError(absl::StrCat(
        CommandName(chain->header.command),
        ": not sent by its deadline (another frame is still being sent)"));
  }
  {
    absl::Status s = status();
    if (!s.ok()) {
      credits_.Release(static_cast<uint16_t>(total_charge));
      return s;
    }
  }
  // The lock may have come just at the deadline: give up while nothing is spent. Once message
  // ids are spent the frame must go out whole or the connection ends, so it gets at least
  // kMinSendTime even if that passes the deadline (a congested link then costs one caller
  // its deadline, not everyone their connection).
  if (absl::Now() >= deadline) {
    credits_.Release(static_cast<uint16_t>(total_charge));
    return absl::DeadlineExceededError(absl::StrCat(
        CommandName(chain->header.command), ": not sent by its deadline"));
  }
  deadline = std::max(deadline, absl::Now() + kMinSendTime);
  Bvecq& wire = chain->request;
  // Message ids are consumed here, in the order frames go on the wire ([MS-SMB2] 3.2.4.1.5).
  for (SmbMessage* m = chain.get(); m != nullptr; m = m->next.get()) {
    const uint16_t charge = std::max<uint16_t>(m->header.credit_charge, 1);
    m->header.message_id = credits_.AssignIds(charge);
    m->header.credits = credits_.CreditsToRequest(charge);
    PatchU64(&wire, m->wire_offset + hdr::kMessageId, m->header.message_id);
    PatchU16(&wire, m->wire_offset + hdr::kCredits, m->header.credits);
    if (security != nullptr && !security->seals() && security->SignsRequest(m->header.command)) {
      m->header.flags |= kFlagSigned;
      PatchU32(&wire, m->wire_offset + hdr::kFlags, m->header.flags);
      absl::StatusOr<BvecqIter> it = wire.Range(m->wire_offset, m->wire_length);
      absl::Status s = it.ok() ? security->Sign(*it) : it.status();
      if (!s.ok()) {
        Fail(s);  // ids are spent: the connection cannot continue consistently
        return s;
      }
    }
  }
  // The frame's number: nothing completes a member (an answer, a deadline, a failure) before
  // the caller's memory is no longer read, by the sealer or sendmsg in this call, or by the
  // kernel after it (a zero-copy send of a WRITE's source). See ReleaseSent.
  const bool seal = security != nullptr && security->seals();
  const uint64_t ticket = transport_->NextSendTicket();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (SmbMessage* m = chain.get(); m != nullptr; m = m->next.get()) {
      m->send_ticket.store(ticket);
      m->Ref();  // the table's reference; the receive path takes it over
      pending_[m->header.message_id] = m;
    }
  }
  absl::Status s;
  if (seal) {
    absl::StatusOr<Bvecq> sealed = security->Seal(wire, pool_, &seal_frags_);
    s = sealed.ok() ? transport_->Send(*sealed, deadline) : sealed.status();
  } else {
    s = transport_->Send(wire, deadline);
  }
  if (!s.ok()) {
    // The frame may be partly on the wire, and its ids are spent: the connection is unusable.
    // Every member (ours included) completes with the error through Fail(), which also shuts
    // the transport down.
    send_lock.Unlock();
    Fail(s);
    return absl::OkStatus();
  }
  std::lock_guard<std::mutex> lock(mu_);
  stats_.frames_sent++;
  return absl::OkStatus();
}

void Connection::Abandon(SmbMessage* message) {
  std::unique_lock<std::mutex> lock(mu_);
  // If the transport is receiving this message's data right now, wait until it is done: the
  // caller's buffer must not be written after we return. A peer that dribbles the frame for
  // longer than the grace period loses the connection, which stops the receive at once.
  auto placed = [&] { return placing_ != message; };
  if (!placed_cv_.wait_for(lock, absl::ToChronoNanoseconds(options_.placement_grace), placed)) {
    lock.unlock();
    transport_->Shutdown(absl::DeadlineExceededError(absl::StrCat(
        "the server took longer than ", absl::FormatDuration(options_.placement_grace),
        " to finish a READ response its caller had given up on")));
    lock.lock();
    placed_cv_.wait(lock, placed);
  }
  message->read_destination = {};
  lock.unlock();
  ReleaseSent(message);  // nor is its source read by Send() or the kernel any more
}

void Connection::ReleaseSent(SmbMessage* m) {
  // Read, not taken: a second completer (Fail() while the watchdog waits here) must wait too,
  // or it would complete the message while the memory is still read.
  const uint64_t ticket = m->send_ticket.load();
  if (ticket == 0) return;
  absl::Status s = transport_->AwaitReleased(ticket, absl::Now() + options_.placement_grace);
  if (!s.ok()) {
    // Still sent, or held by the kernel (a peer that reads or acknowledges nothing): ending
    // the stream makes Send() stop and the kernel let go.
    transport_->Shutdown(s);
    s = transport_->AwaitReleased(ticket, absl::Now() + options_.placement_grace);
    if (!s.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.unreleased_sends++;
    }
  }
  m->send_ticket.store(0);
}

absl::Status Connection::Cancel(SmbMessage* message) { return CancelOne(message).status(); }

absl::StatusOr<bool> Connection::CancelOne(SmbMessage* message) {
  Smb2Header target;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pending_.find(message->header.message_id);
    if (!status_.ok() || it == pending_.end() || it->second != message) {
      return false;  // answered already, or failed with the connection
    }
    target = message->header;
    target.async_id = message->pending ? message->async_id : 0;
    if (message->pending) target.flags |= kFlagAsyncCommand;
  }
  SMBD_RETURN_IF_ERROR(SendCancel(target));
  return true;
}

int Connection::CancelAll() {
  std::vector<SmbMessageRef> targets;
  {
    std::lock_guard<std::mutex> lock(mu_);
    targets.reserve(pending_.size());
    for (auto& [id, m] : pending_) {
      m->Ref();
      targets.push_back(SmbMessageRef::Adopt(m));
    }
  }
  int sent = 0;
  for (const SmbMessageRef& m : targets) {
    absl::StatusOr<bool> one = CancelOne(m.get());
    if (!one.ok()) break;  // the connection is gone: everything in flight fails anyway
    sent += *one ? 1 : 0;
  }
  return sent;
}

absl::Status Connection::SendCancel(const Smb2Header& target) {
  // [MS-SMB2] 3.2.4.24: the header names the target; CreditCharge and CreditRequest 0 (a CANCEL
  // takes no credit and no sequence number, 3.3.5.2.3), never related to anything.
  Smb2Header h;
  h.command = Command::kCancel;
  h.message_id = target.message_id;
  h.session_id = target.session_id;
  h.flags = target.flags & kFlagAsyncCommand;
  h.async_id = target.async_id;
  h.tree_id = target.tree_id;
  h.process_id = target.process_id;
  std::shared_ptr<SessionSecurity> security = SecurityFor(h.session_id);
  const bool seal = security != nullptr && security->seals();
  const bool sign = security != nullptr && !seal && security->SignsRequest(Command::kCancel);
  if (sign) h.flags |= kFlagSigned;
  Bvecq frame;
  WireWriter w(&frame, pool_);
  EncodeHeader(h, &w);
  EncodeCancelRequest(&w);
  SMBD_RETURN_IF_ERROR(w.Finish());
  // A CANCEL never queues for long behind a frame that is stuck on the wire: if the send lock
  // is not free within cancel_send_wait, the CANCEL is skipped (the request is abandoned or
  // ends with the connection anyway).
  SendLockHolder send_lock(&send_mu_);
  if (!send_lock.LockUntil(absl::Now() + options_.cancel_send_wait)) {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.cancels_skipped++;
    return absl::DeadlineExceededError("CANCEL not sent: another frame is stuck on the wire");
  }
  SMBD_RETURN_IF_ERROR(status());
  const absl::Time cancel_deadline = absl::Now() + options_.cancel_send_wait;
  absl::Status s;
  if (sign) {
    absl::StatusOr<BvecqIter> it = frame.Range(0, frame.size());
    s = it.ok() ? security->Sign(*it) : it.status();
    if (!s.ok()) return s;
  }
  if (seal) {
    absl::StatusOr<Bvecq> sealed = security->Seal(frame, pool_, &seal_frags_);
    s = sealed.ok() ? transport_->Send(*sealed, cancel_deadline) : sealed.status();
  } else {
    s = transport_->Send(frame, cancel_deadline);
  }
  if (!s.ok()) {
    send_lock.Unlock();
    if (transport_->usable()) {
      // Nothing of it went out (no credit or no room in time): a CANCEL takes no message id,
      // so skipping it leaves the connection consistent.
      std::lock_guard<std::mutex> lock(mu_);
      stats_.cancels_skipped++;
      return s;
    }
    Fail(s);  // part of a frame is on the wire
    return s;
  }
  std::lock_guard<std::mutex> lock(mu_);
  stats_.frames_sent++;
  stats_.cancels_sent++;
  return absl::OkStatus();
}

size_t Connection::peek() const { return kReadResponseHeadSize; }

PlacedRange Connection::Place(absl::Span<const uint8_t> head, uint64_t frame_length) {
  // Signed sessions place too: the signature is then checked over the placed bytes before the
  // message completes, and a bad one fails the request (and wipes the placed bytes). Sealed
  // frames start with the transform header and are placed by the unsealer (Unseal).
  return PlaceRead(head, frame_length, std::nullopt);
}

PlacedRange Connection::PlaceRead(absl::Span<const uint8_t> head, uint64_t message_length,
                                  std::optional<uint64_t> session_id) {
  if (head.size() < kReadResponseHeadSize) return {};
  // Anything but a plain SMB2 header (a transform, which the unsealer places itself) is no
  // READ response: say so before decoding, whose error status would cost an allocation on
  // every sealed frame.
  if (std::memcmp(head.data(), kSmb2ProtocolId, 4) != 0) return {};
  WireReader r(head.subspan(0, kReadResponseHeadSize));
  absl::StatusOr<Smb2Header> h = DecodeHeader(&r);
  // Only a whole, successful READ response: one member ([MS-SMB2] 2.2.1.2 NextCommand 0).
  if (!h.ok() || h->command != Command::kRead || !h->is_response() || h->next_command != 0 ||
      h->status != ntstatus::kSuccess ||
      (session_id.has_value() && h->session_id != *session_id)) {
    return {};
  }
  absl::StatusOr<ReadResponse> read = DecodeReadResponseHead(WireReader(head));
  // Only a layout DecodeReadResponse will accept: data after the fixed body, inside the message.
  if (!read.ok() || read->data_length == 0 || read->data_offset < kReadResponseHeadSize ||
      uint64_t{read->data_offset} + read->data_length > message_length) {
    return {};
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pending_.find(h->message_id);
  if (it == pending_.end()) return {};
  SmbMessage* m = it->second;
  // Only into a READ of the session whose keys sealed the frame (checked again, with the
  // request's own session, before the answer is accepted).
  if (m->header.command != Command::kRead || m->read_destination.size() < read->data_length ||
      (session_id.has_value() && m->header.session_id != *session_id)) {
    return {};
  }
  placing_ = m;  // Abandon() and Fail() leave it to the receive thread until EndPlacement()
  placing_length_ = read->data_length;
  return PlacedRange{read->data_offset, m->read_destination.subspan(0, read->data_length)};
}

void Connection::WatchDeadlines() {
  std::unique_lock<std::mutex> lock(mu_);
  std::vector<SmbMessage*> expired;
  while (!closing_) {
    watchdog_cv_.wait_for(lock, std::chrono::milliseconds(50));
    if (closing_) break;
    // A failed connection takes no more requests and has none left: nothing to watch (a client
    // that reconnected keeps its old connections until it is destroyed; their watchdogs end).
    if (!status_.ok() && pending_.empty()) break;
    const auto now = std::chrono::steady_clock::now();
    for (auto& [id, m] : pending_) {
      if (m->has_callback() && m->deadline < now && !m->done()) {
        m->deadline = std::chrono::steady_clock::time_point::max();  // once
        m->Ref();
        expired.push_back(m);
      }
    }
    if (expired.empty()) continue;
    stats_.expired += expired.size();
    lock.unlock();
    // First make sure no buffer is written any more and report (Abandon is bounded), then ask
    // the server to drop the requests: a CANCEL stuck behind a frame on the wire must not delay
    // the callbacks. The messages stay in the table until an answer (if any) returns their
    // credits.
    for (SmbMessage* m : expired) {
      Abandon(m);
      m->Complete(absl::DeadlineExceededError(absl::StrCat(
          CommandName(m->header.command), " (message id ", m->header.message_id,
          "): no response by its deadline")));
    }
    bool cancels = true;
    for (SmbMessage* m : expired) {
      if (cancels && !Cancel(m).ok()) cancels = false;  // the connection or its sender is stuck
      m->Unref();
    }
    expired.clear();
    lock.lock();
  }
}

void Connection::WipePlaced(SmbMessage* m, uint32_t length) {
  // Bytes the transport placed for a READ that then failed (refused answer, lost connection)
  // are not authenticated: wipe them rather than leave them for a caller that ignores errors.
  absl::Span<uint8_t> dst = m->read_destination;
  if (length > 0 && !dst.empty()) explicit_bzero(dst.data(), std::min<size_t>(length, dst.size()));
}

void Connection::EndPlacement(const absl::Status& refused, const SmbMessage* completing) {
  SmbMessage* orphan = nullptr;
  absl::Status orphan_status;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (placing_ == nullptr) return;
    SmbMessage* const placed = placing_;
    std::swap(orphan, placing_orphan_);
    orphan_status = orphan_status_;
    // Wiped under mu_, before placing_ is cleared: Abandon() cannot return (and its caller free
    // the buffer) while this still writes it.
    if (orphan != nullptr || (!refused.ok() && (completing == nullptr || completing == placed))) {
      WipePlaced(placed, placing_length_);
    }
    placing_ = nullptr;
    placing_length_ = 0;
  }
  placed_cv_.notify_all();
  if (orphan != nullptr) {
    // Fail() took it from the table while its data was arriving and left the completion to us:
    // only now is its buffer no longer written.
    ReleaseSent(orphan);
    orphan->Complete(orphan_status);
    orphan->Unref();
  }
}

void Connection::ReceiveLoop() {
  while (true) {
    absl::StatusOr<Bvecq> frame = transport_->Receive(absl::InfiniteDuration());
    absl::Status s = frame.ok() ? HandleFrame(*std::move(frame)) : frame.status();
    EndPlacement(s);  // a frame that broke off mid-data leaves nothing unauthenticated behind
    if (!s.ok()) {
      transport_->Shutdown(s);
      Fail(s);
      return;
    }
  }
}

absl::Status Connection::HandleFrame(Bvecq frame) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.frames_received++;
  }
  FrameOrigin origin;
  SMBD_ASSIGN_OR_RETURN(frame, Unseal(std::move(frame), &origin));
  CompoundReader reader(frame);
  while (true) {
    SMBD_ASSIGN_OR_RETURN(std::optional<CompoundMember> next, reader.Next());
    if (!next.has_value()) break;
    const Smb2Header& h = next->header;
    if (!h.is_response()) return absl::DataLossError("received a request from the server");

    if (h.message_id == kNotificationId && h.command == Command::kOplockBreak) {
      NotificationHandler handler;
      {
        std::lock_guard<std::mutex> lock(mu_);
        stats_.notifications++;
        handler = notify_;
      }
      absl::StatusOr<Bvecq> bytes = frame.Slice(next->offset, next->length);
      if (handler && bytes.ok()) handler(h, *bytes, NotificationOrigin{origin.sealed, origin.session_id});
      continue;
    }
    SmbMessageRef m = Lookup(h);
    if (!m) continue;  // a stale or bogus id: drop it, nothing is waiting for it
    if (h.is_async() && h.status == ntstatus::kPending) {
      HandleInterim(m.get(), h);
      continue;
    }
    absl::Status verdict = Verdict(*m, h, frame, next->offset, next->length, origin);
    CompleteAnswer(m.get(), h, frame, next->offset, next->length, std::move(verdict));
  }
  return absl::OkStatus();
}

absl::StatusOr<Bvecq> Connection::Unseal(Bvecq frame, FrameOrigin* origin) {
  uint8_t magic[4] = {};
  frame.begin().CopyOut(magic);
  if (std::memcmp(magic, kSmb2CompressionProtocolId, 4) == 0) {
    return absl::DataLossError("compressed frame received, but compression was not negotiated");
  }
  if (std::memcmp(magic, kSmb2TransformProtocolId, 4) != 0) return frame;
  absl::StatusOr<BvecqIter> at = frame.Range(kTransformSessionIdOffset, 8);
  if (!at.ok()) return absl::DataLossError("transform header truncated");
  uint8_t b[8];
  at->CopyOut(b);
  const uint64_t session_id = LoadLE<uint64_t>(b);
  std::shared_ptr<SessionSecurity> security = SecurityFor(session_id);
  if (security == nullptr) {
    return absl::DataLossError(absl::StrCat("encrypted frame for session ", absl::Hex(session_id),
                                            " which has no keys here"));
  }
  UnsealPlacement place;
  place.peek = kReadResponseHeadSize;
  // One pointer captured: the std::function keeps it inline (no allocation per frame).
  struct Choice {
    Connection* connection;
    uint64_t session_id;
    PlacedRange offered;
  } choice{this, session_id, {}};
  PlacedRange& offered = choice.offered;
  place.choose = [c = &choice](absl::Span<const uint8_t> head) {
    // The unsealer checks that the range lies inside the message.
    c->offered = c->connection->PlaceRead(head, std::numeric_limits<uint64_t>::max(),
                                          c->session_id);
    return c->offered;
  };
  SMBD_ASSIGN_OR_RETURN(Bvecq plain,
                        security->UnsealPlaced(frame, pool_, place, &unseal_frags_));
  if (!offered.dst.empty()) {
    // Count it only if the unsealer took the range (it ignores one outside the message).
    absl::StatusOr<BvecqIter> placed = plain.Range(offered.offset, 1);
    if (placed.ok() && placed->Peek().data() == offered.dst.data()) {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.sealed_bytes_placed += offered.dst.size();
    }
  }
  origin->sealed = true;
  origin->session_id = session_id;
  return plain;
}

SmbMessageRef Connection::Lookup(const Smb2Header& response) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pending_.find(response.message_id);
  if (it == pending_.end()) {
    stats_.unknown_responses++;
    return SmbMessageRef();
  }
  it->second->Ref();
  return SmbMessageRef::Adopt(it->second);
}

void Connection::HandleInterim(SmbMessage* m, const Smb2Header& h) {
  // [MS-SMB2] 3.2.5.1.5: an interim response (async, STATUS_PENDING) grants credits and carries
  // the AsyncId; the final response comes later. Interim answers are not signed (3.2.5.1.3), so
  // anyone on the path can forge one: it grants at most what the request asked for, and a
  // malformed one (another command, AsyncId 0, a second one) is dropped rather than allowed to
  // fail the request.
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (h.command != m->header.command || h.async_id == 0 || m->pending) {
      stats_.dropped_interims++;
      return;
    }
    m->pending = true;
    m->async_id = h.async_id;
    stats_.interim_responses++;
  }
  credits_.Grant(std::max<uint16_t>(m->header.credit_charge, 1),
                 std::min(h.credits, m->header.credits), /*final=*/false);
}

absl::Status Connection::Verdict(const SmbMessage& m, const Smb2Header& h, const Bvecq& frame,
                                 uint64_t offset, uint64_t length, const FrameOrigin& origin) {
  if (h.command != m.header.command) {
    // A response must answer the request its MessageId names ([MS-SMB2] 3.2.5.1.2); one that
    // does not would be decoded as the wrong structure.
    return absl::DataLossError(absl::StrCat(CommandName(h.command), " response for message id ",
                                            h.message_id, ", which was a ",
                                            CommandName(m.header.command), " request"));
  }
  std::shared_ptr<SessionSecurity> security = SecurityFor(m.header.session_id);
  if (origin.sealed) {
    // Authenticated by the AEAD tag, but only for the session whose keys sealed it ([MS-SMB2]
    // 3.2.5.1.1.1 decrypts with the session the transform header names).
    if (m.header.session_id == origin.session_id) return absl::OkStatus();
    return absl::PermissionDeniedError(absl::StrCat(
        CommandName(h.command), " response (message id ", h.message_id,
        ") was encrypted for session 0x", absl::Hex(origin.session_id), ", not 0x",
        absl::Hex(m.header.session_id)));
  }
  if (security == nullptr) return absl::OkStatus();
  if (security->seals()) {
    // Never accept a plaintext answer on a session that must be encrypted: that would be a
    // downgrade ([MS-SMB2] 3.2.5.1.1.1).
    return absl::PermissionDeniedError(
        absl::StrCat(CommandName(h.command), " response (message id ", h.message_id,
                     ") arrived unencrypted on a session that requires encryption"));
  }
  // Signature check ([MS-SMB2] 3.2.5.1.3). An answer to a request we signed must be signed too,
  // even on a session that does not sign everything: 3.1.1 signs TREE_CONNECT (3.2.4.1.1)
  // precisely so that a man in the middle cannot clear SHAREFLAG_ENCRYPT_DATA in the answer.
  const bool we_signed = (m.header.flags & kFlagSigned) != 0;
  if (!security->signs() && !we_signed && !h.is_signed()) return absl::OkStatus();
  absl::Status verdict;
  if (!h.is_signed() && !security->signs() && security->AcceptsUnsignedAnswer(h)) {
    return absl::OkStatus();
  }
  if (!h.is_signed()) {
    verdict = absl::PermissionDeniedError(absl::StrCat(
        CommandName(h.command), " response (message id ", h.message_id, ") is not signed ",
        we_signed ? "although its request was" : "on a session that requires signing"));
  } else {
    absl::StatusOr<BvecqIter> it = frame.Range(offset, length);
    verdict = it.ok() ? security->Verify(*it) : it.status();
  }
  if (!verdict.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.bad_signatures++;
  }
  return verdict;
}

void Connection::CompleteAnswer(SmbMessage* m, const Smb2Header& h, const Bvecq& frame,
                                uint64_t offset, uint64_t length, absl::Status verdict) {
  credits_.Grant(std::max<uint16_t>(m->header.credit_charge, 1), h.credits, /*final=*/true);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pending_.find(h.message_id);
    if (it == pending_.end() || it->second != m) {
      return;  // Fail() completed it meanwhile and dropped the table's reference
    }
    pending_.erase(it);
    stats_.responses++;
  }
  if (verdict.ok()) {
    m->response_header = h;
    absl::StatusOr<Bvecq> bytes = frame.Slice(offset, length);
    if (bytes.ok()) {
      m->response = *std::move(bytes);
    } else {
      verdict = bytes.status();
    }
  }
  // The receive path is done with the destination before anyone hears of the result (a refused
  // answer's placed bytes are wiped first).
  EndPlacement(verdict, m);
  ReleaseSent(m);
  // A bad signature fails this request only: the message is dropped and its waiter told
  // ([MS-SMB2] 3.2.5.1.3 says discard it).
  m->Complete(verdict);
  m->Unref();  // the table's reference
}

void Connection::Fail(absl::Status status) {
  // Stop the transport first: a receive in progress into a caller's buffer ends promptly, and a
  // send that failed half way leaves nothing more to go out.
  transport_->Shutdown(status);
  std::vector<SmbMessage*> failed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (status_.ok()) status_ = status;
    failed.reserve(pending_.size());
    for (auto& [id, m] : pending_) {
      if (m == placing_ && placing_orphan_ == nullptr) {
        // Its data is being received into the caller's buffer right now: the receive thread
        // completes it once that stops (EndPlacement), never before.
        placing_orphan_ = m;
        orphan_status_ = status;
      } else {
        failed.push_back(m);
      }
    }
    pending_.clear();
  }
  credits_.Close(status);
  for (SmbMessage* m : failed) {
    ReleaseSent(m);
    m->Complete(status);
    m->Unref();
  }
  FailureHandler report;
  absl::Status why;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failure_reported_) {
      failure_reported_ = true;
      report = on_failure_;
      why = status_;
    }
  }
  if (report) report(why);
}

}  // namespace smbd
