#include "smbdirect/keepalive.h"

#include "gtest/gtest.h"

namespace smbd {
namespace {

using Action = KeepaliveTimer::Action;
using State = KeepaliveTimer::State;

// A fake clock: the timer only ever sees the times the test passes in.
class KeepaliveTest : public ::testing::Test {
 protected:
  absl::Time At(double seconds) const { return t0_ + absl::Seconds(seconds); }
  const absl::Time t0_ = absl::FromUnixSeconds(1700000000);
};

TEST_F(KeepaliveTest, DefaultsAre120And5Seconds) {
  KeepaliveOptions o;
  EXPECT_EQ(o.idle_interval, absl::Seconds(120));
  EXPECT_EQ(o.response_timeout, absl::Seconds(5));
}

TEST_F(KeepaliveTest, QuietUntilIdleInterval) {
  KeepaliveTimer k(KeepaliveOptions(), At(0));
  EXPECT_EQ(k.NextDeadline(), At(120));
  EXPECT_EQ(k.Poll(At(0)), Action::kNone);
  EXPECT_EQ(k.Poll(At(119.999)), Action::kNone);
  EXPECT_FALSE(k.WantResponseRequested());
  EXPECT_EQ(k.Poll(At(120)), Action::kSendKeepalive);
  EXPECT_TRUE(k.WantResponseRequested());
  // Returned once per probe.
  EXPECT_EQ(k.Poll(At(121)), Action::kNone);
}

TEST_F(KeepaliveTest, TrafficPostponesTheProbe) {
  KeepaliveTimer k(KeepaliveOptions(), At(0));
  k.OnMessageReceived(At(100));
  EXPECT_EQ(k.NextDeadline(), At(220));
  EXPECT_EQ(k.Poll(At(150)), Action::kNone);
  EXPECT_EQ(k.Poll(At(219)), Action::kNone);
  EXPECT_EQ(k.Poll(At(220)), Action::kSendKeepalive);
}

TEST_F(KeepaliveTest, SendingIsNotTraffic) {
  // Only hearing from the peer counts ([MS-SMBD] 3.1.2.2).
  KeepaliveTimer k(KeepaliveOptions(), At(0));
  k.OnMessageSent(false, At(60));
  k.OnMessageSent(true, At(110));  // a flagged message while no probe is wanted changes nothing
  EXPECT_EQ(k.state(), State::kIdleWait);
  EXPECT_EQ(k.Poll(At(120)), Action::kSendKeepalive);
}

TEST_F(KeepaliveTest, AnsweredProbeReturnsToIdle) {
  KeepaliveTimer k(KeepaliveOptions(), At(0));
  ASSERT_EQ(k.Poll(At(120)), Action::kSendKeepalive);
  k.OnMessageSent(true, At(120.5));
  EXPECT_EQ(k.state(), State::kProbeSent);
  EXPECT_FALSE(k.WantResponseRequested());
  EXPECT_EQ(k.NextDeadline(), At(125.5));
  k.OnMessageReceived(At(121));
  EXPECT_EQ(k.state(), State::kIdleWait);
  EXPECT_EQ(k.Poll(At(125.5)), Action::kNone);
  EXPECT_EQ(k.Poll(At(240.9)), Action::kNone);
  EXPECT_EQ(k.Poll(At(241)), Action::kSendKeepalive);
}

TEST_F(KeepaliveTest, UnansweredProbeMeansPeerDead) {
  KeepaliveTimer k(KeepaliveOptions(), At(0));
  ASSERT_EQ(k.Poll(At(120)), Action::kSendKeepalive);
  k.OnMessageSent(true, At(120));
  EXPECT_EQ(k.Poll(At(124.999)), Action::kNone);
  EXPECT_EQ(k.Poll(At(125)), Action::kPeerDead);
  EXPECT_EQ(k.state(), State::kDead);
  // Sticky: a late message does not revive it.
  k.OnMessageReceived(At(126));
  EXPECT_EQ(k.Poll(At(126)), Action::kPeerDead);
  EXPECT_EQ(k.NextDeadline(), absl::InfiniteFuture());
}

TEST_F(KeepaliveTest, ResponseWindowStartsWhenTheProbeGoesOut) {
  KeepaliveTimer k(KeepaliveOptions(), At(0));
  ASSERT_EQ(k.Poll(At(120)), Action::kSendKeepalive);
  k.OnMessageSent(false, At(121));  // an unflagged message is not the probe
  EXPECT_TRUE(k.WantResponseRequested());
  k.OnMessageSent(true, At(123));  // the probe went out late (waited for a credit)
  EXPECT_EQ(k.Poll(At(127)), Action::kNone);
  EXPECT_EQ(k.Poll(At(128)), Action::kPeerDead);
}

TEST_F(KeepaliveTest, ProbeThatCannotBeSentAlsoTimesOut) {
  // No send credit ever arrives for the probe: the peer is not granting, so it is dead too.
  KeepaliveTimer k(KeepaliveOptions(), At(0));
  ASSERT_EQ(k.Poll(At(120)), Action::kSendKeepalive);
  EXPECT_EQ(k.NextDeadline(), At(125));
  EXPECT_EQ(k.Poll(At(124)), Action::kNone);
  EXPECT_EQ(k.Poll(At(125)), Action::kPeerDead);
}

TEST_F(KeepaliveTest, LatePollStillProbesFirst) {
  // A caller that polls long after the idle deadline gets the probe, not an immediate death.
  KeepaliveTimer k(KeepaliveOptions(), At(0));
  EXPECT_EQ(k.Poll(At(1000)), Action::kSendKeepalive);
  EXPECT_EQ(k.Poll(At(1004)), Action::kNone);
  EXPECT_EQ(k.Poll(At(1005)), Action::kPeerDead);
}

TEST_F(KeepaliveTest, CustomIntervals) {
  KeepaliveOptions o;
  o.idle_interval = absl::Seconds(10);
  o.response_timeout = absl::Milliseconds(500);
  KeepaliveTimer k(o, At(0));
  EXPECT_EQ(k.Poll(At(9.9)), Action::kNone);
  ASSERT_EQ(k.Poll(At(10)), Action::kSendKeepalive);
  k.OnMessageSent(true, At(10));
  EXPECT_EQ(k.Poll(At(10.4)), Action::kNone);
  EXPECT_EQ(k.Poll(At(10.5)), Action::kPeerDead);
}

}  // namespace
}  // namespace smbd
