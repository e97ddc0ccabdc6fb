#include "smb2/credits.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace smbd {
namespace {

TEST(CreditWindowTest, StartsWithOneCreditForNegotiate) {
  CreditWindow w;
  EXPECT_EQ(w.stats().available, 1u);
  ASSERT_TRUE(w.Acquire(1, absl::Seconds(1)).ok());
  EXPECT_EQ(w.AssignIds(1), 0u);  // NEGOTIATE is message id 0
  EXPECT_EQ(w.stats().in_flight, 1u);
  w.Grant(1, 1);
  EXPECT_EQ(w.stats().available, 1u);
  EXPECT_EQ(w.stats().in_flight, 0u);
}

TEST(CreditWindowTest, MultiCreditChargeConsumesThatManyIds) {
  CreditWindow w;
  ASSERT_TRUE(w.Acquire(1, absl::Seconds(1)).ok());
  w.AssignIds(1);
  w.Grant(1, 130);
  EXPECT_EQ(w.ChargeFor(1 << 20), 16);        // ceil(1 MiB / 64 KiB)
  EXPECT_EQ(w.ChargeFor(65536), 1);
  EXPECT_EQ(w.ChargeFor(65537), 2);
  EXPECT_EQ(w.ChargeFor(0), 1);
  ASSERT_TRUE(w.Acquire(16, absl::Seconds(1)).ok());
  EXPECT_EQ(w.AssignIds(16), 1u);
  ASSERT_TRUE(w.Acquire(2, absl::Seconds(1)).ok());
  EXPECT_EQ(w.AssignIds(2), 17u);
  EXPECT_EQ(w.stats().next_message_id, 19u);
  EXPECT_EQ(w.stats().available, 130u - 18u);
}

TEST(CreditWindowTest, WithoutMultiCreditEveryRequestCostsOne) {
  CreditOptions o;
  o.multi_credit = false;  // SMB 2.0.2
  CreditWindow w(o);
  EXPECT_EQ(w.ChargeFor(1 << 20), 1);
}

TEST(CreditWindowTest, ZeroGrantsStallThenRecover) {
  CreditWindow w;
  ASSERT_TRUE(w.Acquire(1, absl::Seconds(1)).ok());
  w.AssignIds(1);
  w.Grant(1, 2);  // two credits
  ASSERT_TRUE(w.Acquire(1, absl::Seconds(1)).ok());
  w.AssignIds(1);
  ASSERT_TRUE(w.Acquire(1, absl::Seconds(1)).ok());
  w.AssignIds(1);
  // Both in flight, no credits left: a third request waits.
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    got = w.Acquire(1, absl::Seconds(10)).ok();
  });
  absl::SleepFor(absl::Milliseconds(30));
  w.Grant(1, 0);  // the server grants nothing with the first response
  absl::SleepFor(absl::Milliseconds(30));
  EXPECT_FALSE(got.load());
  w.Grant(1, 1);  // the second response grants one
  waiter.join();
  EXPECT_TRUE(got.load());
  EXPECT_GE(w.stats().waits, 1u);
}

TEST(CreditWindowTest, NoCreditsAndNothingInFlightFailsAtOnce) {
  CreditWindow w;
  ASSERT_TRUE(w.Acquire(1, absl::Seconds(1)).ok());
  w.AssignIds(1);
  w.Grant(1, 0);  // the server granted 0 and nothing is outstanding: no grant can ever come
  absl::Time start = absl::Now();
  absl::Status s = w.Acquire(1, absl::Seconds(30));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("no request in flight"), absl::string_view::npos);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

TEST(CreditWindowTest, WaitTimesOut) {
  CreditWindow w;
  ASSERT_TRUE(w.Acquire(1, absl::Seconds(1)).ok());
  w.AssignIds(1);  // in flight, never answered
  absl::Status s = w.Acquire(1, absl::Milliseconds(20));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(CreditWindowTest, HugeGrantsAreCapped) {
  CreditOptions o;
  o.max = 1000;
  CreditWindow w(o);
  ASSERT_TRUE(w.Acquire(1, absl::Seconds(1)).ok());
  w.AssignIds(1);
  w.Grant(1, 65535);
  w.Grant(0, 65535, false);
  EXPECT_EQ(w.stats().available, 1000u);
  EXPECT_EQ(w.Acquire(1001, absl::Seconds(1)).code(), absl::StatusCode::kResourceExhausted);
}

TEST(CreditWindowTest, ReleaseReturnsCreditsWithoutSkippingIds) {
  CreditWindow w;
  ASSERT_TRUE(w.Acquire(1, absl::Seconds(1)).ok());
  w.AssignIds(1);
  w.Grant(1, 10);
  ASSERT_TRUE(w.Acquire(4, absl::Seconds(1)).ok());
  w.Release(4);  // the request failed before it was sent
  EXPECT_EQ(w.stats().available, 10u);
  EXPECT_EQ(w.stats().reserved, 0u);
  ASSERT_TRUE(w.Acquire(1, absl::Seconds(1)).ok());
  EXPECT_EQ(w.AssignIds(1), 1u);  // the next id, nothing skipped
}

TEST(CreditWindowTest, OutOfOrderCompletionsAddUp) {
  CreditWindow w;
  ASSERT_TRUE(w.Acquire(1, absl::Seconds(1)).ok());
  w.AssignIds(1);
  w.Grant(1, 8);
  uint64_t ids[4];
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(w.Acquire(2, absl::Seconds(1)).ok());
    ids[i] = w.AssignIds(2);
  }
  EXPECT_EQ(ids[3], 7u);
  EXPECT_EQ(w.stats().in_flight, 8u);
  // Responses arrive 3, 0, 2, 1 with different grants.
  w.Grant(2, 4);
  w.Grant(2, 1);
  w.Grant(2, 2);
  w.Grant(2, 3);
  EXPECT_EQ(w.stats().in_flight, 0u);
  EXPECT_EQ(w.stats().available, 10u);
}

TEST(CreditWindowTest, InterimResponseGrantsButKeepsTheRequestInFlight) {
  CreditWindow w;
  ASSERT_TRUE(w.Acquire(1, absl::Seconds(1)).ok());
  w.AssignIds(1);
  w.Grant(1, 0, /*final=*/false);  // STATUS_PENDING, no credits
  EXPECT_EQ(w.stats().in_flight, 1u);
  // Still refillable: a waiter waits rather than failing at once.
  EXPECT_EQ(w.Acquire(1, absl::Milliseconds(10)).code(), absl::StatusCode::kDeadlineExceeded);
  w.Grant(1, 1);
  EXPECT_TRUE(w.Acquire(1, absl::Milliseconds(10)).ok());
}

TEST(CreditWindowTest, RequestsEnoughToKeepTheTarget) {
  CreditOptions o;
  o.target = 64;
  CreditWindow w(o);
  EXPECT_EQ(w.CreditsToRequest(1), 1 + 63);  // holds 1 of 64
  ASSERT_TRUE(w.Acquire(1, absl::Seconds(1)).ok());
  w.AssignIds(1);
  w.Grant(1, 64);
  EXPECT_EQ(w.CreditsToRequest(16), 16);  // at target: ask for what this request costs
}

TEST(CreditWindowTest, CloseFailsWaiters) {
  CreditWindow w;
  ASSERT_TRUE(w.Acquire(1, absl::Seconds(1)).ok());
  w.AssignIds(1);
  absl::Status got;
  std::thread waiter([&] { got = w.Acquire(1, absl::Seconds(30)); });
  absl::SleepFor(absl::Milliseconds(20));
  w.Close(absl::UnavailableError("connection reset by peer"));
  waiter.join();
  EXPECT_EQ(got.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(got.message(), "connection reset by peer");
  EXPECT_EQ(w.TryAcquire(1).code(), absl::StatusCode::kUnavailable);
}

TEST(CreditWindowTest, ConcurrentSendersNeverOverspend) {
  CreditWindow w;
  ASSERT_TRUE(w.Acquire(1, absl::Seconds(1)).ok());
  w.AssignIds(1);
  w.Grant(1, 16);
  std::mutex send_mu;
  std::vector<std::pair<uint64_t, uint16_t>> sent;
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const uint16_t charge = static_cast<uint16_t>(1 + (i + t) % 3);
        if (!w.Acquire(charge, absl::Seconds(10)).ok()) {
          errors++;
          continue;
        }
        {
          std::lock_guard<std::mutex> lock(send_mu);
          sent.emplace_back(w.AssignIds(charge), charge);
        }
        w.Grant(charge, charge);  // the "server" answers at once
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  // Ids are consecutive in send order with no gaps or overlaps.
  uint64_t expect = 1;
  for (const auto& [id, charge] : sent) {
    ASSERT_EQ(id, expect);
    expect += charge;
  }
  EXPECT_EQ(w.stats().available, 16u);
}

}  // namespace
}  // namespace smbd
