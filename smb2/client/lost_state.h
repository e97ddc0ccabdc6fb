// LostState: whether a session, tree or file came through a reconnect (ClientOptions::
// reconnect). Internal to smb2/client; a header of its own because the API objects hold one.
#ifndef SMBD_SMB2_CLIENT_LOST_STATE_H_
#define SMBD_SMB2_CLIENT_LOST_STATE_H_

#include <atomic>
#include <mutex>
#include <utility>

#include "absl/status/status.h"

namespace smbd {
namespace client_internal {

// Whether a session, tree or file came through a reconnect: once lost (a handle that was not
// durable, a session the server refused again), every call on it fails with the reason.
class LostState {
 public:
  absl::Status status() const {
    if (!lost_.load(std::memory_order_acquire)) return absl::OkStatus();
    std::lock_guard<std::mutex> l(mu_);
    return status_;
  }
  void Set(absl::Status s) {
    std::lock_guard<std::mutex> l(mu_);
    if (status_.ok()) status_ = std::move(s);
    lost_.store(true, std::memory_order_release);
  }

 private:
  std::atomic<bool> lost_{false};
  mutable std::mutex mu_;
  absl::Status status_;
};

}  // namespace client_internal
}  // namespace smbd

#endif  // SMBD_SMB2_CLIENT_LOST_STATE_H_
