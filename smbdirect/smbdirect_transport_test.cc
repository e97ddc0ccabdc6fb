#include "smbdirect/smbdirect_transport.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <iostream>
#include <mutex>
#include <numeric>
#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "smbdirect/fake_smbdirect_server.h"

namespace smbd {
namespace {

std::vector<uint8_t> Flatten(const Bvecq& q) {
  std::vector<uint8_t> v(q.size());
  q.begin().CopyOut(absl::MakeSpan(v));
  return v;
}

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 31 + (i >> 8));
  return v;
}

// A client transport connected to a FakeSmbDirectServer over the fake RDMA network.
class Harness {
 public:
  explicit Harness(FakeSmbDirectServerOptions so = {}, SmbDirectOptions co = {},
                   FakeSmbDirectServer::Handler handler = nullptr, uint32_t queue_credits = 255) {
    auto pair = net_.CreatePair(queue_credits, 8);
    client_ep_ = pair.client.get();
    PagePoolOptions po;
    po.max_bytes = 64 << 20;
    po.huge_pages = false;
    registrar_ = pair.client->registrar_handle();
    po.registrar = registrar_.get();
    pool_ = PagePool::Create(po).value();
    if (!handler) {
      handler = [](const std::vector<uint8_t>& f, FakeSmbDirectServer::Context&) {
        return std::vector<std::vector<uint8_t>>{f};  // echo
      };
    }
    server_ = std::make_unique<FakeSmbDirectServer>(std::move(pair.peer), so, handler);
    co.negotiate_timeout = absl::Seconds(2);
    transport_ = SmbDirectTransport::Create(std::move(pair.client), pool_.get(), co);
  }
  ~Harness() {
    transport_ = absl::UnknownError("torn down");  // the transport (and endpoint) go first
    server_.reset();
    if (pool_) EXPECT_EQ(pool_->stats().pages_in_use, 0u) << "leaked pool pages";
    pool_.reset();
    EXPECT_EQ(net_.live_memory_regions(), 0) << "leaked registrations";
  }

  absl::Status Echo(const std::vector<uint8_t>& data, std::vector<uint8_t>* back) {
    Bvecq q;
    {
      WireWriter w(&q, pool_.get());
      w.Bytes(absl::MakeConstSpan(data));
      absl::Status s = w.Finish();
      if (!s.ok()) return s;
    }
    absl::Status s = (*transport_)->Send(q);
    if (!s.ok()) return s;
    auto r = (*transport_)->Receive(absl::Seconds(10));
    if (!r.ok()) return r.status();
    *back = Flatten(*r);
    return absl::OkStatus();
  }

  FakeRdmaNetwork net_;
  RdmaEndpoint* client_ep_ = nullptr;
  std::shared_ptr<MemoryRegistrar> registrar_;
  std::unique_ptr<PagePool> pool_;
  std::unique_ptr<FakeSmbDirectServer> server_;
  absl::StatusOr<std::unique_ptr<SmbDirectTransport>> transport_;
};

TEST(SmbDirectTransportTest, NegotiatesAndTakesThePeersLimits) {
  Harness h;
  ASSERT_TRUE(h.transport_.ok()) << h.transport_.status();
  const NegotiatedParams& p = (*h.transport_)->negotiated();
  EXPECT_EQ(p.send_credits, 255);
  EXPECT_EQ(p.max_send_size, 1364u);
  EXPECT_EQ(p.max_fragmented_send_size, 1u << 20);
  EXPECT_EQ(p.max_read_write_size, 1u << 20);
  EXPECT_TRUE((*h.transport_)->supports_rdma());
}

TEST(SmbDirectTransportTest, FramesOfEverySizeRoundTrip) {
  Harness h;
  ASSERT_TRUE(h.transport_.ok()) << h.transport_.status();
  for (size_t n : {size_t{1}, size_t{1340}, size_t{1341}, size_t{4096}, size_t{65536},
                   size_t{100001}, size_t{(1364 * 255) / 2}}) {
    std::vector<uint8_t> data = Pattern(n, static_cast<uint8_t>(n)), back;
    ASSERT_TRUE(h.Echo(data, &back).ok()) << n;
    EXPECT_TRUE(back == data) << n;
  }
  const SmbDirectStats st = (*h.transport_)->stats();
  EXPECT_EQ(st.frames_sent, 7u);
  EXPECT_EQ(st.frames_received, 7u);
  // 1 MiB of frames at <= 1340 bytes per message.
  EXPECT_GT(st.messages_sent, 250u);
  EXPECT_EQ(st.bounced_bytes, 0u);  // pool pages are registered: nothing copied
}

TEST(SmbDirectTransportTest, UnregisteredCallerBytesAreBouncedNotSentRaw) {
  Harness h;
  ASSERT_TRUE(h.transport_.ok());
  std::vector<uint8_t> user = Pattern(3000, 7);
  Bvecq q;
  ASSERT_TRUE(q.AppendExternal(user.data(), user.size()).ok());  // lkey 0: not registered
  ASSERT_TRUE((*h.transport_)->Send(q).ok());
  auto r = (*h.transport_)->Receive(absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(Flatten(*r) == user);
  EXPECT_EQ((*h.transport_)->stats().bounced_bytes, 3000u);
}

TEST(SmbDirectTransportTest, FrameAboveThePeersMaxFragmentedIsRefused) {
  FakeSmbDirectServerOptions so;
  so.response.max_fragmented_size = 131072;
  Harness h(so);
  ASSERT_TRUE(h.transport_.ok());
  std::vector<uint8_t> back;
  EXPECT_EQ(h.Echo(Pattern(131073, 1), &back).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(h.Echo(Pattern(131072, 1), &back).ok());
}

TEST(SmbDirectTransportTest, BadNegotiateResponsesAreClearErrors) {
  struct Case {
    const char* what;
    std::function<void(SmbDirectNegotiateResponse*)> corrupt;
  } cases[] = {
      {"no credits", [](SmbDirectNegotiateResponse* r) { r->credits_granted = 0; }},
      {"tiny receive", [](SmbDirectNegotiateResponse* r) { r->max_receive_size = 127; }},
      {"status", [](SmbDirectNegotiateResponse* r) { r->status = 0xC0000001; }},
      {"fragmented", [](SmbDirectNegotiateResponse* r) { r->max_fragmented_size = 131071; }},
      {"version", [](SmbDirectNegotiateResponse* r) { r->negotiated_version = 0x0200; }},
  };
  for (const Case& c : cases) {
    FakeSmbDirectServerOptions so;
    c.corrupt(&so.response);
    Harness h(so);
    ASSERT_FALSE(h.transport_.ok()) << c.what;
    EXPECT_NE(h.transport_.status().code(), absl::StatusCode::kOk) << c.what;
    EXPECT_FALSE(h.transport_.status().message().empty()) << c.what;
  }
}

TEST(SmbDirectTransportTest, SilentPeerTimesOutTheNegotiate) {
  FakeSmbDirectServerOptions so;
  so.answer_negotiate = false;
  absl::Time start = absl::Now();
  Harness h(so);
  EXPECT_EQ(h.transport_.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST(SmbDirectTransportTest, PeerThatStopsGrantingCreditsFailsSendersInBoundedTime) {
  FakeSmbDirectServerOptions so;
  so.response.credits_granted = 3;  // three sends, then only what messages grant: nothing
  so.grant_per_message = 0;
  SmbDirectOptions co;
  co.send_timeout = absl::Milliseconds(300);
  Harness h(so, co, [](const std::vector<uint8_t>&, FakeSmbDirectServer::Context&) {
    return std::vector<std::vector<uint8_t>>{};  // swallow
  });
  ASSERT_TRUE(h.transport_.ok());
  Bvecq q;
  {
    WireWriter w(&q, h.pool_.get());
    w.Zeros(10 * 1340);  // ten messages
    ASSERT_TRUE(w.Finish().ok());
  }
  absl::Time start = absl::Now();
  absl::Status s = (*h.transport_)->Send(q);
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // The connection is now failed for everyone.
  EXPECT_FALSE((*h.transport_)->Receive(absl::Seconds(1)).ok());
}

TEST(SmbDirectTransportTest, AnswersResponseRequestedWithAnEmptyMessage) {
  FakeSmbDirectServerOptions so;
  so.request_responses = true;
  Harness h(so);
  ASSERT_TRUE(h.transport_.ok());
  std::vector<uint8_t> back;
  ASSERT_TRUE(h.Echo(Pattern(10, 1), &back).ok());
  for (int i = 0; i < 200 && h.server_->empty_messages_received() == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_GE(h.server_->empty_messages_received(), 1);
  EXPECT_GE((*h.transport_)->stats().empty_messages_sent, 1u);
}

// The completion thread (the only one that frees send slots) must never wait for a send slot. A
// peer that grants more credits than the client has send slots, and sets RESPONSE_REQUESTED on
// every message while the client streams fragmented frames, used to make the completion thread wait
// for a slot only it could free (the connection died after send_timeout).
TEST(SmbDirectTransportTest, ResponseRequestedWhileEverySendSlotIsBusyNeverStallsCompletions) {
  FakeSmbDirectServerOptions so;
  so.request_responses = true;  // every message of the peer asks for an answer
  so.receive_buffers = 4;       // few receives: the client's sends wait for them (RNR)...
  so.response.credits_granted = 255;  // ...but far more credits than the client has send slots
  SmbDirectOptions co;
  co.send_timeout = absl::Seconds(3);
  std::atomic<int> frames{0};
  Harness h(
      so, co,
      [&](const std::vector<uint8_t>&, FakeSmbDirectServer::Context&) {
        // The peer is busy with the first frame for a while and reposts no receive meanwhile.
        if (frames++ == 0) absl::SleepFor(absl::Milliseconds(500));
        return std::vector<std::vector<uint8_t>>{};
      },
      /*queue_credits=*/16);
  ASSERT_TRUE(h.transport_.ok());
  const std::vector<uint8_t> data = Pattern(40 * 1340, 9);  // 41 messages a frame
  auto send = [&] {
    Bvecq q;
    WireWriter w(&q, h.pool_.get());
    w.Bytes(absl::MakeConstSpan(data));
    absl::Status s = w.Finish();
    return s.ok() ? (*h.transport_)->Send(q) : s;
  };
  ASSERT_TRUE(send().ok());
  // The second frame fills every send slot the data path may use: its messages wait for the
  // peer's receives.
  absl::Status second;
  std::thread sender([&] { second = send(); });
  absl::SleepFor(absl::Milliseconds(150));
  // Now the peer sends a message with RESPONSE_REQUESTED: the completion thread must answer it
  // (or defer the answer) without waiting for a slot only it can free.
  ASSERT_TRUE(h.server_->SendFrame(Pattern(64, 1)).ok()) << h.server_->status();
  const absl::Time start = absl::Now();
  sender.join();
  EXPECT_TRUE(second.ok()) << second;
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  auto r = (*h.transport_)->Receive(absl::Seconds(2));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Flatten(*r), Pattern(64, 1));
  for (int i = 0; i < 200 && h.server_->empty_messages_received() == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_GE(h.server_->empty_messages_received(), 1) << "RESPONSE_REQUESTED never answered";
  EXPECT_TRUE((*h.transport_)->status().ok()) << (*h.transport_)->status();
  std::cout << "empty messages " << (*h.transport_)->stats().empty_messages_sent
            << " (deferred for a send slot " << (*h.transport_)->stats().empty_messages_deferred
            << ")\n";
}

// Receives are reposted (and so granted to the peer) only while the consumer keeps up. A peer that
// keeps sending to a client whose consumer does not call Receive() runs out of credits once
// max_undelivered_receives frames wait, instead of filling the pool.
TEST(SmbDirectTransportTest, SlowConsumerStopsTheGrantsInsteadOfFillingThePool) {
  SmbDirectOptions co;
  co.max_undelivered_receives = 32;
  Harness h({}, co);
  ASSERT_TRUE(h.transport_.ok());
  std::vector<uint8_t> back;
  ASSERT_TRUE(h.Echo(Pattern(10, 2), &back).ok());  // the peer's first credits
  const std::vector<uint8_t> frame = Pattern(100, 4);
  int sent = 0;
  absl::Time last_progress = absl::Now();
  while (absl::Now() - last_progress < absl::Milliseconds(500) && sent < 2000) {
    absl::Status s = h.server_->SendFrame(frame);
    if (s.ok()) {
      ++sent;
      last_progress = absl::Now();
    } else {
      ASSERT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
      absl::SleepFor(absl::Milliseconds(5));
    }
  }
  const uint64_t pages = h.pool_->stats().pages_in_use;
  std::cout << "a peer sending to a consumer that does not read: " << sent
            << " frames, then no credit; pool pages in use " << pages << ", receives parked "
            << (*h.transport_)->stats().receives_parked << "\n";
  EXPECT_LT(sent, 2000) << "the client kept granting credits to a consumer that reads nothing";
  EXPECT_LE(sent, 32 + 255 + 16);
  EXPECT_GT((*h.transport_)->stats().receives_parked, 0u);
  // Every frame is still there, in order; reading them resumes the grants.
  for (int i = 0; i < sent; ++i) {
    auto r = (*h.transport_)->Receive(absl::Seconds(5));
    ASSERT_TRUE(r.ok()) << i << ": " << r.status();
    ASSERT_EQ(Flatten(*r), frame);
  }
  absl::Status more;
  for (int i = 0; i < 400; ++i) {
    more = h.server_->SendFrame(frame);
    if (more.ok()) break;
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_TRUE(more.ok()) << more;
  auto r = (*h.transport_)->Receive(absl::Seconds(5));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE((*h.transport_)->status().ok());
}

// Teardown drains the queue pair (destroys the endpoint) before the pages its posted receives point
// into go back to the pool, where the next user could see the device write into them. The members
// used to go first (the endpoint is declared first, so it died last).
TEST(SmbDirectTransportTest, TeardownDrainsTheQueuePairBeforeReturningPages) {
  Harness h;
  ASSERT_TRUE(h.transport_.ok());
  std::vector<uint8_t> back;
  ASSERT_TRUE(h.Echo(Pattern(100, 7), &back).ok());
  std::atomic<int64_t> pages_when_destroyed{-1};
  PagePool* pool = h.pool_.get();
  h.net_.SetEndpointDestroyedHook([&](bool is_client) {
    if (is_client) pages_when_destroyed = static_cast<int64_t>(pool->stats().pages_in_use);
  });
  h.transport_->reset();
  // When the client's queue pair went away, its receive buffers were still held...
  EXPECT_GE(pages_when_destroyed.load(), 1) << "pages went back before the drain";
  // ...and now they are back.
  EXPECT_EQ(pool->stats().pages_in_use, 0u);
  h.net_.SetEndpointDestroyedHook(nullptr);
}

TEST(SmbDirectTransportTest, KeepaliveProbesAndGivesUpOnASilentPeer) {
  FakeSmbDirectServerOptions so;
  so.ignore_response_requested = true;
  SmbDirectOptions co;
  co.keepalive.idle_interval = absl::Milliseconds(200);
  co.keepalive.response_timeout = absl::Milliseconds(300);
  Harness h(so, co);
  ASSERT_TRUE(h.transport_.ok());
  absl::Time start = absl::Now();
  auto r = (*h.transport_)->Receive(absl::Seconds(10));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_NE(r.status().message().find("keepalive"), absl::string_view::npos) << r.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_GE(h.server_->response_requested_received(), 1);
}

TEST(SmbDirectTransportTest, KeepaliveAnsweredKeepsTheConnection) {
  SmbDirectOptions co;
  co.keepalive.idle_interval = absl::Milliseconds(100);
  co.keepalive.response_timeout = absl::Milliseconds(500);
  Harness h({}, co);
  ASSERT_TRUE(h.transport_.ok());
  absl::SleepFor(absl::Milliseconds(600));
  EXPECT_TRUE((*h.transport_)->status().ok()) << (*h.transport_)->status();
  EXPECT_GE((*h.transport_)->stats().keepalives_sent, 2u);
  std::vector<uint8_t> back;
  EXPECT_TRUE(h.Echo(Pattern(100, 3), &back).ok());
}

TEST(SmbDirectTransportTest, PeerWritesExactlyTheRegisteredRangeAndNoLonger) {
  // The "server" RDMA-writes into the buffer the client registered, as for a READ. Each frame
  // carries {addr u64, rkey u32, len u32}; the server writes len bytes there.
  struct Shared {
    std::mutex mu;
    std::vector<absl::Status> writes;
  } sh;
  auto handler = [&](const std::vector<uint8_t>& f, FakeSmbDirectServer::Context& ctx) {
    uint64_t addr;
    uint32_t rkey, len;
    std::memcpy(&addr, f.data(), 8);
    std::memcpy(&rkey, f.data() + 8, 4);
    std::memcpy(&len, f.data() + 12, 4);
    absl::Status s = ctx.RdmaWrite(addr, rkey, Pattern(len, 9));
    std::lock_guard<std::mutex> l(sh.mu);
    sh.writes.push_back(s);
    return std::vector<std::vector<uint8_t>>{{1}};
  };
  // The server records its write's status after the write completes; a failed write also breaks
  // the connection, which the client may notice first. Wait (bounded) for the record.
  auto writes_at_least = [&](size_t n) {
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard<std::mutex> l(sh.mu);
        if (sh.writes.size() >= n) return sh.writes.size();
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    std::lock_guard<std::mutex> l(sh.mu);
    return sh.writes.size();
  };
  auto ask = [](const BufferDescriptorV1& d, uint32_t len) {
    std::vector<uint8_t> msg(16);
    std::memcpy(msg.data(), &d.offset, 8);
    std::memcpy(msg.data() + 8, &d.token, 4);
    std::memcpy(msg.data() + 12, &len, 4);
    return msg;
  };
  std::vector<uint8_t> dst(3 * 4096 + 100, 0);
  {
    Harness h({}, {}, handler);
    ASSERT_TRUE(h.transport_.ok());
    auto reg = (*h.transport_)->RegisterForPeer(absl::MakeSpan(dst), /*peer_writes=*/true);
    ASSERT_TRUE(reg.ok()) << reg.status();
    ASSERT_EQ((*reg)->descriptors().size(), 1u);
    const BufferDescriptorV1 d = (*reg)->descriptors()[0];
    EXPECT_EQ(d.offset, reinterpret_cast<uintptr_t>(dst.data()));
    EXPECT_EQ(d.length, dst.size());
    std::vector<uint8_t> back;
    ASSERT_TRUE(h.Echo(ask(d, d.length), &back).ok());
    ASSERT_EQ(writes_at_least(1), 1u);
    EXPECT_TRUE(sh.writes[0].ok()) << sh.writes[0];
    EXPECT_TRUE(dst == Pattern(dst.size(), 9));
    EXPECT_EQ((*h.transport_)->stats().live_registrations, 1u);
    reg->reset();  // the I/O is done: deregistered
    EXPECT_EQ((*h.transport_)->stats().live_registrations, 0u);
    // A late write with the old rkey must fail and leave the memory alone.
    std::fill(dst.begin(), dst.end(), 0);
    (void)h.Echo(ask(d, 16), &back);  // the connection breaks: the reply may not come
    ASSERT_EQ(writes_at_least(2), 2u);
    EXPECT_FALSE(sh.writes[1].ok());
    EXPECT_EQ(std::count(dst.begin(), dst.end(), 0), static_cast<long>(dst.size()));
  }
  {
    // One byte past the registered range is refused too.
    sh.writes.clear();
    Harness h({}, {}, handler);
    ASSERT_TRUE(h.transport_.ok());
    std::vector<uint8_t> buf(8192 + 1, 0);
    auto reg = (*h.transport_)->RegisterForPeer(absl::MakeSpan(buf).subspan(0, 8192), true);
    ASSERT_TRUE(reg.ok());
    std::vector<uint8_t> back;
    (void)h.Echo(ask((*reg)->descriptors()[0], 8193), &back);
    ASSERT_EQ(writes_at_least(1), 1u);
    EXPECT_FALSE(sh.writes[0].ok());
    EXPECT_EQ(buf[8192], 0);  // the byte after the range is untouched
  }
}

TEST(SmbDirectTransportTest, RegistrationsAreSplitAtTheDevicePageLimit) {
  Harness h;
  ASSERT_TRUE(h.transport_.ok());
  const uint32_t pages = h.client_ep_->limits().max_pages_per_registration;
  ASSERT_GT(pages, 0u);
  std::vector<uint8_t> big(size_t{pages} * 4096 * 2 + 12345);
  auto reg = (*h.transport_)->RegisterForPeer(absl::MakeSpan(big), false);
  ASSERT_TRUE(reg.ok()) << reg.status();
  uint64_t total = 0;
  for (const auto& d : (*reg)->descriptors()) {
    total += d.length;
    EXPECT_LE(d.length, uint64_t{pages} * 4096);
  }
  EXPECT_EQ(total, big.size());
  EXPECT_GE((*reg)->descriptors().size(), 3u);
}

TEST(SmbDirectTransportTest, PeerDisconnectFailsReceiversPromptly) {
  Harness h;
  ASSERT_TRUE(h.transport_.ok());
  std::thread t([&] {
    absl::SleepFor(absl::Milliseconds(50));
    h.server_->Disconnect();
  });
  absl::Time start = absl::Now();
  auto r = (*h.transport_)->Receive(absl::Seconds(10));
  t.join();
  EXPECT_FALSE(r.ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  // The error says why (the peer hung up), not only that a work request was flushed.
  EXPECT_NE(r.status().message().find("closed by the peer"), absl::string_view::npos)
      << r.status();
  Bvecq q;
  EXPECT_FALSE((*h.transport_)->Send(q).ok());
}

// Fails the Nth verbs operation of the client for every N over a negotiate + a few echoes:
// every run ends in success or a clear error, never a hang or a leak (the Harness destructor
// checks pages and registrations).
TEST(SmbDirectTransportTest, FaultSweep) {
  int failures = 0, successes = 0;
  for (int n = 1; n <= 400; ++n) {
    FakeSmbDirectServerOptions so;
    Harness* hp;
    {
      // Arm the fault before the transport starts.
      static thread_local int armed;
      armed = n;
      (void)armed;
    }
    Harness h(so);
    hp = &h;
    (void)hp;
    if (!h.transport_.ok()) {
      ++failures;
      continue;
    }
    h.net_.FailNthOperation(n);
    absl::Status s;
    std::vector<uint8_t> back;
    for (size_t size : {size_t{10}, size_t{5000}, size_t{70000}}) {
      s = h.Echo(Pattern(size, 1), &back);
      if (!s.ok()) break;
      if (back != Pattern(size, 1)) {
        s = absl::DataLossError("corrupted echo");
        break;
      }
    }
    if (s.ok()) {
      ++successes;
    } else {
      ++failures;
      EXPECT_NE(s.code(), absl::StatusCode::kDataLoss) << "n=" << n << ": " << s;
      EXPECT_FALSE(s.message().empty());
    }
    if (successes > 3 && n > 200) break;  // past the last operation of the session
  }
  EXPECT_GT(failures, 10);
  EXPECT_GT(successes, 0);
}

}  // namespace
}  // namespace smbd
