#include "smb2/client/leases.h"

#include <openssl/rand.h>

#include <utility>

#include "base/status_macros.h"
#include "smb2/client/context.h"
#include "smb2/pdu/oplock_break.h"

namespace smbd {
namespace client_internal {

void LeaseTable::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
    jobs_.clear();
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

LeaseKey LeaseTable::NewKey() {
  LeaseKey key;
  // A lease key only has to be unique per client ([MS-SMB2] 3.2.4.3.8); random bytes make it
  // so across processes too.
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) {
    static std::atomic<uint64_t> counter{1};
    const uint64_t n = counter.fetch_add(1);
    for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(n >> (8 * (i % 8)));
  }
  return key;
}

void LeaseTable::Add(std::shared_ptr<Lease> lease) {
  std::lock_guard<std::mutex> l(mu_);
  leases_[lease->key] = std::move(lease);
  if (!worker_.joinable() && !stop_) worker_ = std::thread([this] { Run(); });
}

void LeaseTable::Granted(Lease* lease, uint32_t state, uint16_t epoch) {
  std::lock_guard<std::mutex> l(mu_);
  lease->state.store(lease->state.load() & state);
  // A v2 lease's epoch only grows ([MS-SMB2] 3.2.5.7.2); a break seen first keeps its newer one.
  if (static_cast<int16_t>(epoch - lease->epoch.load()) > 0) lease->epoch.store(epoch);
}

void LeaseTable::Remove(const LeaseKey& key) {
  std::lock_guard<std::mutex> l(mu_);
  leases_.erase(key);
}

void LeaseTable::OnNotification(const Smb2Header& header, const Bvecq& bytes,
                                const Connection::NotificationOrigin& origin) {
  (void)header;
  absl::StatusOr<BreakNotification> n = DecodeBreakNotification(WireReader(bytes.begin()));
  if (!n.ok() || !n->is_lease) return;
  LeaseKey key;
  std::copy(std::begin(n->lease.lease_key), std::end(n->lease.lease_key), key.begin());
  std::lock_guard<std::mutex> l(mu_);
  auto it = leases_.find(key);
  if (it == leases_.end()) {
    counters_.unknown++;
    return;
  }
  const std::shared_ptr<Lease>& lease = it->second;
  if (lease->sealed_session && !(origin.sealed && origin.session_id == lease->session_id.load())) {
    counters_.unauthenticated++;
    return;
  }
  // The server only ever breaks to fewer caching rights; a "new state" with rights we do not
  // hold is not believed.
  const uint32_t new_state = n->lease.new_lease_state & lease->state.load();
  lease->state.store(new_state);
  lease->epoch.store(n->lease.new_epoch);
  lease->breaks++;
  counters_.breaks++;
  if ((n->lease.flags & kLeaseBreakFlagAckRequired) != 0 && !stop_) {
    lease->ack_state = new_state;
    if (!lease->ack_queued) {
      lease->ack_queued = true;
      jobs_.push_back(lease);
      cv_.notify_one();
    }
  }
}

void LeaseTable::Run() {
  while (true) {
    std::shared_ptr<Lease> lease;
    uint32_t state = 0;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [this] { return stop_ || !jobs_.empty(); });
      if (stop_) return;
      lease = std::move(jobs_.front());
      jobs_.pop_front();
      lease->ack_queued = false;
      state = lease->ack_state;
    }
    Acknowledge(*lease, state);
  }
}

void LeaseTable::Acknowledge(const Lease& lease, uint32_t state) {
  // [MS-SMB2] 3.2.4.25: the acknowledgement names the lease and the state the client keeps
  // (the break's new state: nothing is cached, so nothing is written back first).
  LeaseBreakAck ack;
  std::copy(lease.key.begin(), lease.key.end(), ack.lease_key);
  ack.lease_state = state;
  // Sent again after a reconnect (with the lease's new session and tree): the server still
  // waits for it, on the open that the reconnect brought back.
  absl::Status s = context_->Resilient(true, "LEASE_BREAK acknowledgement", [&]() -> absl::Status {
    SmbMessageRef m = context_->NewMessage(Command::kOplockBreak, lease.session_id.load(),
                                           lease.tree_id.load());
    SMBD_RETURN_IF_ERROR(EncodeOne(m.get(), *context_, [&](WireWriter* w) {
      EncodeLeaseBreakAck(ack, w);
    }));
    SMBD_RETURN_IF_ERROR(context_->RoundTrip(m));
    SMBD_RETURN_IF_ERROR(ResponseStatus(*m, "LEASE_BREAK acknowledgement"));
    return DecodeBreakResponse(Reader(*m)).status();
  });
  if (s.ok()) {
    counters_.acks++;
  } else {
    counters_.ack_failures++;
  }
}

}  // namespace client_internal
}  // namespace smbd
