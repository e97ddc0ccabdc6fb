#include "smb2/message.h"

#include <atomic>
#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace smbd {
namespace {

TEST(SmbMessageTest, RefcountRecyclesThroughTheCache) {
  const auto before = GetMessageCacheStats();
  SmbMessage* raw;
  {
    SmbMessageRef m = SmbMessage::New();
    raw = m.get();
    m->header.command = Command::kRead;
    SmbMessageRef queued = m;  // queueing adds a reference
    EXPECT_EQ(m->refcount(), 2u);
  }
  EXPECT_EQ(GetMessageCacheStats().in_use, before.in_use);
  SmbMessageRef again = SmbMessage::New();
  EXPECT_EQ(again.get(), raw);  // recycled, not reallocated
  EXPECT_EQ(again->header.command, Command::kNegotiate);  // and reset
}

TEST(SmbMessageTest, ChainHoldsMembers) {
  const auto before = GetMessageCacheStats().in_use;
  {
    SmbMessageRef a = SmbMessage::New();
    a->next = SmbMessage::New();
    a->next->next = SmbMessage::New();
    EXPECT_EQ(GetMessageCacheStats().in_use, before + 3);
  }
  EXPECT_EQ(GetMessageCacheStats().in_use, before);
}

TEST(SmbMessageTest, WaitReturnsTheResultOrTimesOut) {
  SmbMessageRef m = SmbMessage::New();
  m->header.command = Command::kRead;
  m->header.message_id = 42;
  absl::Status s = m->Wait(absl::Milliseconds(10));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(s.message().find("READ (message id 42)"), absl::string_view::npos);
  std::thread t([m] {
    absl::SleepFor(absl::Milliseconds(10));
    m->Complete(absl::UnavailableError("connection lost"));
  });
  EXPECT_EQ(m->Wait(absl::Seconds(10)).code(), absl::StatusCode::kUnavailable);
  t.join();
  m->Complete(absl::OkStatus());  // a second completion is ignored
  EXPECT_EQ(m->result().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(m->Wait(absl::InfiniteDuration()).code(), absl::StatusCode::kUnavailable);
}

TEST(SmbMessageTest, CallbackRunsInsteadOfAWaiter) {
  SmbMessageRef m = SmbMessage::New();
  std::atomic<int> calls{0};
  m->SetCallback([](SmbMessage* msg, void* arg) {
    static_cast<std::atomic<int>*>(arg)->fetch_add(msg->result().ok() ? 1 : 100);
  }, &calls);
  m->Complete(absl::OkStatus());
  m->Complete(absl::OkStatus());
  EXPECT_EQ(calls.load(), 1);
}

TEST(SmbMessageTest, EachWaiterIsWokenIndividually) {
  constexpr int kN = 8;
  SmbMessageRef msgs[kN];
  std::atomic<int> woken{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kN; ++i) {
    msgs[i] = SmbMessage::New();
    threads.emplace_back([&, i] {
      if (msgs[i]->Wait(absl::Seconds(10)).ok()) woken++;
    });
  }
  msgs[3]->Complete(absl::OkStatus());
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(woken.load(), 1);  // only the completed message's waiter
  for (int i = 0; i < kN; ++i) msgs[i]->Complete(absl::OkStatus());
  for (auto& t : threads) t.join();
  EXPECT_EQ(woken.load(), kN);
}

}  // namespace
}  // namespace smbd
