// Connection: one transport, its credit window, and the table of requests in flight.
//
// Submit() takes a message chain that the caller encoded (CompoundWriter), charges its credits,
// assigns message ids in send order, signs or seals it for its session, and sends it as one
// frame. One receive thread per connection reads frames, decrypts them, splits compounds,
// checks signatures, grants credits and completes each message individually by message id
// (no shared wait queue). When the transport fails, every message in flight completes with
// the same error and nothing waits forever.
#ifndef SMBD_SMB2_CONNECTION_H_
#define SMBD_SMB2_CONNECTION_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "buffers/page_pool.h"
#include "smb2/credits.h"
#include "smb2/message.h"
#include "smb2/session_security.h"
#include "smb2/transport.h"

namespace smbd {

struct ConnectionOptions {
  CreditOptions credits;
  // How long Submit waits for credits and the send when the caller gives no deadline.
  absl::Duration credit_timeout = absl::Seconds(60);
  // How long Abandon() lets a READ response that is arriving into the abandoned buffer finish
  // before it shuts the transport down to stop it.
  absl::Duration placement_grace = absl::Seconds(5);
  // How long a CANCEL waits for a frame being sent to finish; then it is skipped.
  absl::Duration cancel_send_wait = absl::Seconds(1);
};

struct ConnectionStats {
  uint64_t frames_sent = 0;
  uint64_t frames_received = 0;
  uint64_t responses = 0;
  uint64_t interim_responses = 0;
  uint64_t dropped_interims = 0;   // malformed or repeated STATUS_PENDING answers (ignored)
  uint64_t unknown_responses = 0;  // responses for no request in flight (dropped)
  uint64_t bad_signatures = 0;
  uint64_t notifications = 0;      // oplock/lease breaks
  uint64_t cancels_sent = 0;       // SMB2 CANCEL requests
  uint64_t cancels_skipped = 0;    // CANCELs not sent: the sender was stuck behind a frame
  uint64_t expired = 0;            // callback requests ended by their deadline
  uint64_t sealed_bytes_placed = 0;  // encrypted READ data decrypted straight into destinations
  // Requests completed although the kernel had not reported their zero-copy send memory
  // released within two placement_grace periods (the second after the stream was ended).
  uint64_t unreleased_sends = 0;
};

class Connection : private PlacementHook {
 public:
  // How a notification arrived: inside a transform header sealed for `session_id`, or in the
  // clear (notifications carry no signature: [MS-SMB2] 3.3.4.6, 3.3.4.7).
  struct NotificationOrigin {
    bool sealed = false;
    uint64_t session_id = 0;
  };
  // Server notification (oplock/lease break): the member's bytes, on the receive thread.
  using NotificationHandler =
      std::function<void(const Smb2Header&, const Bvecq&, const NotificationOrigin&)>;

  static absl::StatusOr<std::unique_ptr<Connection>> Create(std::unique_ptr<Transport> transport,
                                                            PagePool* pool,
                                                            const ConnectionOptions& options);
  // Closes the transport, fails what is in flight, joins the receive thread.
  ~Connection();

  // Sends `chain` (the head's `request` holds every member, encoded with CompoundWriter; each
  // member's header.credit_charge set). On success each member completes later; on failure
  // nothing was sent and the error is returned (members are not completed). Waiting for
  // credits, for the send lock and for the transport all end by `deadline` (InfiniteFuture: the
  // head's SmbMessage::deadline if set, else credit_timeout from now); a frame that cannot be
  // sent whole by then fails the connection.
  absl::Status Submit(const SmbMessageRef& chain, absl::Time deadline = absl::InfiniteFuture());

  // The waiter of `message` gives up (timeout, cancellation): its read_destination is no longer
  // written to, nor its request's memory read by a zero-copy send, once this returns (within
  // placement_grace, or the connection is shut down to make it so). The message stays in
  // flight for credit accounting.
  void Abandon(SmbMessage* message);

  // Asks the server to cancel `message` (submitted earlier, not yet answered) with an SMB2 CANCEL
  // ([MS-SMB2] 3.2.4.24): same MessageId, or the AsyncId once an interim response came; signed
  // or sealed as its session requires; no credit and no message id consumed. The message still
  // completes through the normal path, usually with STATUS_CANCELLED (or with its result, if
  // the server had finished first). OK without sending when the message is no longer in flight.
  absl::Status Cancel(SmbMessage* message);
  // Cancels every request in flight; returns how many CANCELs were sent.
  int CancelAll();

  // Security for a session id; nullptr removes it. Messages of a session with security are
  // signed or sealed on send and checked on receive.
  void SetSessionSecurity(uint64_t session_id, std::shared_ptr<SessionSecurity> security);
  // The sessions that have security installed here, and whether `session_id` is one.
  std::vector<uint64_t> SecuredSessions() const;
  bool HasSessionSecurity(uint64_t session_id) const;
  void SetNotificationHandler(NotificationHandler handler);
  // Called once, on whichever thread ends the connection (the receive thread for a peer that
  // went away), after every request in flight has completed: must not block. A client that
  // reconnects wakes its reconnection thread with it.
  using FailureHandler = std::function<void(const absl::Status&)>;
  void SetFailureHandler(FailureHandler handler);

  // Tears the connection down with `reason`.
  void Close(absl::Status reason);
  // The first error that ended the connection (OK while it is up).
  absl::Status status() const;

  Transport* transport() const { return transport_.get(); }
  CreditWindow& credits() { return credits_; }
  PagePool* pool() const { return pool_; }
  ConnectionStats stats() const;

 private:
  Connection(std::unique_ptr<Transport> transport, PagePool* pool,
             const ConnectionOptions& options);
  void ReceiveLoop();
  // Ends callback requests whose SmbMessage::deadline has passed (checked every 50 ms).
  void WatchDeadlines();
  // One frame from the transport: unseal -> split -> interim / notification -> verdict ->
  // complete, each member on its own.
  absl::Status HandleFrame(Bvecq frame);
  // What unsealing told about a frame.
  struct FrameOrigin {
    bool sealed = false;
    uint64_t session_id = 0;  // the transform header's SessionId, when sealed
  };
  // Decrypts a sealed frame (placing READ data straight into its destination); a plaintext
  // frame comes back as it is.
  absl::StatusOr<Bvecq> Unseal(Bvecq frame, FrameOrigin* origin);
  // The request `response` answers, with a reference of our own (Fail() may take the table's
  // away at any moment); null for an unknown id.
  SmbMessageRef Lookup(const Smb2Header& response);
  // An interim STATUS_PENDING answer ([MS-SMB2] 3.2.5.1.5): records the AsyncId, grants credits.
  void HandleInterim(SmbMessage* m, const Smb2Header& h);
  // Whether the answer `h` (bytes [offset, offset+length) of `frame`) may complete `m`: the
  // command matches, and it is signed or sealed as the session requires, with a good signature.
  absl::Status Verdict(const SmbMessage& m, const Smb2Header& h, const Bvecq& frame,
                       uint64_t offset, uint64_t length, const FrameOrigin& origin);
  // Grants the answer's credits, takes `m` out of the table and completes it with `verdict`
  // (on success with the member's bytes).
  void CompleteAnswer(SmbMessage* m, const Smb2Header& h, const Bvecq& frame, uint64_t offset,
                      uint64_t length, absl::Status verdict);
  // Shuts the transport down and completes every request in flight with `status`, except one
  // whose data is being placed now: EndPlacement() completes that one.
  void Fail(absl::Status status);
  // The receive thread no longer writes or reads the destination it claimed: wakes Abandon(),
  // completes a request Fail() left to it, and wipes the placed bytes when the request failed
  // meanwhile or `refused` is an error (for `completing`, if given: the placed request). Called
  // before any completion of the frame.
  void EndPlacement(const absl::Status& refused, const SmbMessage* completing = nullptr);
  static void WipePlaced(SmbMessage* m, uint32_t length);
  // Waits until the kernel no longer reads the memory `m` was sent from (a zero-copy send of a
  // caller's WRITE source): within placement_grace, else the transport is shut down, which
  // makes the kernel let go. Before any completion of `m`.
  void ReleaseSent(SmbMessage* m);
  // PlacementHook, for plaintext frames (TCP): PlaceRead with no session constraint.
  size_t peek() const override;
  PlacedRange Place(absl::Span<const uint8_t> head, uint64_t frame_length) override;
  // The one place that decides where READ data goes, for plaintext frames and, through the
  // unsealer, for encrypted ones: given the first kReadResponseHeadSize bytes of a message, a
  // successful single READ response whose request is in flight (and belongs to `session_id`,
  // when given) and whose destination can take its data gets that destination, marked as being
  // placed into. Anything else: no placement.
  PlacedRange PlaceRead(absl::Span<const uint8_t> head, uint64_t message_length,
                        std::optional<uint64_t> session_id);
  std::shared_ptr<SessionSecurity> SecurityFor(uint64_t session_id);
  // Cancel(); true when a CANCEL went out.
  absl::StatusOr<bool> CancelOne(SmbMessage* message);
  // Encodes, signs or seals and sends one CANCEL described by `target`.
  absl::Status SendCancel(const Smb2Header& target);

  const std::unique_ptr<Transport> transport_;
  PagePool* const pool_;
  const ConnectionOptions options_;
  CreditWindow credits_;

  // Orders message ids with frames on the wire. A lock with a deadline, made of a mutex and a
  // condition variable (std::timed_mutex's try_lock_for uses pthread_mutex_clocklock, which
  // ThreadSanitizer does not model).
  class SendLock {
   public:
    bool LockUntil(absl::Time deadline);
    void Unlock();

   private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool held_ = false;
  };
  // Holds a SendLock until destroyed or Unlock()ed.
  class SendLockHolder {
   public:
    explicit SendLockHolder(SendLock* lock) : lock_(lock) {}
    ~SendLockHolder() { Unlock(); }
    bool LockUntil(absl::Time deadline) { return held_ = lock_->LockUntil(deadline); }
    void Unlock() {
      if (held_) lock_->Unlock();
      held_ = false;
    }

   private:
    SendLock* const lock_;
    bool held_ = false;
  };
  SendLock send_mu_;
  // Sealed frames' bytes (used under send_mu_) and unsealed answers' bytes (used on the
  // receive thread): packed into shared pages, not a page per small message.
  FragAllocator seal_frags_;
  FragAllocator unseal_frags_;

  mutable std::mutex mu_;
  // Requests in flight by message id; the map holds a reference on each.
  absl::flat_hash_map<uint64_t, SmbMessage*> pending_;
  absl::flat_hash_map<uint64_t, std::shared_ptr<SessionSecurity>> security_;
  NotificationHandler notify_;
  FailureHandler on_failure_;  // under mu_
  bool failure_reported_ = false;  // under mu_
  SmbMessage* placing_ = nullptr;  // message whose data the transport is receiving now
  uint32_t placing_length_ = 0;    // bytes of its destination claimed
  SmbMessage* placing_orphan_ = nullptr;  // placing_, failed by Fail(): EndPlacement completes it
  absl::Status orphan_status_;
  std::condition_variable placed_cv_;
  absl::Status status_;
  ConnectionStats stats_;

  std::condition_variable watchdog_cv_;
  bool closing_ = false;  // under mu_: the watchdog exits

  std::thread receiver_;
  std::thread watchdog_;
};

}  // namespace smbd

#endif  // SMBD_SMB2_CONNECTION_H_
