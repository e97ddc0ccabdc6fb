// The client's credit window and message-id sequence ([MS-SMB2] 3.2.4.1.5, 3.2.5.1.4,
// 3.1.5.2).
//
// Credits are taken when a request is built (Acquire, which waits with a timeout while the
// server has granted too few) and message ids are consumed only when the request is actually
// sent (AssignIds, called in send order). A request that fails before it is sent gives its
// credits back (Release), so no message id is ever skipped and no credit leaks. Responses add
// the credits they grant (Grant). A window that can never be refilled (nothing in flight and no
// credits) fails its waiters at once instead of hanging.
#ifndef SMBD_SMB2_CREDITS_H_
#define SMBD_SMB2_CREDITS_H_

#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace smbd {

struct CreditOptions {
  // Credits the client tries to hold (available + in flight): the pipeline depth in 64 KiB units.
  uint32_t target = 512;
  // Cap on what the client counts as available, whatever a server grants (hostile 65535s).
  uint32_t max = 8192;
  // Multi-credit requests (SMB 2.1+ with CAP_LARGE_MTU). Without it each request costs 1 credit
  // and CreditCharge is sent as 0 ([MS-SMB2] 3.2.4.1.5).
  bool multi_credit = true;
};

struct CreditStats {
  uint32_t available = 0;
  uint32_t in_flight = 0;  // credits charged by requests sent and not yet answered
  uint32_t reserved = 0;   // acquired, not yet sent
  uint64_t next_message_id = 0;
  uint64_t waits = 0;      // Acquire calls that had to wait
};

class CreditWindow {
 public:
  // A new connection starts with one credit for NEGOTIATE, message id 0.
  explicit CreditWindow(CreditOptions options = CreditOptions());

  CreditWindow(const CreditWindow&) = delete;
  CreditWindow& operator=(const CreditWindow&) = delete;

  // The charge a request of `payload_bytes` pays in this window (1 without multi-credit).
  uint16_t ChargeFor(uint64_t payload_bytes) const;

  // Takes `charge` credits, waiting up to `timeout` for grants. Errors: DeadlineExceeded when
  // none came in time, ResourceExhausted when the window can never be refilled or `charge`
  // exceeds what a server could grant, the Close() status when closed.
  absl::Status Acquire(uint16_t charge, absl::Duration timeout);
  // Non-blocking Acquire: Unavailable if the credits are not there now.
  absl::Status TryAcquire(uint16_t charge);
  // Gives back credits taken by Acquire for a request that will not be sent.
  void Release(uint16_t charge);
  // Consumes `charge` message ids for a request being sent now; returns the first.
  uint64_t AssignIds(uint16_t charge);
  // A final response to a request of `charge` arrived, granting `granted` credits. An interim
  // (STATUS_PENDING) response passes final=false: it grants but the request stays in flight.
  void Grant(uint16_t charge, uint16_t granted, bool final = true);
  // The CreditRequest for an outgoing request of `charge`: its own charge plus what keeps the
  // window at its target.
  uint16_t CreditsToRequest(uint16_t charge) const;
  // Fails every current and future Acquire with `status` (connection lost).
  void Close(absl::Status status);

  CreditStats stats() const;

 private:
  bool Refillable() const { return in_flight_ > 0 || reserved_ > 0; }
  const CreditOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint32_t available_ = 1;
  uint32_t in_flight_ = 0;
  uint32_t reserved_ = 0;
  uint64_t next_id_ = 0;
  uint64_t waits_ = 0;
  absl::Status closed_;
};

}  // namespace smbd

#endif  // SMBD_SMB2_CREDITS_H_
