// MSG_ZEROCOPY in the TCP transport, over real loopback TCP sockets (AF_UNIX socketpairs do not
// take SO_ZEROCOPY). Loopback always copies in the end (the kernel reports
// SO_EE_CODE_ZEROCOPY_COPIED when it delivers the bytes to the local receiver), which lets these
// tests see both halves: memory held while the bytes sit unsent in the socket, and the
// transport giving zero-copy up once the kernel says it copied.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "smb2/compound.h"
#include "smb2/connection.h"
#include "smb2/tcp_transport.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

using testing_util::Flatten;

// A connected loopback pair: our transport as the client, a plain socket as the server whose
// receive buffer is small when `small_window` (so that sent bytes stay queued on our side until
// it reads).
struct LoopbackPair {
  std::unique_ptr<TcpTransport> client;
  int server = -1;
  ~LoopbackPair() {
    if (server >= 0) close(server);
  }
};

std::unique_ptr<LoopbackPair> Connect(PagePool* pool, bool small_window, TcpOptions o = {}) {
  auto pair = std::make_unique<LoopbackPair>();
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(listener, 0);
  if (small_window) {
    // The kernel doubles it; set before listen so that the accepted socket has it. Frames
    // larger than this stay partly queued on our side until the peer reads.
    int small = 32 << 10;
    setsockopt(listener, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(listen(listener, 1), 0);
  socklen_t len = sizeof(addr);
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  o.send_buffer = 4 << 20;  // the frames below fit in the send buffer whole
  auto t = TcpTransport::Connect("127.0.0.1", ntohs(addr.sin_port), pool, o);
  EXPECT_TRUE(t.ok()) << t.status();
  if (t.ok()) pair->client = *std::move(t);
  pair->server = accept(listener, nullptr, nullptr);
  close(listener);
  return pair;
}

std::vector<uint8_t> ReadAll(int fd, size_t n) {
  std::vector<uint8_t> b(n);
  size_t done = 0;
  while (done < n) {
    const ssize_t got = read(fd, b.data() + done, n - done);
    if (got <= 0) break;
    done += static_cast<size_t>(got);
  }
  b.resize(done);
  return b;
}

std::vector<uint8_t> Pattern(size_t n, int seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 13 + seed);
  return v;
}

std::vector<uint8_t> Framed(const std::vector<uint8_t>& msg) {
  std::vector<uint8_t> out(4);
  out[1] = static_cast<uint8_t>(msg.size() >> 16);
  out[2] = static_cast<uint8_t>(msg.size() >> 8);
  out[3] = static_cast<uint8_t>(msg.size());
  out.insert(out.end(), msg.begin(), msg.end());
  return out;
}

// A WRITE-shaped request: a header, a 2-byte body and `source` (the caller's memory) behind it,
// not copied. Null on an encoding error.
SmbMessageRef WriteLike(PagePool* pool, std::vector<uint8_t>& source) {
  SmbMessageRef m = SmbMessage::New();
  m->header.command = Command::kWrite;
  m->header.credit_charge = 1;
  CompoundWriter cw(&m->request, pool);
  WireWriter* w = cw.Begin(m.get(), false);
  w->U16(49);
  Bvecq payload;
  if (!payload.AppendExternal(source.data(), source.size()).ok()) return SmbMessageRef();
  w->AppendQueue(std::move(payload));
  cw.End();
  if (!cw.Finish().ok()) return SmbMessageRef();
  return m;
}

constexpr size_t kFrame = 192 << 10;  // above zero_copy_min_bytes, inside the send buffer

TEST(TcpZeroCopyTest, SmallFramesAndSocketpairsNeverAsk) {
  auto pool = testing_util::TestPool();
  auto p = Connect(pool.get(), false);
  ASSERT_TRUE(p->client->stats().zero_copy_enabled);
  const std::vector<uint8_t> small = Pattern(1000, 1);  // below zero_copy_min_bytes
  Bvecq q = testing_util::SplitQueue(pool.get(), small, {1000});
  const uint64_t ticket = p->client->NextSendTicket();
  ASSERT_TRUE(p->client->Send(q).ok());
  EXPECT_EQ(ReadAll(p->server, small.size() + 4), Framed(small));
  EXPECT_EQ(p->client->stats().zero_copy_calls, 0u);
  EXPECT_TRUE(p->client->AwaitReleased(ticket, absl::Now()).ok());

  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  auto unix_transport = TcpTransport::FromSocket(sv[0], pool.get());
  EXPECT_FALSE(unix_transport->stats().zero_copy_enabled);
  close(sv[1]);
}

TEST(TcpZeroCopyTest, PoolPagesStayReferencedUntilTheKernelIsDone) {
  auto pool = testing_util::TestPool();
  auto p = Connect(pool.get(), true);
  const std::vector<uint8_t> msg = Pattern(kFrame, 2);
  const uint64_t idle_pages = pool->stats().pages_in_use;
  const uint64_t ticket = p->client->NextSendTicket();
  {
    Bvecq q = testing_util::SplitQueue(pool.get(), msg, {4000});
    ASSERT_TRUE(p->client->Send(q).ok());
  }  // our reference is gone; the bytes are still queued in the kernel (the peer reads nothing)
  TcpStats st = p->client->stats();
  EXPECT_EQ(st.zero_copy_frames, 1u);
  EXPECT_GE(st.zero_copy_calls, 1u);
  EXPECT_EQ(st.frames_lent, 1u);
  EXPECT_GT(pool->stats().pages_in_use, idle_pages + 40) << "the lent frame's pages were freed";
  EXPECT_EQ(p->client->AwaitReleased(ticket, absl::Now() + absl::Milliseconds(200)).code(),
            absl::StatusCode::kDeadlineExceeded);

  // The peer reads: the kernel delivers (copying, on loopback), notifies, and lets go.
  EXPECT_EQ(ReadAll(p->server, msg.size() + 4), Framed(msg));
  ASSERT_TRUE(p->client->AwaitReleased(ticket, absl::Now() + absl::Seconds(10)).ok());
  st = p->client->stats();
  EXPECT_EQ(st.frames_lent, 0u);
  EXPECT_GE(st.zero_copy_notifications, 1u);
  EXPECT_EQ(pool->stats().pages_in_use, idle_pages);
}

TEST(TcpZeroCopyTest, CopiedNotificationsInARowStopTheAsking) {
  auto pool = testing_util::TestPool();
  auto p = Connect(pool.get(), false);
  // Loopback delivers to a local socket, which always copies: the kernel says so every time,
  // and after 16 such notifications in a row the transport stops asking.
  int frames = 0;
  while (p->client->stats().zero_copy_enabled && frames < 64) {
    const std::vector<uint8_t> msg = Pattern(kFrame, frames);
    const uint64_t ticket = p->client->NextSendTicket();
    {
      Bvecq q = testing_util::SplitQueue(pool.get(), msg, {4096 - 13});
      ASSERT_TRUE(p->client->Send(q).ok());
    }
    ASSERT_EQ(ReadAll(p->server, msg.size() + 4), Framed(msg));
    ASSERT_TRUE(p->client->AwaitReleased(ticket, absl::Now() + absl::Seconds(10)).ok());
    ++frames;
  }
  TcpStats st = p->client->stats();
  EXPECT_FALSE(st.zero_copy_enabled);
  EXPECT_GE(st.zero_copy_copied, 16u);
  EXPECT_LE(frames, 16);  // at least one notification per frame
  EXPECT_EQ(st.bytes_zero_copy, 0u);
  EXPECT_GE(st.bytes_copied, frames * kFrame);
  const uint64_t calls = st.zero_copy_calls;

  // From now on plain sendmsg: no more zero-copy calls, the bytes still arrive whole.
  const std::vector<uint8_t> after = Pattern(kFrame, 99);
  Bvecq q = testing_util::SplitQueue(pool.get(), after, {4096 - 13});
  ASSERT_TRUE(p->client->Send(q).ok());
  EXPECT_EQ(ReadAll(p->server, after.size() + 4), Framed(after));
  st = p->client->stats();
  EXPECT_EQ(st.zero_copy_calls, calls);
  EXPECT_EQ(st.zero_copy_frames, static_cast<uint64_t>(frames));
}

TEST(TcpZeroCopyTest, CallerMemoryIsReleasedOnlyByTheNotificationAlsoWhenTheStreamEnds) {
  auto pool = testing_util::TestPool();
  auto p = Connect(pool.get(), true);
  std::vector<uint8_t> caller = Pattern(kFrame, 5);  // a WRITE's source
  const uint64_t idle_pages = pool->stats().pages_in_use;
  const uint64_t ticket = p->client->NextSendTicket();
  {
    Bvecq q;
    ASSERT_TRUE(q.AppendExternal(caller.data(), caller.size()).ok());
    ASSERT_TRUE(p->client->Send(q).ok());
  }
  EXPECT_EQ(p->client->stats().frames_lent, 1u);
  EXPECT_EQ(p->client->AwaitReleased(ticket, absl::Now() + absl::Milliseconds(200)).code(),
            absl::StatusCode::kDeadlineExceeded);
  // The connection fails with the bytes unsent: shutting the transport down resets the stream,
  // the kernel drops the queued bytes, and the notification releases the caller's memory.
  p->client->Shutdown(absl::UnavailableError("test: the link is gone"));
  ASSERT_TRUE(p->client->AwaitReleased(ticket, absl::Now() + absl::Seconds(10)).ok());
  EXPECT_EQ(p->client->stats().frames_lent, 0u);
  EXPECT_EQ(pool->stats().pages_in_use, idle_pages);
  // The peer got at most what fitted its window before the reset, never more than we sent.
  std::vector<uint8_t> got = ReadAll(p->server, caller.size() + 4);
  EXPECT_LT(got.size(), caller.size() + 4);
}

TEST(TcpZeroCopyTest, ManyFramesInFlightAreEachReleasedOnce) {
  auto pool = testing_util::TestPool();
  TcpOptions o;
  o.zero_copy_min_bytes = 4096;
  auto p = Connect(pool.get(), true, o);
  const uint64_t idle_pages = pool->stats().pages_in_use;
  std::vector<std::vector<uint8_t>> msgs;
  std::vector<uint64_t> tickets;
  for (int i = 0; i < 20; ++i) {
    // The first frame is larger than the peer's window: it and every frame behind it stay
    // queued (and lent) until the peer reads.
    msgs.push_back(Pattern(i == 0 ? 96 << 10 : 8192 + i, i));
    tickets.push_back(p->client->NextSendTicket());
    Bvecq q = testing_util::SplitQueue(pool.get(), msgs.back(), {3000});
    ASSERT_TRUE(p->client->Send(q).ok());
  }
  EXPECT_EQ(p->client->stats().zero_copy_frames, 20u);
  std::vector<uint8_t> want;
  for (const auto& m : msgs) {
    const std::vector<uint8_t> f = Framed(m);
    want.insert(want.end(), f.begin(), f.end());
  }
  EXPECT_EQ(ReadAll(p->server, want.size()), want);
  for (uint64_t t : tickets) {
    ASSERT_TRUE(p->client->AwaitReleased(t, absl::Now() + absl::Seconds(10)).ok()) << t;
  }
  const TcpStats st = p->client->stats();
  EXPECT_EQ(st.frames_lent, 0u);
  EXPECT_EQ(pool->stats().pages_in_use, idle_pages);
}

TEST(TcpZeroCopyTest, InjectedFaultsOnTheErrorQueueLoseNothing) {
  auto pool = testing_util::TestPool();
  const std::vector<uint8_t> msg = Pattern(kFrame, 6);
  // Count the operations of a clean run, then fail each of them in turn.
  uint64_t ops = 0;
  {
    auto p = Connect(pool.get(), false);
    const uint64_t ticket = p->client->NextSendTicket();
    Bvecq q = testing_util::SplitQueue(pool.get(), msg, {4000});
    ASSERT_TRUE(p->client->Send(q).ok());
    ASSERT_EQ(ReadAll(p->server, msg.size() + 4).size(), msg.size() + 4);
    ASSERT_TRUE(p->client->AwaitReleased(ticket, absl::Now() + absl::Seconds(10)).ok());
    ops = p->client->stats().operations;
  }
  ASSERT_GT(ops, 2u);
  bool saw_error_queue_fault = false;
  for (uint64_t n = 2; n <= ops + 2; ++n) {
    TcpOptions o;
    o.fail_operation = n;
    auto p = Connect(pool.get(), false, o);
    const uint64_t ticket = p->client->NextSendTicket();
    absl::Status sent;
    {
      Bvecq q = testing_util::SplitQueue(pool.get(), msg, {4000});
      sent = p->client->Send(q);
    }
    if (sent.ok()) {
      std::vector<uint8_t> got = ReadAll(p->server, msg.size() + 4);
      if (p->client->usable()) {
        EXPECT_EQ(got, Framed(msg));
      }
    } else {
      EXPECT_NE(sent.message().find("injected fault"), absl::string_view::npos) << sent;
    }
    // Whatever failed, the kernel's hold on the frame ends and nothing leaks.
    ASSERT_TRUE(p->client->AwaitReleased(ticket, absl::Now() + absl::Seconds(10)).ok()) << n;
    if (!p->client->usable()) {
      // The reason it ended: a failed read of the error queue ends the stream too.
      const absl::Status why = p->client->Receive(absl::Milliseconds(1)).status();
      if (why.message().find("error queue read") != absl::string_view::npos) {
        saw_error_queue_fault = true;
      }
    }
    p.reset();
    EXPECT_EQ(pool->stats().pages_in_use, 0u) << "fault at operation " << n;
  }
  EXPECT_TRUE(saw_error_queue_fault);
}

// The connection hands a caller's WRITE source back only once the kernel is done with it: a
// waiter that gives up while the bytes sit unsent waits (up to placement_grace), then the
// stream is ended, which makes the kernel let go, and only then does Abandon() return.
TEST(TcpZeroCopyTest, ConnectionDoesNotHandBackAWriteSourceTheKernelStillHolds) {
  auto pool = testing_util::TestPool();
  auto p = Connect(pool.get(), true);
  TcpTransport* transport = p->client.get();
  ConnectionOptions o;
  o.placement_grace = absl::Milliseconds(300);
  auto conn = Connection::Create(std::move(p->client), pool.get(), o).value();

  std::vector<uint8_t> source = Pattern(kFrame, 7);  // the caller's WRITE buffer
  SmbMessageRef m = WriteLike(pool.get(), source);
  ASSERT_TRUE(m);
  ASSERT_TRUE(conn->Submit(m).ok());
  EXPECT_NE(m->send_ticket.load(), 0u);
  EXPECT_EQ(transport->stats().frames_lent, 1u);  // the peer reads nothing: the kernel holds it

  const absl::Time start = absl::Now();
  conn->Abandon(m.get());  // the waiter gives up
  EXPECT_GE(absl::Now() - start, o.placement_grace);
  // Only now may the caller reuse `source`: the kernel has let go of it.
  EXPECT_EQ(transport->stats().frames_lent, 0u);
  EXPECT_EQ(conn->stats().unreleased_sends, 0u);
  EXPECT_FALSE(transport->usable());  // the stream had to end for that
  ASSERT_TRUE(m->Wait(absl::Seconds(5)).ok() || m->done());
  EXPECT_FALSE(m->result().ok());
}

// A peer that reads and answers: the message completes once the kernel released the frame.
TEST(TcpZeroCopyTest, ConnectionCompletesAWriteAfterTheRelease) {
  auto pool = testing_util::TestPool();
  auto p = Connect(pool.get(), false);
  TcpTransport* transport = p->client.get();
  const int server = p->server;
  auto conn = Connection::Create(std::move(p->client), pool.get(), ConnectionOptions()).value();
  std::vector<uint8_t> source = Pattern(kFrame, 8);
  SmbMessageRef m = WriteLike(pool.get(), source);
  ASSERT_TRUE(m);
  ASSERT_TRUE(conn->Submit(m).ok());
  const uint64_t frame_bytes = 4 + 64 + 2 + source.size();
  std::vector<uint8_t> got = ReadAll(server, frame_bytes);
  ASSERT_EQ(got.size(), frame_bytes);
  EXPECT_TRUE(std::equal(source.begin(), source.end(), got.begin() + 4 + 64 + 2));
  // The answer: the request's header turned round, with a 4-byte body.
  std::vector<uint8_t> answer(got.begin() + 4, got.begin() + 4 + 64);
  answer[16] |= 1;  // SMB2_FLAGS_SERVER_TO_REDIR
  answer[14] = 1;   // one credit granted
  answer.insert(answer.end(), {4, 0, 0, 0});
  const std::vector<uint8_t> framed = Framed(answer);
  ASSERT_EQ(write(server, framed.data(), framed.size()), static_cast<ssize_t>(framed.size()));
  ASSERT_TRUE(m->Wait(absl::Seconds(10)).ok());
  EXPECT_TRUE(m->result().ok()) << m->result();
  EXPECT_EQ(transport->stats().frames_lent, 0u);
  EXPECT_GE(transport->stats().zero_copy_frames, 1u);
}

// A callback request whose deadline passes while its frame is still being sent (the peer reads
// nothing, sendmsg waits for room): the callback (after which the caller may free its WRITE
// buffer) runs only once Send() no longer reads that buffer. Plain sendmsg on a socketpair: the
// same rule as for the kernel's zero-copy hold.
TEST(TcpZeroCopyTest, ExpiredRequestCompletesOnlyAfterItsSendLetGoOfTheBuffer) {
  auto pool = testing_util::TestPool();
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  auto owned = TcpTransport::FromSocket(sv[0], pool.get());
  TcpTransport* transport = owned.get();
  ConnectionOptions o;
  o.placement_grace = absl::Milliseconds(300);
  o.cancel_send_wait = absl::Milliseconds(50);
  auto conn = Connection::Create(std::move(owned), pool.get(), o).value();

  std::vector<uint8_t> source = Pattern(4 << 20, 9);  // far more than the socket buffers hold
  SmbMessageRef m = WriteLike(pool.get(), source);
  ASSERT_TRUE(m);
  struct Seen {
    TcpTransport* transport;
    std::atomic<bool> done{false};
    std::atomic<bool> send_running_at_callback{true};
  } seen{transport};
  m->SetCallback(
      [](SmbMessage*, void* arg) {
        auto* st = static_cast<Seen*>(arg);
        // Here a caller would free `source`: no Send() may be reading it any more.
        st->send_running_at_callback = st->transport->stats().frame_in_send;
        st->done = true;
      },
      &seen);
  m->SetDeadlineIn(absl::Milliseconds(200));
  std::atomic<bool> submitted{false};
  std::thread submitter([&] {
    (void)conn->Submit(m, absl::Now() + absl::Seconds(30));  // blocks in Send
    submitted = true;
  });
  // The watchdog expires the request at ~200 ms; Send is still stuck; the completion waits for
  // it (up to placement_grace), then the transport is shut down, Send gives up, and only then
  // does the callback run.
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!seen.done && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_TRUE(seen.done);
  EXPECT_FALSE(seen.send_running_at_callback);
  EXPECT_FALSE(transport->usable());  // the stream had to end for that
  submitter.join();
  EXPECT_TRUE(submitted);
  close(sv[1]);
}

}  // namespace
}  // namespace smbd
