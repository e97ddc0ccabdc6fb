// [MS-SMBD] credit accounting, without I/O.
//
// Two kinds of credit travel in every data transfer message ([MS-SMBD] 2.2.3):
//  - send credits: how many messages the peer lets us send; it grants them (incrementally, in
//    CreditsGranted) as it posts receives. Each message we send spends one.
//  - receive credits: how many of our posted receives the peer may fill; we grant them in our
//    CreditsGranted. We never grant a receive that is not posted, so "granted" <= "posted".
//
// SmbDirectCreditState is the plain state machine (no locking, no clock): events in (negotiated,
// receive posted, message received), decisions out (may this message go and with which
// CreditsGranted, should an empty message go now, how many receives to post). SmbDirectCreditGate
// wraps it with a mutex and a condition variable so that senders can wait, bounded by a timeout,
// for a credit.
//
// Rules, by section:
//  - 3.1.5.1: never send with SendCredits 0; never spend the last send credit in a message that
//    grants nothing (CreditsGranted 0); every message requests SendCreditTarget
//    (CreditsRequested is a total, not an increment).
//  - 3.1.5.9: before sending, grant every posted-but-ungranted receive; ReceivesToPost() says how
//    many receives to post toward the peer's ReceiveCreditTarget (at least one when none is
//    posted, or when our last send credit is stuck for want of something to grant).
//  - 3.1.5.8: each received message consumes one receive credit, adds its CreditsGranted to
//    SendCredits, sets ReceiveCreditTarget to its CreditsRequested, and a RESPONSE_REQUESTED
//    flag obliges us to send a message promptly (an empty one when nothing else is going out).
//    "Grant promptly": when the peer holds few of our credits (below a low watermark) and there
//    are receives to grant, an empty message should go now.
//
// Hostile peers: a message that arrives while the peer holds none of our credits, or a
// CreditsGranted that would lift SendCredits above `max_send_credits`, is a DataLoss error
// (the transport tears the connection down); counters are 32-bit internally and never wrap.
#ifndef SMBD_SMBDIRECT_SMBDIRECT_CREDITS_H_
#define SMBD_SMBDIRECT_SMBDIRECT_CREDITS_H_

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "smbdirect/smbdirect_wire.h"

namespace smbd {

struct SmbDirectCreditOptions {
  // CreditsRequested in our negotiate request and in every message ([MS-SMBD] 3.1.5.1).
  uint16_t send_credit_target = 255;
  // Connection.ReceiveCreditMax: the most receives we ever have posted (and hence grant).
  uint16_t receive_credit_max = 255;
  // A peer that grants beyond this many outstanding send credits is treated as hostile.
  uint32_t max_send_credits = 65535;
  // Send an empty credit-granting message when the peer holds fewer receive credits than this.
  // 0 means: half of min(ReceiveCreditTarget, receive_credit_max), and at least 2 (a peer with a
  // single credit can only send if it has something to grant).
  uint16_t grant_low_watermark = 0;
};

// The credit fields of one message that is allowed to go.
struct SmbDirectSendTicket {
  uint16_t credits_requested = 0;  // SendCreditTarget
  uint16_t credits_granted = 0;    // receive credits granted by this message
  uint16_t flags = 0;
};

class SmbDirectCreditState {
 public:
  enum class Blocked {
    kNone,                  // a message may go now
    kNotNegotiated,         // OnNegotiated not called yet
    kNoSendCredits,         // SendCredits is 0
    kLastCreditNeedsGrant,  // SendCredits is 1 and there is nothing to grant
  };

  explicit SmbDirectCreditState(const SmbDirectCreditOptions& options);

  // [MS-SMBD] 3.1.5.7 (or 3.1.5.6 for a responder): `send_credits` is the CreditsGranted of the
  // negotiate response (0 for a responder until the first message), `receive_credit_target` the
  // peer's CreditsRequested, `receive_credits_granted` the credits this side granted in its own
  // negotiate response (0 for the initiator: the request grants nothing). FailedPrecondition if
  // called twice or if it would grant more than is posted.
  absl::Status OnNegotiated(uint16_t send_credits, uint16_t receive_credit_target,
                            uint16_t receive_credits_granted = 0);

  // `n` receive buffers were posted (not yet granted). FailedPrecondition beyond
  // receive_credit_max.
  absl::Status OnReceivePosted(uint32_t n = 1);
  // [MS-SMBD] 3.1.5.8: a receive completed with a data transfer message `h` (already checked by
  // DecodeDataTransfer). Consumes the receive and one receive credit, adds CreditsGranted to
  // SendCredits, updates ReceiveCreditTarget and notes RESPONSE_REQUESTED.
  absl::Status OnDataTransferReceived(const DataTransferHeader& h);

  // [MS-SMBD] 3.1.5.1 + 3.1.5.9: takes one send credit for a message with `flags` if the rules
  // allow, granting every posted receive not yet granted. std::nullopt when blocked (see
  // WhyBlocked). Any message sent answers a pending RESPONSE_REQUESTED.
  std::optional<SmbDirectSendTicket> TryAcquireSend(uint16_t flags = 0);
  Blocked WhyBlocked() const;

  // True when an empty message should be sent now: to answer RESPONSE_REQUESTED, or to grant
  // receive credits to a peer that holds fewer than the low watermark; and the credit rules let
  // it go.
  bool EmptyMessageWanted() const;
  // TryAcquireSend for that empty message; std::nullopt unless EmptyMessageWanted().
  std::optional<SmbDirectSendTicket> TryAcquireEmpty(uint16_t flags = 0);

  // [MS-SMBD] 3.1.5.9: receives to post now (toward min(ReceiveCreditTarget, receive_credit_max)).
  uint32_t ReceivesToPost() const;

  bool negotiated() const { return negotiated_; }
  uint32_t send_credits() const { return send_credits_; }
  uint16_t send_credit_target() const { return options_.send_credit_target; }
  uint32_t posted_receives() const { return posted_; }
  // Receive credits the peer holds (granted, not yet used).
  uint32_t peer_receive_credits() const { return granted_; }
  // Posted receives not yet granted.
  uint32_t grantable() const { return posted_ - granted_; }
  uint16_t receive_credit_target() const { return receive_credit_target_; }
  bool response_pending() const { return response_pending_; }
  uint32_t grant_low_watermark() const;

 private:
  SmbDirectCreditOptions options_;
  bool negotiated_ = false;
  uint32_t send_credits_ = 0;
  uint32_t posted_ = 0;
  uint32_t granted_ = 0;  // <= posted_
  uint16_t receive_credit_target_ = 0;
  bool response_pending_ = false;
};

// Thread-safe SmbDirectCreditState with blocking senders. One mutex; waits use a condition variable
// with a deadline (no spinning). The first error (a peer violation reported by
// OnDataTransferReceived, or Fail) is sticky: every waiter and every later call gets it.
class SmbDirectCreditGate {
 public:
  explicit SmbDirectCreditGate(const SmbDirectCreditOptions& options);
  SmbDirectCreditGate(const SmbDirectCreditGate&) = delete;
  SmbDirectCreditGate& operator=(const SmbDirectCreditGate&) = delete;

  absl::Status OnNegotiated(uint16_t send_credits, uint16_t receive_credit_target,
                            uint16_t receive_credits_granted = 0);
  absl::Status OnReceivePosted(uint32_t n = 1);
  absl::Status OnDataTransferReceived(const DataTransferHeader& h);

  // Waits until a message may go (see SmbDirectCreditState::TryAcquireSend), the gate fails (its
  // error), or `timeout` passes (DeadlineExceeded naming why it was blocked).
  absl::StatusOr<SmbDirectSendTicket> AcquireSend(absl::Duration timeout, uint16_t flags = 0);
  // Non-blocking forms. The error, when failed.
  absl::StatusOr<std::optional<SmbDirectSendTicket>> TryAcquireSend(uint16_t flags = 0);
  absl::StatusOr<std::optional<SmbDirectSendTicket>> TryAcquireEmpty(uint16_t flags = 0);
  bool EmptyMessageWanted() const;
  uint32_t ReceivesToPost() const;

  // Records `error` (if none yet) and wakes every waiter.
  void Fail(absl::Status error);
  absl::Status status() const;
  // A copy of the state, for inspection.
  SmbDirectCreditState Snapshot() const;
  int waiting_senders() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable changed_;
  SmbDirectCreditState state_;
  absl::Status error_;
  int waiters_ = 0;
};

}  // namespace smbd

#endif  // SMBD_SMBDIRECT_SMBDIRECT_CREDITS_H_
