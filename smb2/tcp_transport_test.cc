#include "smb2/tcp_transport.h"

#include <sys/socket.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "smb2/constants.h"
#include "smb2/header.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

using testing_util::Flatten;

struct Pair {
  Pair() = default;
  Pair(Pair&& o) noexcept : client(std::move(o.client)), server(o.server) { o.server = -1; }
  ~Pair() {
    if (server >= 0) close(server);
  }
  std::unique_ptr<TcpTransport> client;
  int server = -1;
};

Pair MakePair(PagePool* pool, TcpOptions o = {}) {
  int sv[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  Pair p;
  p.client = TcpTransport::FromSocket(sv[0], pool, o);
  p.server = sv[1];
  return p;
}

void WriteAll(int fd, const std::vector<uint8_t>& b) {
  size_t done = 0;
  while (done < b.size()) {
    ssize_t n = write(fd, b.data() + done, b.size() - done);
    ASSERT_GT(n, 0);
    done += n;
  }
}

std::vector<uint8_t> ReadAll(int fd, size_t n) {
  std::vector<uint8_t> b(n);
  size_t done = 0;
  while (done < n) {
    ssize_t got = read(fd, b.data() + done, n - done);
    if (got <= 0) break;
    done += got;
  }
  b.resize(done);
  return b;
}

std::vector<uint8_t> Framed(const std::vector<uint8_t>& msg) {
  std::vector<uint8_t> out(4);
  StoreBE32(out.data(), static_cast<uint32_t>(msg.size()));
  out.insert(out.end(), msg.begin(), msg.end());
  return out;
}

TEST(TcpTransportTest, SendsOneFrameGatheredFromManySlots) {
  auto pool = testing_util::TestPool();
  Pair p = MakePair(pool.get());
  std::vector<uint8_t> msg(100000);
  for (size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<uint8_t>(i * 7);
  Bvecq q = testing_util::SplitQueue(pool.get(), msg, {1, 3, 4000, 17});
  ASSERT_GT(q.slot_count(), 50u);
  std::vector<uint8_t> got;
  std::thread reader([&] { got = ReadAll(p.server, msg.size() + 4); });
  ASSERT_TRUE(p.client->Send(q).ok());
  reader.join();
  EXPECT_EQ(got, Framed(msg));
  EXPECT_EQ(p.client->stats().frames_sent, 1u);
}

TEST(TcpTransportTest, LargeFrameWithMoreSlotsThanIovMaxResumesPartialSends) {
  auto pool = testing_util::TestPool(128 << 20);
  TcpOptions o;
  o.send_buffer = 4096;  // force many partial sends
  Pair p = MakePair(pool.get(), o);
  std::vector<uint8_t> msg(3 << 20);
  for (size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<uint8_t>(i ^ (i >> 9));
  Bvecq q = testing_util::SplitQueue(pool.get(), msg, {1000});  // ~3100 slots
  std::vector<uint8_t> got;
  std::thread reader([&] { got = ReadAll(p.server, msg.size() + 4); });
  ASSERT_TRUE(p.client->Send(q).ok());
  reader.join();
  ASSERT_EQ(got.size(), msg.size() + 4);
  EXPECT_TRUE(got == Framed(msg));
  EXPECT_GT(p.client->stats().sendmsg_calls, 3u);
}

TEST(TcpTransportTest, ReceivesFramesIntoPages) {
  auto pool = testing_util::TestPool();
  Pair p = MakePair(pool.get());
  std::vector<uint8_t> a(10), b(9000);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i);
  std::vector<uint8_t> both = Framed(a);
  std::vector<uint8_t> fb = Framed(b);
  both.insert(both.end(), fb.begin(), fb.end());
  WriteAll(p.server, both);
  auto f1 = p.client->Receive(absl::Seconds(5));
  ASSERT_TRUE(f1.ok()) << f1.status();
  EXPECT_EQ(Flatten(*f1), a);
  auto f2 = p.client->Receive(absl::Seconds(5));
  ASSERT_TRUE(f2.ok()) << f2.status();
  EXPECT_EQ(Flatten(*f2), b);
}

TEST(TcpTransportTest, BadFramingIsDataLoss) {
  auto pool = testing_util::TestPool();
  {
    Pair p = MakePair(pool.get());
    WriteAll(p.server, {0x85, 0, 0, 0});  // NetBIOS keepalive/other session message type
    EXPECT_EQ(p.client->Receive(absl::Seconds(5)).status().code(), absl::StatusCode::kDataLoss);
  }
  {
    TcpOptions o;
    o.max_receive_frame = 1000;
    Pair p = MakePair(pool.get(), o);
    WriteAll(p.server, {0, 0, 0x10, 0});
    absl::Status s = p.client->Receive(absl::Seconds(5)).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(s.message().find("4096 bytes"), absl::string_view::npos) << s;
  }
  {
    Pair p = MakePair(pool.get());
    WriteAll(p.server, {0, 0, 0, 0});
    EXPECT_EQ(p.client->Receive(absl::Seconds(5)).status().code(), absl::StatusCode::kDataLoss);
  }
  EXPECT_EQ(pool->stats().pages_in_use, 0u);
}

TEST(TcpTransportTest, PeerCloseMidFrameIsUnavailableAndFreesPages) {
  auto pool = testing_util::TestPool();
  Pair p = MakePair(pool.get());
  std::vector<uint8_t> partial = Framed(std::vector<uint8_t>(50000, 1));
  partial.resize(30000);
  WriteAll(p.server, partial);
  close(p.server);
  p.server = -1;
  absl::Status s = p.client->Receive(absl::Seconds(5)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("closed by the peer"), absl::string_view::npos) << s;
  // The frame's pages are gone; the transport keeps the page it receives frames' starts into.
  EXPECT_LE(pool->stats().pages_in_use, 1u);
  p.client.reset();
  EXPECT_EQ(pool->stats().pages_in_use, 0u);
}

TEST(TcpTransportTest, StalledFrameTimesOut) {
  auto pool = testing_util::TestPool();
  TcpOptions o;
  o.stall_timeout = absl::Milliseconds(100);
  Pair p = MakePair(pool.get(), o);
  WriteAll(p.server, {0, 0, 1, 0, 1, 2, 3});  // 256 bytes announced, 3 sent
  absl::Time start = absl::Now();
  absl::Status s = p.client->Receive(absl::Seconds(5)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  // Idle with no frame: the idle timeout applies.
  Pair q = MakePair(pool.get());
  EXPECT_EQ(q.client->Receive(absl::Milliseconds(50)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST(TcpTransportTest, ShutdownWakesABlockedReceiver) {
  auto pool = testing_util::TestPool();
  Pair p = MakePair(pool.get());
  absl::Status got;
  std::thread t([&] { got = p.client->Receive(absl::InfiniteDuration()).status(); });
  absl::SleepFor(absl::Milliseconds(30));
  p.client->Shutdown(absl::AbortedError("closing for test"));
  t.join();
  EXPECT_EQ(got.code(), absl::StatusCode::kAborted);
  Bvecq q = testing_util::SplitQueue(pool.get(), std::vector<uint8_t>(10, 1));
  EXPECT_EQ(p.client->Send(q).code(), absl::StatusCode::kAborted);
}

// Names `dst` for the bytes from `offset` of every frame; records what it was shown.
class FixedDestination : public PlacementHook {
 public:
  size_t peek() const override { return 80; }
  PlacedRange Place(absl::Span<const uint8_t> head, uint64_t frame_length) override {
    asked_id = LoadLE<uint64_t>(&head[hdr::kMessageId]);
    asked_len = frame_length - 80;
    return PlacedRange{offset, dst};
  }
  absl::Span<uint8_t> dst;
  uint64_t offset = 80;
  uint64_t asked_id = 0;
  uint64_t asked_len = 0;
};

std::vector<uint8_t> ReadResponse(uint64_t id, const std::vector<uint8_t>& data,
                                  uint32_t status = 0) {
  Smb2Header h;
  h.command = Command::kRead;
  h.flags = kFlagServerToRedir;
  h.message_id = id;
  h.status = status;
  std::vector<uint8_t> msg(64 + 16);
  WireWriter w(absl::MakeSpan(msg));
  EncodeHeader(h, &w);
  w.U16(17);
  w.U8(0x50);
  w.U8(0);
  w.U32(static_cast<uint32_t>(data.size()));
  w.U32(0);
  w.U32(0);
  EXPECT_TRUE(w.Finish().ok());
  msg.insert(msg.end(), data.begin(), data.end());
  return msg;
}

TEST(TcpTransportTest, ReadDataIsReceivedStraightIntoTheDestination) {
  auto pool = testing_util::TestPool();
  Pair p = MakePair(pool.get());
  FixedDestination hook;
  std::vector<uint8_t> dst(20000, 0);
  hook.dst = absl::MakeSpan(dst);
  p.client->SetPlacementHook(&hook);
  std::vector<uint8_t> data(20000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 13);
  WriteAll(p.server, Framed(ReadResponse(77, data)));
  auto f = p.client->Receive(absl::Seconds(5));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(hook.asked_id, 77u);
  EXPECT_EQ(hook.asked_len, 20000u);
  EXPECT_EQ(dst, data);
  EXPECT_EQ(p.client->stats().bytes_placed, 20000u);
  // The frame still describes the whole message; its data slot is the destination itself.
  EXPECT_EQ(f->size(), 80u + 20000u);
  auto it = f->Range(80, 1);
  ASSERT_TRUE(it.ok());
  EXPECT_EQ(it->Peek().data(), dst.data());
  EXPECT_EQ(Flatten(*f), ReadResponse(77, data));
}

TEST(TcpTransportTest, NoPlacementWithoutADestinationOrOutsideTheFrame) {
  auto pool = testing_util::TestPool();
  Pair p = MakePair(pool.get());
  FixedDestination hook;  // empty destination
  p.client->SetPlacementHook(&hook);
  std::vector<uint8_t> data(5000, 9);
  WriteAll(p.server, Framed(ReadResponse(5, data)));
  auto f = p.client->Receive(absl::Seconds(5));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(Flatten(*f), ReadResponse(5, data));
  EXPECT_EQ(p.client->stats().bytes_placed, 0u);
  std::vector<uint8_t> dst(5000);
  hook.dst = absl::MakeSpan(dst);
  // A range that starts among the peeked bytes, or ends past the frame, is ignored (which
  // answers are placed at all is the connection's decision: PlaceReadTest).
  hook.offset = 40;
  WriteAll(p.server, Framed(ReadResponse(6, data)));
  f = p.client->Receive(absl::Seconds(5));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(hook.asked_id, 6u);
  EXPECT_EQ(Flatten(*f), ReadResponse(6, data));
  hook.offset = 80;
  hook.dst = absl::MakeSpan(dst);  // 5000 bytes: past the end of a 4999-byte answer
  WriteAll(p.server, Framed(ReadResponse(7, std::vector<uint8_t>(4999, 9))));
  f = p.client->Receive(absl::Seconds(5));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(hook.asked_id, 7u);
  EXPECT_EQ(Flatten(*f), ReadResponse(7, std::vector<uint8_t>(4999, 9)));
  EXPECT_EQ(p.client->stats().bytes_placed, 0u);
}

TEST(TcpTransportTest, InjectedFaultsFailCleanly) {
  auto pool = testing_util::TestPool();
  for (uint64_t n = 1; n <= 4; ++n) {
    TcpOptions o;
    o.fail_operation = n;
    Pair p = MakePair(pool.get(), o);
    WriteAll(p.server, Framed(std::vector<uint8_t>(100, 1)));
    absl::Status s = p.client->Receive(absl::Seconds(5)).status();
    if (!s.ok()) {
      EXPECT_NE(s.message().find("injected fault"), absl::string_view::npos) << s;
    }
  }
  EXPECT_EQ(pool->stats().pages_in_use, 0u);
}

TEST(TcpTransportTest, ConnectErrorsAreClear) {
  auto pool = testing_util::TestPool();
  // A port on loopback where nothing listens: refused at once.
  auto r = TcpTransport::Connect("127.0.0.1", 1, pool.get());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("127.0.0.1:1"), absl::string_view::npos) << r.status();
  auto bad = TcpTransport::Connect("no-such-host.invalid", 445, pool.get());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace smbd
