#include "smbdirect/smbdirect_credits.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smbd {
namespace {

using ::testing::HasSubstr;

// A received message granting `granted` send credits.
DataTransferHeader Peer(uint16_t granted, uint16_t requested = 16, uint16_t flags = 0,
                        uint32_t data_length = 0) {
  return MakeDataTransferHeader(requested, granted, flags, 0, data_length);
}

SmbDirectCreditOptions Options(uint16_t send_target = 16, uint16_t receive_max = 16) {
  SmbDirectCreditOptions o;
  o.send_credit_target = send_target;
  o.receive_credit_max = receive_max;
  return o;
}

// An initiator after negotiate: `posted` receives posted, `send` credits from the response.
SmbDirectCreditState Negotiated(uint32_t posted, uint16_t send, uint16_t peer_target = 16,
                                const SmbDirectCreditOptions& o = Options()) {
  SmbDirectCreditState s(o);
  EXPECT_TRUE(s.OnReceivePosted(posted).ok());
  EXPECT_TRUE(s.OnNegotiated(send, peer_target).ok());
  return s;
}

// ------------------------------------------------------------- SmbDirectCreditState rules

TEST(SmbDirectCreditStateTest, NothingBeforeNegotiation) {
  SmbDirectCreditState s(Options());
  EXPECT_EQ(s.WhyBlocked(), SmbDirectCreditState::Blocked::kNotNegotiated);
  EXPECT_FALSE(s.TryAcquireSend().has_value());
  EXPECT_FALSE(s.EmptyMessageWanted());
  EXPECT_EQ(s.ReceivesToPost(), 0u);
  EXPECT_EQ(s.OnDataTransferReceived(Peer(1)).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(s.OnNegotiated(1, 1).ok());
  EXPECT_EQ(s.OnNegotiated(1, 1).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(SmbDirectCreditStateTest, FirstMessageGrantsEveryPostedReceiveAndRequestsTarget) {
  SmbDirectCreditState s = Negotiated(/*posted=*/10, /*send=*/5, 16, Options(/*send_target=*/40));
  std::optional<SmbDirectSendTicket> t = s.TryAcquireSend();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->credits_granted, 10);
  EXPECT_EQ(t->credits_requested, 40);  // a total, [MS-SMBD] 2.2.3 / 3.1.5.1
  EXPECT_EQ(t->flags, 0);
  EXPECT_EQ(s.send_credits(), 4u);
  EXPECT_EQ(s.peer_receive_credits(), 10u);
  EXPECT_EQ(s.grantable(), 0u);
  // The next message has nothing new to grant.
  t = s.TryAcquireSend(kSmbDirectResponseRequested);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->credits_granted, 0);
  EXPECT_EQ(t->credits_requested, 40);
  EXPECT_EQ(t->flags, kSmbDirectResponseRequested);
}

TEST(SmbDirectCreditStateTest, NeverSendsWithZeroCredits) {
  SmbDirectCreditState s = Negotiated(4, 2);
  ASSERT_TRUE(s.TryAcquireSend().has_value());  // grants 4
  ASSERT_TRUE(s.OnReceivePosted(1).ok());
  ASSERT_TRUE(s.TryAcquireSend().has_value());  // last credit, grants 1
  EXPECT_EQ(s.send_credits(), 0u);
  ASSERT_TRUE(s.OnReceivePosted(1).ok());
  EXPECT_EQ(s.WhyBlocked(), SmbDirectCreditState::Blocked::kNoSendCredits);
  EXPECT_FALSE(s.TryAcquireSend().has_value());
  EXPECT_FALSE(s.EmptyMessageWanted());  // even with a credit to grant
  EXPECT_FALSE(s.TryAcquireEmpty().has_value());
  EXPECT_EQ(s.send_credits(), 0u);
}

TEST(SmbDirectCreditStateTest, LastCreditOnlyWithAGrant) {
  SmbDirectCreditState s = Negotiated(3, 2);
  ASSERT_EQ(s.TryAcquireSend()->credits_granted, 3);
  EXPECT_EQ(s.send_credits(), 1u);
  // One credit left, nothing to grant: blocked ([MS-SMBD] 3.1.5.1).
  EXPECT_EQ(s.WhyBlocked(), SmbDirectCreditState::Blocked::kLastCreditNeedsGrant);
  EXPECT_FALSE(s.TryAcquireSend().has_value());
  EXPECT_FALSE(s.TryAcquireSend(kSmbDirectResponseRequested).has_value());
  EXPECT_EQ(s.send_credits(), 1u);
  // 3.1.5.9: post at least one receive so that the last credit can go.
  EXPECT_GE(s.ReceivesToPost(), 1u);
  ASSERT_TRUE(s.OnReceivePosted(1).ok());
  std::optional<SmbDirectSendTicket> t = s.TryAcquireSend();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->credits_granted, 1);
  EXPECT_EQ(s.send_credits(), 0u);
}

TEST(SmbDirectCreditStateTest, EmptyMessageMaySpendTheLastCreditToGrant) {
  SmbDirectCreditState s = Negotiated(0, 1);
  EXPECT_FALSE(s.EmptyMessageWanted());  // nothing to grant, nothing asked
  ASSERT_TRUE(s.OnReceivePosted(5).ok());
  // The peer holds none of our credits: grant now, with the last send credit.
  EXPECT_TRUE(s.EmptyMessageWanted());
  std::optional<SmbDirectSendTicket> t = s.TryAcquireEmpty();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->credits_granted, 5);
  EXPECT_EQ(s.send_credits(), 0u);
  EXPECT_FALSE(s.EmptyMessageWanted());
}

TEST(SmbDirectCreditStateTest, PeerThatNeverGrantsStarvesUs) {
  SmbDirectCreditState s = Negotiated(16, 1);
  ASSERT_EQ(s.TryAcquireSend()->credits_granted, 16);  // the only credit, granting
  // The peer keeps sending (it holds our credits) but grants 0 every time.
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(s.OnDataTransferReceived(Peer(0)).ok());
  }
  EXPECT_EQ(s.send_credits(), 0u);
  EXPECT_EQ(s.WhyBlocked(), SmbDirectCreditState::Blocked::kNoSendCredits);
  EXPECT_FALSE(s.TryAcquireSend().has_value());
}

TEST(SmbDirectCreditStateTest, ZeroGrantMessagesChangeNothingButReceiveCredits) {
  SmbDirectCreditState s = Negotiated(8, 4);
  ASSERT_EQ(s.TryAcquireSend()->credits_granted, 8);
  const uint32_t before = s.send_credits();
  ASSERT_TRUE(s.OnDataTransferReceived(Peer(0)).ok());
  EXPECT_EQ(s.send_credits(), before);
  EXPECT_EQ(s.peer_receive_credits(), 7u);
  EXPECT_EQ(s.posted_receives(), 7u);
}

TEST(SmbDirectCreditStateTest, GrantsAreIncremental) {
  SmbDirectCreditState s = Negotiated(8, 1);
  ASSERT_EQ(s.TryAcquireSend()->credits_granted, 8);
  ASSERT_TRUE(s.OnDataTransferReceived(Peer(3)).ok());
  ASSERT_TRUE(s.OnDataTransferReceived(Peer(4)).ok());
  EXPECT_EQ(s.send_credits(), 7u);
}

TEST(SmbDirectCreditStateTest, HugeGrantIsRejectedWithoutOverflow) {
  SmbDirectCreditState s = Negotiated(8, 1);
  ASSERT_TRUE(s.TryAcquireSend().has_value());
  ASSERT_TRUE(s.OnDataTransferReceived(Peer(0xFFFF)).ok());  // exactly the 65535 limit
  EXPECT_EQ(s.send_credits(), 65535u);
  absl::Status st = s.OnDataTransferReceived(Peer(1));
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(st.message(), HasSubstr("CreditsGranted"));
  EXPECT_EQ(s.send_credits(), 65535u);  // unchanged, not wrapped

  SmbDirectCreditOptions o = Options();
  o.max_send_credits = 300;
  SmbDirectCreditState t = Negotiated(8, 255, 16, o);
  ASSERT_TRUE(t.TryAcquireSend().has_value());
  EXPECT_EQ(t.OnDataTransferReceived(Peer(47)).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(t.send_credits(), 254u);
  EXPECT_TRUE(t.OnDataTransferReceived(Peer(45)).ok());  // up to the limit is fine
  EXPECT_EQ(t.send_credits(), 299u);
}

TEST(SmbDirectCreditStateTest, PeerSendingWithoutACreditIsAViolation) {
  SmbDirectCreditState s = Negotiated(4, 4);
  // Nothing granted yet: the initiator's negotiate request grants no receive credits.
  absl::Status st = s.OnDataTransferReceived(Peer(1));
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(st.message(), HasSubstr("no receive credit"));
  ASSERT_EQ(s.TryAcquireSend()->credits_granted, 4);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(s.OnDataTransferReceived(Peer(1)).ok()) << i;
  EXPECT_EQ(s.OnDataTransferReceived(Peer(1)).code(), absl::StatusCode::kDataLoss);
}

TEST(SmbDirectCreditStateTest, NoGrantWithoutPostedReceives) {
  SmbDirectCreditState s = Negotiated(0, 5);
  std::optional<SmbDirectSendTicket> t = s.TryAcquireSend();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->credits_granted, 0);
  EXPECT_EQ(s.peer_receive_credits(), 0u);
  EXPECT_FALSE(s.EmptyMessageWanted());
  // 3.1.5.9: with nothing posted, post at least one.
  EXPECT_GE(s.ReceivesToPost(), 1u);

  // A responder cannot grant more in its negotiate response than it posted.
  SmbDirectCreditState r(Options());
  ASSERT_TRUE(r.OnReceivePosted(2).ok());
  EXPECT_EQ(r.OnNegotiated(0, 16, 3).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(r.OnNegotiated(0, 16, 2).ok());
  EXPECT_EQ(r.peer_receive_credits(), 2u);
  EXPECT_EQ(r.grantable(), 0u);
}

TEST(SmbDirectCreditStateTest, PostingBeyondReceiveCreditMaxFails) {
  SmbDirectCreditState s(Options(16, 8));
  EXPECT_TRUE(s.OnReceivePosted(8).ok());
  EXPECT_EQ(s.OnReceivePosted(1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.OnReceivePosted(0xFFFFFFFFu).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.posted_receives(), 8u);
}

TEST(SmbDirectCreditStateTest, ReceiveCreditsNeverExceedPostedReceives) {
  // Random walk over every event; the invariants hold after each step.
  std::mt19937 rng(12345);
  SmbDirectCreditState s = Negotiated(0, 10, 16, Options(16, 32));
  uint64_t granted_total = 0;
  uint64_t received_total = 0;
  for (int step = 0; step < 20000; ++step) {
    switch (rng() % 4) {
      case 0: {
        const uint32_t room = 32 - s.posted_receives();
        if (room > 0) {
          ASSERT_TRUE(s.OnReceivePosted(1 + rng() % room).ok());
        }
        break;
      }
      case 1:
        if (std::optional<SmbDirectSendTicket> t = s.TryAcquireSend()) {
          granted_total += t->credits_granted;
        }
        break;
      case 2:
        if (std::optional<SmbDirectSendTicket> t = s.TryAcquireEmpty()) {
          granted_total += t->credits_granted;
        }
        break;
      case 3:
        if (s.peer_receive_credits() > 0) {
          ASSERT_TRUE(s.OnDataTransferReceived(Peer(rng() % 3, 1 + rng() % 32)).ok());
          ++received_total;
        } else {
          ASSERT_FALSE(s.OnDataTransferReceived(Peer(1)).ok());
        }
        break;
    }
    ASSERT_LE(s.peer_receive_credits(), s.posted_receives()) << step;
    ASSERT_LE(s.posted_receives(), 32u);
    ASSERT_EQ(granted_total - received_total, s.peer_receive_credits()) << step;
  }
  EXPECT_GT(granted_total, 1000u);
}

TEST(SmbDirectCreditStateTest, ResponseRequestedIsAnsweredPromptly) {
  SmbDirectCreditState s = Negotiated(4, 4);
  ASSERT_TRUE(s.TryAcquireSend().has_value());  // grants 4
  ASSERT_TRUE(s.OnDataTransferReceived(Peer(2, 16, kSmbDirectResponseRequested)).ok());
  EXPECT_TRUE(s.response_pending());
  // Nothing to grant (the receive is not reposted yet), 5 credits: an empty answer is due.
  EXPECT_TRUE(s.EmptyMessageWanted());
  std::optional<SmbDirectSendTicket> t = s.TryAcquireEmpty();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->flags, 0);  // the answer does not ask back
  EXPECT_FALSE(s.response_pending());
  EXPECT_FALSE(s.EmptyMessageWanted());
}

TEST(SmbDirectCreditStateTest, ResponseRequestedAnsweredByAnyMessage) {
  SmbDirectCreditState s = Negotiated(4, 4);
  ASSERT_TRUE(s.TryAcquireSend().has_value());
  ASSERT_TRUE(s.OnDataTransferReceived(Peer(0, 16, kSmbDirectResponseRequested)).ok());
  ASSERT_TRUE(s.TryAcquireSend().has_value());  // a data message
  EXPECT_FALSE(s.response_pending());
  EXPECT_FALSE(s.EmptyMessageWanted());
}

TEST(SmbDirectCreditStateTest, ResponseRequestedWithLastCreditWaitsForAReceive) {
  SmbDirectCreditState s = Negotiated(2, 2);
  ASSERT_TRUE(s.TryAcquireSend().has_value());  // grants 2, one credit left
  ASSERT_TRUE(s.OnDataTransferReceived(Peer(0, 16, kSmbDirectResponseRequested)).ok());
  EXPECT_TRUE(s.response_pending());
  EXPECT_FALSE(s.EmptyMessageWanted());  // the last credit cannot go without a grant
  EXPECT_GE(s.ReceivesToPost(), 1u);
  ASSERT_TRUE(s.OnReceivePosted(1).ok());
  std::optional<SmbDirectSendTicket> t = s.TryAcquireEmpty();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->credits_granted, 1);
}

TEST(SmbDirectCreditStateTest, ReceiveTargetFollowsPeerRequests) {
  SmbDirectCreditState s = Negotiated(0, 4, /*peer_target=*/10, Options(16, 32));
  EXPECT_EQ(s.receive_credit_target(), 10);
  EXPECT_EQ(s.ReceivesToPost(), 10u);
  ASSERT_TRUE(s.OnReceivePosted(10).ok());
  EXPECT_EQ(s.ReceivesToPost(), 0u);
  ASSERT_TRUE(s.TryAcquireSend().has_value());
  ASSERT_TRUE(s.OnDataTransferReceived(Peer(1, /*requested=*/100)).ok());
  EXPECT_EQ(s.receive_credit_target(), 100);
  EXPECT_EQ(s.ReceivesToPost(), 32u - 9u);  // capped by receive_credit_max
}

TEST(SmbDirectCreditStateTest, GrantsPromptlyBelowTheLowWatermark) {
  // Peer target 16, max 16: watermark 8.
  SmbDirectCreditState s = Negotiated(16, 50);
  EXPECT_EQ(s.grant_low_watermark(), 8u);
  ASSERT_EQ(s.TryAcquireSend()->credits_granted, 16);
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(s.OnDataTransferReceived(Peer(0)).ok());
    ASSERT_TRUE(s.OnReceivePosted(1).ok());
    EXPECT_FALSE(s.EmptyMessageWanted()) << i;  // the peer still holds >= 8
  }
  ASSERT_TRUE(s.OnDataTransferReceived(Peer(0)).ok());  // now it holds 7
  ASSERT_TRUE(s.OnReceivePosted(1).ok());
  EXPECT_TRUE(s.EmptyMessageWanted());
  std::optional<SmbDirectSendTicket> t = s.TryAcquireEmpty();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->credits_granted, 9);
  EXPECT_EQ(s.peer_receive_credits(), 16u);

  // Explicit watermark, and the floor of 2 for tiny targets.
  SmbDirectCreditOptions o = Options();
  o.grant_low_watermark = 3;
  EXPECT_EQ(Negotiated(0, 1, 16, o).grant_low_watermark(), 3u);
  EXPECT_EQ(Negotiated(0, 1, 1).grant_low_watermark(), 2u);
}

// -------------------------------------------------------------------- SmbDirectCreditGate

TEST(SmbDirectCreditGateTest, PeerThatNeverGrantsTimesOut) {
  SmbDirectCreditGate g(Options());
  ASSERT_TRUE(g.OnReceivePosted(4).ok());
  ASSERT_TRUE(g.OnNegotiated(1, 16).ok());
  ASSERT_TRUE(g.AcquireSend(absl::Seconds(1)).ok());  // the only credit, granting 4
  const absl::Time start = absl::Now();
  absl::StatusOr<SmbDirectSendTicket> t = g.AcquireSend(absl::Milliseconds(100));
  const absl::Duration waited = absl::Now() - start;
  EXPECT_EQ(t.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(t.status().message(), HasSubstr("no send credits"));
  EXPECT_GE(waited, absl::Milliseconds(95));
  EXPECT_LT(waited, absl::Seconds(5));
  EXPECT_EQ(g.waiting_senders(), 0);
}

TEST(SmbDirectCreditGateTest, LastCreditTimeoutNamesTheRule) {
  SmbDirectCreditGate g(Options());
  ASSERT_TRUE(g.OnNegotiated(1, 16).ok());
  absl::StatusOr<SmbDirectSendTicket> t = g.AcquireSend(absl::Milliseconds(20));
  EXPECT_EQ(t.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(t.status().message(), HasSubstr("one send credit left"));
}

// Waits (bounded) until `n` senders are blocked in AcquireSend.
bool WaitForWaiters(const SmbDirectCreditGate& g, int n) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (g.waiting_senders() != n) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

TEST(SmbDirectCreditGateTest, WaitingSenderWakesOnGrant) {
  SmbDirectCreditGate g(Options());
  ASSERT_TRUE(g.OnReceivePosted(4).ok());
  ASSERT_TRUE(g.OnNegotiated(1, 16).ok());
  ASSERT_TRUE(g.AcquireSend(absl::Seconds(1)).ok());
  absl::StatusOr<SmbDirectSendTicket> result = absl::UnknownError("not run");
  std::thread sender([&] { result = g.AcquireSend(absl::Seconds(20)); });
  ASSERT_TRUE(WaitForWaiters(g, 1));
  const absl::Time start = absl::Now();
  ASSERT_TRUE(g.OnDataTransferReceived(Peer(2)).ok());
  sender.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->credits_granted, 0);
  EXPECT_EQ(g.Snapshot().send_credits(), 1u);
}

TEST(SmbDirectCreditGateTest, WaitingSenderWakesOnReceivePostedForLastCredit) {
  SmbDirectCreditGate g(Options());
  ASSERT_TRUE(g.OnNegotiated(1, 16).ok());
  absl::StatusOr<SmbDirectSendTicket> result = absl::UnknownError("not run");
  std::thread sender([&] { result = g.AcquireSend(absl::Seconds(20)); });
  ASSERT_TRUE(WaitForWaiters(g, 1));
  ASSERT_TRUE(g.OnReceivePosted(3).ok());
  sender.join();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->credits_granted, 3);
}

TEST(SmbDirectCreditGateTest, FailWakesEveryWaiterWithTheError) {
  SmbDirectCreditGate g(Options());
  ASSERT_TRUE(g.OnNegotiated(0, 16).ok());
  absl::Status r1, r2;
  std::thread s1([&] { r1 = g.AcquireSend(absl::Seconds(20)).status(); });
  std::thread s2([&] { r2 = g.AcquireSend(absl::Seconds(20)).status(); });
  ASSERT_TRUE(WaitForWaiters(g, 2));
  g.Fail(absl::UnavailableError("QP error"));
  s1.join();
  s2.join();
  EXPECT_EQ(r1.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(r2.code(), absl::StatusCode::kUnavailable);
  // Sticky: later calls get the first error.
  g.Fail(absl::InternalError("second"));
  EXPECT_EQ(g.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(g.TryAcquireSend().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(g.OnReceivePosted(1).code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(g.EmptyMessageWanted());
}

TEST(SmbDirectCreditGateTest, PeerViolationIsStickyForSenders) {
  SmbDirectCreditGate g(Options());
  ASSERT_TRUE(g.OnReceivePosted(2).ok());
  ASSERT_TRUE(g.OnNegotiated(1, 16).ok());
  ASSERT_TRUE(g.TryAcquireSend().value().has_value());  // the only credit, granting 2
  ASSERT_TRUE(g.OnDataTransferReceived(Peer(0xFFFF)).ok());
  EXPECT_EQ(g.OnDataTransferReceived(Peer(0xFFFF)).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(g.AcquireSend(absl::Seconds(5)).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(g.TryAcquireEmpty().status().code(), absl::StatusCode::kDataLoss);
}

// Two gates wired back to back through in-memory queues, as two connected transports would be:
// one thread sends data messages from A, one thread runs A's receive path, one runs B (which
// answers every data message with one of its own). Every send obeys the credit rules of the
// sender's gate; every receive is checked by the receiver's gate, which fails on a message sent
// without a credit. Runs under TSan in the tsan config.
class Queue {
 public:
  void Push(const DataTransferHeader& h) {
    std::lock_guard<std::mutex> l(mu_);
    q_.push_back(h);
    cv_.notify_one();
  }
  std::optional<DataTransferHeader> Pop(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> l(mu_);
    if (!cv_.wait_for(l, timeout, [&] { return !q_.empty(); })) return std::nullopt;
    DataTransferHeader h = q_.front();
    q_.pop_front();
    return h;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<DataTransferHeader> q_;
};

TEST(SmbDirectCreditGateTest, ConcurrentSenderAndReceiversKeepTheRules) {
  constexpr int kMessages = 3000;
  constexpr uint16_t kCredits = 8;
  const SmbDirectCreditOptions o = Options(kCredits, kCredits);
  SmbDirectCreditGate a(o), b(o);
  ASSERT_TRUE(a.OnReceivePosted(kCredits).ok());
  ASSERT_TRUE(b.OnReceivePosted(kCredits).ok());
  // B answers A's negotiate request granting all its receives; A's request granted nothing.
  ASSERT_TRUE(b.OnNegotiated(0, kCredits, kCredits).ok());
  ASSERT_TRUE(a.OnNegotiated(kCredits, kCredits).ok());
  Queue a_to_b, b_to_a;
  std::atomic<bool> stop{false};
  std::atomic<int> responses{0};
  std::atomic<int> failures{0};
  std::atomic<int> empties{0};
  auto ticket_to_header = [](const SmbDirectSendTicket& t, uint32_t len) {
    return MakeDataTransferHeader(t.credits_requested, t.credits_granted, t.flags, 0, len);
  };

  std::thread a_sender([&] {
    for (int i = 0; i < kMessages && failures == 0; ++i) {
      absl::StatusOr<SmbDirectSendTicket> t = a.AcquireSend(absl::Seconds(20));
      if (!t.ok()) {
        ADD_FAILURE() << "A send " << i << ": " << t.status();
        ++failures;
        return;
      }
      a_to_b.Push(ticket_to_header(*t, 100));
    }
  });
  std::thread a_receiver([&] {
    while (!stop) {
      std::optional<DataTransferHeader> h = b_to_a.Pop(std::chrono::milliseconds(5));
      if (h.has_value()) {
        absl::Status s = a.OnDataTransferReceived(*h);
        if (s.ok()) s = a.OnReceivePosted(1);  // repost
        if (!s.ok()) {
          ADD_FAILURE() << "A receive: " << s;
          ++failures;
          return;
        }
        if (h->data_length > 0) ++responses;
      }
      absl::StatusOr<std::optional<SmbDirectSendTicket>> e = a.TryAcquireEmpty();
      if (e.ok() && e->has_value()) {
        ++empties;
        a_to_b.Push(ticket_to_header(**e, 0));
      }
    }
  });
  std::thread b_thread([&] {
    int pending = 0;
    while (!stop) {
      std::optional<DataTransferHeader> h = a_to_b.Pop(std::chrono::milliseconds(5));
      if (h.has_value()) {
        absl::Status s = b.OnDataTransferReceived(*h);
        if (s.ok()) s = b.OnReceivePosted(1);
        if (!s.ok()) {
          ADD_FAILURE() << "B receive: " << s;
          ++failures;
          return;
        }
        if (h->data_length > 0) ++pending;
      }
      while (pending > 0) {
        absl::StatusOr<std::optional<SmbDirectSendTicket>> t = b.TryAcquireSend();
        if (!t.ok() || !t->has_value()) break;
        b_to_a.Push(ticket_to_header(**t, 50));
        --pending;
      }
      absl::StatusOr<std::optional<SmbDirectSendTicket>> e = b.TryAcquireEmpty();
      if (e.ok() && e->has_value()) {
        ++empties;
        b_to_a.Push(ticket_to_header(**e, 0));
      }
    }
  });

  a_sender.join();
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (responses < kMessages && failures == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  stop = true;
  a_receiver.join();
  b_thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(responses.load(), kMessages);
  EXPECT_GT(empties.load(), 0);  // the grants had to travel in empty messages at times
  for (const SmbDirectCreditGate* g : {&a, &b}) {
    const SmbDirectCreditState s = g->Snapshot();
    EXPECT_LE(s.peer_receive_credits(), s.posted_receives());
    EXPECT_LE(s.posted_receives(), kCredits);
    EXPECT_TRUE(g->status().ok()) << g->status();
  }
}

}  // namespace
}  // namespace smbd
