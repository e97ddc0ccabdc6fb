#include "smbdirect/keepalive.h"

namespace smbd {

KeepaliveTimer::KeepaliveTimer(const KeepaliveOptions& options, absl::Time now)
    : options_(options), last_received_(now) {}

void KeepaliveTimer::OnMessageReceived(absl::Time now) {
  if (state_ == State::kDead) return;
  state_ = State::kIdleWait;
  last_received_ = now;
}

void KeepaliveTimer::OnMessageSent(bool response_requested, absl::Time now) {
  if (state_ == State::kProbeWanted && response_requested) {
    state_ = State::kProbeSent;
    probe_deadline_ = now + options_.response_timeout;
  }
}

KeepaliveTimer::Action KeepaliveTimer::Poll(absl::Time now) {
  switch (state_) {
    case State::kIdleWait:
      if (now - last_received_ < options_.idle_interval) return Action::kNone;
      state_ = State::kProbeWanted;
      probe_deadline_ = now + options_.response_timeout;
      return Action::kSendKeepalive;
    case State::kProbeWanted:
    case State::kProbeSent:
      if (now < probe_deadline_) return Action::kNone;
      state_ = State::kDead;
      return Action::kPeerDead;
    case State::kDead:
      return Action::kPeerDead;
  }
  return Action::kNone;
}

absl::Time KeepaliveTimer::NextDeadline() const {
  switch (state_) {
    case State::kIdleWait:
      return last_received_ + options_.idle_interval;
    case State::kProbeWanted:
    case State::kProbeSent:
      return probe_deadline_;
    case State::kDead:
      return absl::InfiniteFuture();
  }
  return absl::InfiniteFuture();
}

}  // namespace smbd
