#include "smbdirect/smbdirect_credits.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"

namespace smbd {
namespace {

absl::string_view BlockedName(SmbDirectCreditState::Blocked b) {
  switch (b) {
    case SmbDirectCreditState::Blocked::kNone:
      return "not blocked";
    case SmbDirectCreditState::Blocked::kNotNegotiated:
      return "the connection is not negotiated";
    case SmbDirectCreditState::Blocked::kNoSendCredits:
      return "no send credits (the peer granted none)";
    case SmbDirectCreditState::Blocked::kLastCreditNeedsGrant:
      return "one send credit left and no receive credits to grant with it";
  }
  return "?";
}

}  // namespace

SmbDirectCreditState::SmbDirectCreditState(const SmbDirectCreditOptions& options)
    : options_(options) {}

absl::Status SmbDirectCreditState::OnNegotiated(uint16_t send_credits,
                                                uint16_t receive_credit_target,
                                                uint16_t receive_credits_granted) {
  if (negotiated_) return absl::FailedPreconditionError("credits: negotiated twice");
  if (receive_credits_granted > posted_) {
    return absl::FailedPreconditionError(
        absl::StrCat("credits: negotiate grants ", receive_credits_granted, " receive credits but ",
                     posted_, " receives are posted"));
  }
  negotiated_ = true;
  send_credits_ = send_credits;
  receive_credit_target_ = receive_credit_target;
  granted_ = receive_credits_granted;
  return absl::OkStatus();
}

absl::Status SmbDirectCreditState::OnReceivePosted(uint32_t n) {
  if (n > uint32_t{options_.receive_credit_max} - posted_) {
    return absl::FailedPreconditionError(
        absl::StrCat("credits: posting ", n, " receives on top of ", posted_,
                     " exceeds receive_credit_max ", options_.receive_credit_max));
  }
  posted_ += n;
  return absl::OkStatus();
}

absl::Status SmbDirectCreditState::OnDataTransferReceived(const DataTransferHeader& h) {
  if (!negotiated_) {
    return absl::FailedPreconditionError("credits: data transfer message before negotiation");
  }
  if (granted_ == 0) {
    return absl::DataLossError(
        "[MS-SMBD] 3.1.5.8: the peer sent a data transfer message while holding no receive "
        "credit");
  }
  const uint64_t new_send = uint64_t{send_credits_} + h.credits_granted;
  if (new_send > options_.max_send_credits) {
    return absl::DataLossError(absl::StrCat(
        "[MS-SMBD] data transfer message: CreditsGranted = ", h.credits_granted,
        " would raise send credits from ", send_credits_, " to ", new_send, ", above the limit ",
        options_.max_send_credits));
  }
  --granted_;
  --posted_;
  send_credits_ = static_cast<uint32_t>(new_send);
  receive_credit_target_ = h.credits_requested;
  if (h.response_requested()) response_pending_ = true;
  return absl::OkStatus();
}

SmbDirectCreditState::Blocked SmbDirectCreditState::WhyBlocked() const {
  if (!negotiated_) return Blocked::kNotNegotiated;
  if (send_credits_ == 0) return Blocked::kNoSendCredits;
  if (send_credits_ == 1 && grantable() == 0) return Blocked::kLastCreditNeedsGrant;
  return Blocked::kNone;
}

std::optional<SmbDirectSendTicket> SmbDirectCreditState::TryAcquireSend(uint16_t flags) {
  if (WhyBlocked() != Blocked::kNone) return std::nullopt;
  SmbDirectSendTicket t;
  t.credits_requested = options_.send_credit_target;
  // posted_ <= receive_credit_max (a uint16_t), so this fits.
  t.credits_granted = static_cast<uint16_t>(grantable());
  t.flags = flags;
  granted_ = posted_;
  --send_credits_;
  response_pending_ = false;
  return t;
}

uint32_t SmbDirectCreditState::grant_low_watermark() const {
  if (options_.grant_low_watermark != 0) return options_.grant_low_watermark;
  const uint32_t eff = std::min<uint32_t>(receive_credit_target_, options_.receive_credit_max);
  return std::max<uint32_t>(2, eff / 2);
}

bool SmbDirectCreditState::EmptyMessageWanted() const {
  if (WhyBlocked() != Blocked::kNone) return false;
  if (response_pending_) return true;
  return grantable() > 0 && granted_ < grant_low_watermark();
}

std::optional<SmbDirectSendTicket> SmbDirectCreditState::TryAcquireEmpty(uint16_t flags) {
  if (!EmptyMessageWanted()) return std::nullopt;
  return TryAcquireSend(flags);
}

uint32_t SmbDirectCreditState::ReceivesToPost() const {
  if (!negotiated_) return 0;
  const uint32_t max = options_.receive_credit_max;
  const uint32_t eff = std::min<uint32_t>(receive_credit_target_, max);
  uint32_t want = eff > posted_ ? eff - posted_ : 0;
  // 3.1.5.9: with nothing posted, or with our last send credit unusable for want of a grant,
  // post at least one.
  if (posted_ == 0 || (send_credits_ == 1 && grantable() == 0)) want = std::max<uint32_t>(want, 1);
  return std::min(want, max - posted_);
}

SmbDirectCreditGate::SmbDirectCreditGate(const SmbDirectCreditOptions& options) : state_(options) {}

absl::Status SmbDirectCreditGate::OnNegotiated(uint16_t send_credits,
                                               uint16_t receive_credit_target,
                                               uint16_t receive_credits_granted) {
  std::lock_guard<std::mutex> l(mu_);
  if (!error_.ok()) return error_;
  absl::Status s =
      state_.OnNegotiated(send_credits, receive_credit_target, receive_credits_granted);
  changed_.notify_all();
  return s;
}

absl::Status SmbDirectCreditGate::OnReceivePosted(uint32_t n) {
  std::lock_guard<std::mutex> l(mu_);
  if (!error_.ok()) return error_;
  absl::Status s = state_.OnReceivePosted(n);
  if (s.ok()) changed_.notify_all();
  return s;
}

absl::Status SmbDirectCreditGate::OnDataTransferReceived(const DataTransferHeader& h) {
  std::lock_guard<std::mutex> l(mu_);
  if (!error_.ok()) return error_;
  absl::Status s = state_.OnDataTransferReceived(h);
  if (!s.ok()) error_ = s;  // a peer violation ends the connection
  changed_.notify_all();
  return s;
}

absl::StatusOr<SmbDirectSendTicket> SmbDirectCreditGate::AcquireSend(absl::Duration timeout,
                                                                     uint16_t flags) {
  // Deadline on the steady clock; a huge timeout is clamped so that the addition cannot overflow.
  const absl::Duration bounded = std::min(std::max(timeout, absl::ZeroDuration()),
                                          absl::Hours(24 * 365));
  const auto deadline =
      std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(bounded);
  std::unique_lock<std::mutex> l(mu_);
  ++waiters_;
  for (;;) {
    if (!error_.ok()) {
      --waiters_;
      return error_;
    }
    std::optional<SmbDirectSendTicket> t = state_.TryAcquireSend(flags);
    if (t.has_value()) {
      --waiters_;
      return *t;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      --waiters_;
      return absl::DeadlineExceededError(
          absl::StrCat("SMB Direct: no send credit within ", absl::FormatDuration(timeout), ": ",
                       BlockedName(state_.WhyBlocked())));
    }
    changed_.wait_until(l, deadline);
  }
}

absl::StatusOr<std::optional<SmbDirectSendTicket>> SmbDirectCreditGate::TryAcquireSend(
    uint16_t flags) {
  std::lock_guard<std::mutex> l(mu_);
  if (!error_.ok()) return error_;
  return state_.TryAcquireSend(flags);
}

absl::StatusOr<std::optional<SmbDirectSendTicket>> SmbDirectCreditGate::TryAcquireEmpty(
    uint16_t flags) {
  std::lock_guard<std::mutex> l(mu_);
  if (!error_.ok()) return error_;
  return state_.TryAcquireEmpty(flags);
}

bool SmbDirectCreditGate::EmptyMessageWanted() const {
  std::lock_guard<std::mutex> l(mu_);
  return error_.ok() && state_.EmptyMessageWanted();
}

uint32_t SmbDirectCreditGate::ReceivesToPost() const {
  std::lock_guard<std::mutex> l(mu_);
  return error_.ok() ? state_.ReceivesToPost() : 0;
}

void SmbDirectCreditGate::Fail(absl::Status error) {
  if (error.ok()) error = absl::CancelledError("SMB Direct: credit gate closed");
  std::lock_guard<std::mutex> l(mu_);
  if (error_.ok()) error_ = std::move(error);
  changed_.notify_all();
}

absl::Status SmbDirectCreditGate::status() const {
  std::lock_guard<std::mutex> l(mu_);
  return error_;
}

SmbDirectCreditState SmbDirectCreditGate::Snapshot() const {
  std::lock_guard<std::mutex> l(mu_);
  return state_;
}

int SmbDirectCreditGate::waiting_senders() const {
  std::lock_guard<std::mutex> l(mu_);
  return waiters_;
}

}  // namespace smbd
