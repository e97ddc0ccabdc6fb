#include "smb2/credits.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "smb2/constants.h"

namespace smbd {

CreditWindow::CreditWindow(CreditOptions options) : options_(options) {}

uint16_t CreditWindow::ChargeFor(uint64_t payload_bytes) const {
  return options_.multi_credit ? CreditChargeFor(payload_bytes) : 1;
}

absl::Status CreditWindow::TryAcquire(uint16_t charge) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!closed_.ok()) return closed_;
  if (charge == 0 || available_ < charge) {
    return absl::UnavailableError(
        absl::StrCat("credits: ", charge, " needed, ", available_, " available"));
  }
  available_ -= charge;
  reserved_ += charge;
  return absl::OkStatus();
}

absl::Status CreditWindow::Acquire(uint16_t charge, absl::Duration timeout) {
  if (charge == 0) return absl::InvalidArgumentError("credits: a request costs at least 1");
  std::unique_lock<std::mutex> lock(mu_);
  if (charge > options_.max) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "credits: a charge of ", charge, " exceeds the window's maximum of ", options_.max));
  }
  const absl::Duration bounded = std::min(timeout, absl::Hours(24 * 365));
  const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(bounded);
  bool waited = false;
  while (closed_.ok() && available_ < charge) {
    if (!Refillable()) {
      // Nothing outstanding can bring grants back: waiting would hang forever.
      return absl::ResourceExhaustedError(absl::StrCat(
          "credits: the server left the client with ", available_,
          " credits and no request in flight; ", charge, " needed"));
    }
    if (!waited) {
      waited = true;
      ++waits_;
    }
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && available_ < charge &&
        closed_.ok()) {
      return absl::DeadlineExceededError(
          absl::StrCat("credits: ", charge, " needed, ", available_, " granted after waiting ",
                       absl::FormatDuration(timeout), " (", in_flight_, " in flight)"));
    }
  }
  if (!closed_.ok()) return closed_;
  available_ -= charge;
  reserved_ += charge;
  return absl::OkStatus();
}

void CreditWindow::Release(uint16_t charge) {
  std::lock_guard<std::mutex> lock(mu_);
  charge = static_cast<uint16_t>(std::min<uint32_t>(charge, reserved_));
  reserved_ -= charge;
  available_ = std::min<uint32_t>(available_ + charge, options_.max);
  cv_.notify_all();
}

uint64_t CreditWindow::AssignIds(uint16_t charge) {
  std::lock_guard<std::mutex> lock(mu_);
  charge = static_cast<uint16_t>(std::min<uint32_t>(charge, reserved_));
  reserved_ -= charge;
  in_flight_ += charge;
  const uint64_t first = next_id_;
  // [MS-SMB2] 3.2.4.1.5: a request of CreditCharge N consumes N consecutive message ids.
  next_id_ += std::max<uint16_t>(charge, 1);
  return first;
}

void CreditWindow::Grant(uint16_t charge, uint16_t granted, bool final) {
  std::lock_guard<std::mutex> lock(mu_);
  if (final) in_flight_ -= std::min<uint32_t>(charge, in_flight_);
  available_ = std::min<uint32_t>(available_ + granted, options_.max);
  // Every waiter may now fit, or (nothing left in flight) must give up: wake them all.
  cv_.notify_all();
}

uint16_t CreditWindow::CreditsToRequest(uint16_t charge) const {
  std::lock_guard<std::mutex> lock(mu_);
  const uint32_t held = available_ + in_flight_ + reserved_;
  const uint32_t deficit = held < options_.target ? options_.target - held : 0;
  return static_cast<uint16_t>(std::min<uint32_t>(uint32_t{charge} + deficit, 0xFFFF));
}

void CreditWindow::Close(absl::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_.ok()) {
    closed_ = status.ok() ? absl::UnavailableError("credits: connection closed") : status;
  }
  cv_.notify_all();
}

CreditStats CreditWindow::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  CreditStats s;
  s.available = available_;
  s.in_flight = in_flight_;
  s.reserved = reserved_;
  s.next_message_id = next_id_;
  s.waits = waits_;
  return s;
}

}  // namespace smbd
