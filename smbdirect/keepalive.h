// [MS-SMBD] 3.1.2.2 / 3.1.6 Idle Connection Timer as a pure state machine on the caller's clock.
//
// The connection is idle when nothing has been received from the peer for `idle_interval`
// (default 120 s; only receives count: the timer is about hearing from the peer). Then one message
// must go out with SMB_DIRECT_RESPONSE_REQUESTED (the transport sets the flag on the next message
// it sends, or sends an empty one). If nothing is received within `response_timeout` (default 5 s)
// of that message going out, the peer is dead and the connection is torn down. The response
// window also runs from the moment the probe was asked for, so a probe that cannot even be sent
// (no send credits: the peer has stopped granting) ends the connection too.
//
// The caller feeds events and polls: Poll(now) at NextDeadline() (or any time) returns what to do.
#ifndef SMBD_SMBDIRECT_KEEPALIVE_H_
#define SMBD_SMBDIRECT_KEEPALIVE_H_

#include "absl/time/time.h"

namespace smbd {

struct KeepaliveOptions {
  absl::Duration idle_interval = absl::Seconds(120);
  absl::Duration response_timeout = absl::Seconds(5);
};

class KeepaliveTimer {
 public:
  enum class Action {
    kNone,
    kSendKeepalive,  // send a message with RESPONSE_REQUESTED now (returned once per probe)
    kPeerDead,       // no answer: disconnect (returned from then on)
  };
  enum class State { kIdleWait, kProbeWanted, kProbeSent, kDead };

  // Starts idle-waiting at `now` (the end of the negotiate exchange).
  KeepaliveTimer(const KeepaliveOptions& options, absl::Time now);

  // Any message received from the peer: the connection is alive; a probe in flight is answered.
  void OnMessageReceived(absl::Time now);
  // A message went out; `response_requested` says whether it carried the flag. A flagged message
  // while a probe is wanted is the probe: the response window restarts from `now`.
  void OnMessageSent(bool response_requested, absl::Time now);

  Action Poll(absl::Time now);
  // Whether the next outgoing message should carry RESPONSE_REQUESTED.
  bool WantResponseRequested() const { return state_ == State::kProbeWanted; }
  // When Poll should next be called (InfiniteFuture once dead).
  absl::Time NextDeadline() const;
  State state() const { return state_; }

 private:
  const KeepaliveOptions options_;
  State state_ = State::kIdleWait;
  absl::Time last_received_;
  absl::Time probe_deadline_;
};

}  // namespace smbd

#endif  // SMBD_SMBDIRECT_KEEPALIVE_H_
