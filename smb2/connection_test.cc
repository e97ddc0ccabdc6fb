#include "smb2/connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <iostream>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "smb2/compound.h"
#include "smb2/ntstatus.h"
#include "smb2/pdu/read.h"
#include "smb2/tcp_transport.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

using testing_util::Flatten;

// A scripted peer on the other end of a socketpair, speaking through a TcpTransport.
struct Harness {
  explicit Harness(CreditOptions credits = {}) {
    pool = testing_util::TestPool();
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    server = TcpTransport::FromSocket(sv[1], pool.get());
    ConnectionOptions o;
    o.credits = credits;
    o.credit_timeout = absl::Seconds(5);
    conn = Connection::Create(TcpTransport::FromSocket(sv[0], pool.get()), pool.get(), o).value();
  }
  ~Harness() {
    conn.reset();
    server.reset();
  }

  // A request message for `command` with a body of `body` bytes.
  SmbMessageRef Request(Command command, uint64_t session = 0, size_t body = 4) {
    SmbMessageRef m = SmbMessage::New();
    m->header.command = command;
    m->header.credit_charge = 1;
    m->header.session_id = session;
    CompoundWriter cw(&m->request, pool.get());
    WireWriter* w = cw.Begin(m.get(), false);
    w->U16(static_cast<uint16_t>(body));
    w->Zeros(body - 2);
    cw.End();
    EXPECT_TRUE(cw.Finish().ok());
    return m;
  }

  // Receives one request frame and returns its header(s).
  std::vector<Smb2Header> ReceiveRequest() {
    std::vector<Smb2Header> out;
    auto f = server->Receive(absl::Seconds(5));
    EXPECT_TRUE(f.ok()) << f.status();
    if (!f.ok()) return out;
    CompoundReader r(*f);
    while (true) {
      auto m = r.Next();
      if (!m.ok() || !m->has_value()) break;
      out.push_back((*m)->header);
    }
    return out;
  }

  // Sends a response frame built from headers (each with a 4-byte ECHO-like body).
  void Respond(std::vector<Smb2Header> headers) {
    Bvecq q;
    std::vector<SmbMessageRef> holders;
    CompoundWriter cw(&q, pool.get());
    for (Smb2Header& h : headers) {
      SmbMessageRef m = SmbMessage::New();
      m->header = h;
      m->header.flags |= kFlagServerToRedir;
      WireWriter* w = cw.Begin(m.get(), (h.flags & kFlagRelatedOperations) != 0);
      w->U16(4);
      w->U16(0);
      cw.End();
      holders.push_back(m);
    }
    ASSERT_TRUE(cw.Finish().ok());
    ASSERT_TRUE(server->Send(q).ok());
  }

  // A first round trip (NEGOTIATE) that grants `credits`.
  void Open(uint16_t credits) {
    SmbMessageRef n = Request(Command::kNegotiate);
    ASSERT_TRUE(conn->Submit(n).ok());
    Respond({Answer(ReceiveRequest()[0], credits)});
    ASSERT_TRUE(n->Wait(absl::Seconds(5)).ok());
  }

  static Smb2Header Answer(const Smb2Header& req, uint16_t credits, uint32_t status = 0) {
    Smb2Header h = req;
    h.credits = credits;
    h.status = status;
    h.flags = kFlagServerToRedir;
    return h;
  }

  std::unique_ptr<PagePool> pool;
  std::unique_ptr<TcpTransport> server;
  std::unique_ptr<Connection> conn;
};

TEST(ConnectionTest, RoundTripAssignsIdsAndGrantsCredits) {
  Harness h;
  SmbMessageRef m = h.Request(Command::kNegotiate);
  ASSERT_TRUE(h.conn->Submit(m).ok());
  auto req = h.ReceiveRequest();
  ASSERT_EQ(req.size(), 1u);
  EXPECT_EQ(req[0].message_id, 0u);
  EXPECT_GE(req[0].credits, 1);  // asks for credits
  h.Respond({Harness::Answer(req[0], 10)});
  ASSERT_TRUE(m->Wait(absl::Seconds(5)).ok());
  EXPECT_EQ(m->response_header.command, Command::kNegotiate);
  EXPECT_EQ(m->response.size(), 68u);
  EXPECT_EQ(h.conn->credits().stats().available, 10u);

  SmbMessageRef e = h.Request(Command::kEcho);
  ASSERT_TRUE(h.conn->Submit(e).ok());
  req = h.ReceiveRequest();
  EXPECT_EQ(req[0].message_id, 1u);
  h.Respond({Harness::Answer(req[0], 1, ntstatus::kAccessDenied)});
  ASSERT_TRUE(e->Wait(absl::Seconds(5)).ok());  // transport OK; the NTSTATUS is in the header
  EXPECT_EQ(e->response_header.status, ntstatus::kAccessDenied);
}

TEST(ConnectionTest, OutOfOrderResponsesWakeTheRightWaiters) {
  Harness h;
  h.Open(8);
  SmbMessageRef a = h.Request(Command::kEcho), b = h.Request(Command::kEcho),
                c = h.Request(Command::kEcho);
  ASSERT_TRUE(h.conn->Submit(a).ok());
  ASSERT_TRUE(h.conn->Submit(b).ok());
  ASSERT_TRUE(h.conn->Submit(c).ok());
  Smb2Header ra = h.ReceiveRequest()[0], rb = h.ReceiveRequest()[0], rc = h.ReceiveRequest()[0];
  h.Respond({Harness::Answer(rc, 1)});
  ASSERT_TRUE(c->Wait(absl::Seconds(5)).ok());
  EXPECT_FALSE(a->done());
  EXPECT_FALSE(b->done());
  h.Respond({Harness::Answer(ra, 1), Harness::Answer(rb, 1)});  // as one compound frame
  ASSERT_TRUE(a->Wait(absl::Seconds(5)).ok());
  ASSERT_TRUE(b->Wait(absl::Seconds(5)).ok());
  EXPECT_EQ(a->response_header.message_id, ra.message_id);
  EXPECT_EQ(b->response_header.message_id, rb.message_id);
}

TEST(ConnectionTest, InterimPendingThenFinal) {
  Harness h;
  SmbMessageRef m = h.Request(Command::kNegotiate);
  ASSERT_TRUE(h.conn->Submit(m).ok());
  Smb2Header req = h.ReceiveRequest()[0];
  Smb2Header interim = Harness::Answer(req, 5, ntstatus::kPending);
  interim.flags |= kFlagAsyncCommand;
  interim.async_id = 0xABCD;
  h.Respond({interim});
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_FALSE(m->done());
  EXPECT_EQ(h.conn->credits().stats().available, 5u);  // interim grants count
  Smb2Header final_h = Harness::Answer(req, 1);
  final_h.flags |= kFlagAsyncCommand;
  final_h.async_id = 0xABCD;
  h.Respond({final_h});
  ASSERT_TRUE(m->Wait(absl::Seconds(5)).ok());
  EXPECT_TRUE(m->pending);
  EXPECT_EQ(m->async_id, 0xABCDu);
  EXPECT_EQ(h.conn->stats().interim_responses, 1u);
}

// Interim answers are unauthenticated ([MS-SMB2] 3.2.5.1.3), so a forged one may
// neither grant more credits than the request asked for nor fail the request: a malformed one
// (another command, AsyncId 0) or a second one is dropped.
TEST(ConnectionTest, ForgedInterimAnswersCannotInflateCreditsOrFailTheRequest) {
  Harness h;
  SmbMessageRef m = h.Request(Command::kNegotiate);
  ASSERT_TRUE(h.conn->Submit(m).ok());
  Smb2Header req = h.ReceiveRequest()[0];
  ASSERT_LT(req.credits, 1000);
  Smb2Header wrong = Harness::Answer(req, 60000, ntstatus::kPending);
  wrong.flags |= kFlagAsyncCommand;
  wrong.async_id = 0x1;
  wrong.command = Command::kRead;
  Smb2Header no_id = Harness::Answer(req, 60000, ntstatus::kPending);
  no_id.flags |= kFlagAsyncCommand;
  Smb2Header greedy = Harness::Answer(req, 60000, ntstatus::kPending);
  greedy.flags |= kFlagAsyncCommand;
  greedy.async_id = 0xABCD;
  Smb2Header again = greedy;
  again.async_id = 0xEEEE;
  h.Respond({wrong});
  h.Respond({no_id});
  h.Respond({greedy});
  h.Respond({again});
  for (int i = 0; i < 200 && h.conn->stats().dropped_interims < 3; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(h.conn->stats().dropped_interims, 3u);
  EXPECT_EQ(h.conn->stats().interim_responses, 1u);
  EXPECT_FALSE(m->done());  // none of them failed the request
  EXPECT_LE(h.conn->credits().stats().available, req.credits);
  EXPECT_EQ(m->async_id, 0xABCDu);
  Smb2Header final_h = Harness::Answer(req, 1);
  final_h.flags |= kFlagAsyncCommand;
  final_h.async_id = 0xABCD;
  h.Respond({final_h});
  ASSERT_TRUE(m->Wait(absl::Seconds(5)).ok());
  EXPECT_TRUE(h.conn->status().ok());
}

TEST(ConnectionTest, UnknownAndDuplicateIdsAreDropped) {
  Harness h;
  SmbMessageRef m = h.Request(Command::kNegotiate);
  ASSERT_TRUE(h.conn->Submit(m).ok());
  Smb2Header req = h.ReceiveRequest()[0];
  Smb2Header bogus = Harness::Answer(req, 100);
  bogus.message_id = 999;
  h.Respond({bogus});
  h.Respond({Harness::Answer(req, 2)});
  h.Respond({Harness::Answer(req, 50)});  // a duplicate of the same id
  ASSERT_TRUE(m->Wait(absl::Seconds(5)).ok());
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(h.conn->stats().unknown_responses, 2u);
  EXPECT_EQ(h.conn->credits().stats().available, 2u);  // bogus grants were not counted
  EXPECT_TRUE(h.conn->status().ok());
}

TEST(ConnectionTest, PeerDeathFailsEveryWaiterPromptly) {
  Harness h;
  h.Open(16);
  std::vector<SmbMessageRef> inflight;
  for (int i = 0; i < 10; ++i) {
    inflight.push_back(h.Request(Command::kEcho));
    ASSERT_TRUE(h.conn->Submit(inflight.back()).ok());
  }
  for (int i = 0; i < 10; ++i) h.ReceiveRequest();
  h.server->Shutdown(absl::AbortedError("server killed"));
  for (auto& m : inflight) {
    absl::Status s = m->Wait(absl::Seconds(5));
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  }
  EXPECT_FALSE(h.conn->status().ok());
  // New submissions fail at once with the same error.
  SmbMessageRef late = h.Request(Command::kEcho);
  EXPECT_EQ(h.conn->Submit(late).code(), absl::StatusCode::kUnavailable);
}

TEST(ConnectionTest, ZeroCreditsWithNothingInFlightFailsInsteadOfHanging) {
  Harness h;
  h.Open(0);
  SmbMessageRef e = h.Request(Command::kEcho);
  EXPECT_EQ(h.conn->Submit(e).code(), absl::StatusCode::kResourceExhausted);
}

TEST(ConnectionTest, NotificationsReachTheHandler) {
  Harness h;
  std::atomic<int> breaks{0};
  h.conn->SetNotificationHandler(
      [&](const Smb2Header& hd, const Bvecq& bytes, const Connection::NotificationOrigin& o) {
        if (hd.command == Command::kOplockBreak && bytes.size() >= 64 && !o.sealed) breaks++;
      });
  Smb2Header n;
  n.command = Command::kOplockBreak;
  n.message_id = 0xFFFFFFFFFFFFFFFFull;
  h.Respond({n});
  for (int i = 0; i < 100 && breaks.load() == 0; ++i) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(breaks.load(), 1);
}

// Signs by writing a fixed marker; verifies by checking it. Enough to test the connection's
// policy; real algorithms are tested in smb2/security.
class MarkerSecurity : public SessionSecurity {
 public:
  explicit MarkerSecurity(bool seal) : seal_(seal) {}
  bool signs() const override { return true; }
  bool seals() const override { return seal_; }
  absl::Status Sign(BvecqIter member) override {
    (void)member.Advance(48);
    uint8_t sig[16];
    std::fill(std::begin(sig), std::end(sig), 0x5A);
    member.CopyIn(sig);
    signed_++;
    return absl::OkStatus();
  }
  absl::Status Verify(BvecqIter member) override {
    (void)member.Advance(48);
    uint8_t sig[16];
    member.CopyOut(sig);
    for (uint8_t b : sig) {
      if (b != 0x5A) return absl::PermissionDeniedError("bad signature");
    }
    return absl::OkStatus();
  }
  // Identity "sealing": lets the test see that the sealing path ran and answer in plaintext.
  absl::StatusOr<Bvecq> Seal(const Bvecq& frame, PagePool*, FragAllocator*) override {
    sealed_++;
    return frame.Slice(0, frame.size());
  }
  absl::StatusOr<Bvecq> Unseal(const Bvecq&, PagePool*) override {
    return absl::UnimplementedError("not in this test");
  }
  std::atomic<int> signed_{0};
  std::atomic<int> sealed_{0};

 private:
  bool seal_;
};

TEST(ConnectionTest, SigningPolicy) {
  Harness h;
  auto sec = std::make_shared<MarkerSecurity>(false);
  h.conn->SetSessionSecurity(7, sec);
  h.Open(16);

  // Requests of session 7 go out signed.
  SmbMessageRef good = h.Request(Command::kEcho, 7);
  ASSERT_TRUE(h.conn->Submit(good).ok());
  auto f = h.server->Receive(absl::Seconds(5));
  ASSERT_TRUE(f.ok());
  std::vector<uint8_t> bytes = Flatten(*f);
  EXPECT_NE(LoadLE<uint32_t>(&bytes[16]) & kFlagSigned, 0u);
  EXPECT_EQ(bytes[48], 0x5A);
  EXPECT_EQ(sec->signed_.load(), 1);
  WireReader rr(absl::MakeConstSpan(bytes));
  Smb2Header req = DecodeHeader(&rr).value();

  // An unsigned response on a signing session fails that request only.
  h.Respond({Harness::Answer(req, 1)});
  absl::Status s = good->Wait(absl::Seconds(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("not signed"), absl::string_view::npos) << s;
  EXPECT_TRUE(h.conn->status().ok());

  // A signed response with a wrong signature: rejected.
  SmbMessageRef bad = h.Request(Command::kEcho, 7);
  ASSERT_TRUE(h.conn->Submit(bad).ok());
  Smb2Header req2 = h.ReceiveRequest()[0];
  Smb2Header ans = Harness::Answer(req2, 1);
  ans.flags |= kFlagSigned;
  std::fill(std::begin(ans.signature), std::end(ans.signature), 0x11);
  h.Respond({ans});
  EXPECT_EQ(bad->Wait(absl::Seconds(5)).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(h.conn->stats().bad_signatures, 2u);

  // A correctly signed one passes.
  SmbMessageRef ok = h.Request(Command::kEcho, 7);
  ASSERT_TRUE(h.conn->Submit(ok).ok());
  Smb2Header req3 = h.ReceiveRequest()[0];
  Smb2Header ans3 = Harness::Answer(req3, 1);
  ans3.flags |= kFlagSigned;
  std::fill(std::begin(ans3.signature), std::end(ans3.signature), 0x5A);
  h.Respond({ans3});
  EXPECT_TRUE(ok->Wait(absl::Seconds(5)).ok());
}

TEST(ConnectionTest, PlaintextResponseOnASealedSessionIsRejected) {
  Harness h;
  auto sec = std::make_shared<MarkerSecurity>(true);
  h.conn->SetSessionSecurity(9, sec);
  h.Open(16);
  SmbMessageRef m = h.Request(Command::kEcho, 9);
  ASSERT_TRUE(h.conn->Submit(m).ok());
  EXPECT_EQ(sec->sealed_.load(), 1);
  EXPECT_EQ(sec->signed_.load(), 0);  // sealed frames are not signed as well
  // A downgrading server answers in plaintext (even correctly "signed").
  Smb2Header ans = Harness::Answer(h.ReceiveRequest()[0], 1);
  ans.flags |= kFlagSigned;
  std::fill(std::begin(ans.signature), std::end(ans.signature), 0x5A);
  h.Respond({ans});
  absl::Status s = m->Wait(absl::Seconds(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("unencrypted"), absl::string_view::npos) << s;
}

// [MS-SMB2] 3.2.4.24: a CANCEL reuses the target's MessageId (sync) or carries its AsyncId
// (after the interim response), takes no credit and no message id, and is signed like the
// session's other requests; the target then completes through the normal path.
TEST(ConnectionTest, CancelNamesTheTargetAndConsumesNoCredit) {
  Harness h;
  auto sec = std::make_shared<MarkerSecurity>(false);
  h.conn->SetSessionSecurity(7, sec);
  h.Open(16);
  const uint32_t credits_before = h.conn->credits().stats().available;

  // Sync form: nothing but the request has been seen yet.
  SmbMessageRef a = h.Request(Command::kChangeNotify, 7);
  a->header.tree_id = 3;
  ASSERT_TRUE(h.conn->Submit(a).ok());
  Smb2Header ra = h.ReceiveRequest()[0];
  ASSERT_TRUE(h.conn->Cancel(a.get()).ok());
  auto f = h.server->Receive(absl::Seconds(5));
  ASSERT_TRUE(f.ok()) << f.status();
  std::vector<uint8_t> bytes = Flatten(*f);
  ASSERT_EQ(bytes.size(), 68u);  // header + StructureSize 4, Reserved
  WireReader r(absl::MakeConstSpan(bytes));
  Smb2Header c = DecodeHeader(&r).value();
  EXPECT_EQ(c.command, Command::kCancel);
  EXPECT_EQ(c.message_id, ra.message_id);
  EXPECT_EQ(c.credit_charge, 0);
  EXPECT_EQ(c.credits, 0);
  EXPECT_FALSE(c.is_async());
  EXPECT_EQ(c.session_id, 7u);
  EXPECT_EQ(c.tree_id, 3u);
  EXPECT_TRUE(c.is_signed());
  EXPECT_EQ(bytes[48], 0x5A);  // signed by the session's signer
  EXPECT_EQ(LoadLE<uint16_t>(&bytes[64]), 4);

  // Async form: after the interim response the CANCEL carries the AsyncId.
  SmbMessageRef b = h.Request(Command::kChangeNotify, 7);
  ASSERT_TRUE(h.conn->Submit(b).ok());
  Smb2Header rb = h.ReceiveRequest()[0];
  EXPECT_EQ(rb.message_id, ra.message_id + 1);  // the CANCEL took no message id
  Smb2Header interim = Harness::Answer(rb, 1, ntstatus::kPending);
  interim.flags |= kFlagAsyncCommand | kFlagSigned;
  interim.async_id = 0x4242;
  std::fill(std::begin(interim.signature), std::end(interim.signature), 0x5A);
  h.Respond({interim});
  for (int i = 0; i < 500 && h.conn->stats().interim_responses == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  EXPECT_EQ(h.conn->CancelAll(), 2);  // a (still unanswered) and b
  std::vector<Smb2Header> cancels;
  for (int i = 0; i < 2; ++i) {
    auto g = h.server->Receive(absl::Seconds(5));
    ASSERT_TRUE(g.ok()) << g.status();
    std::vector<uint8_t> gb = Flatten(*g);
    WireReader gr(absl::MakeConstSpan(gb));
    cancels.push_back(DecodeHeader(&gr).value());
  }
  const Smb2Header& cb = cancels[0].is_async() ? cancels[0] : cancels[1];
  EXPECT_EQ(cb.command, Command::kCancel);
  EXPECT_TRUE(cb.is_async());
  EXPECT_EQ(cb.async_id, 0x4242u);
  EXPECT_EQ(cb.message_id, rb.message_id);
  EXPECT_EQ(h.conn->stats().cancels_sent, 3u);

  // The server ends both with STATUS_CANCELLED; they complete normally with that status.
  Smb2Header fa = Harness::Answer(ra, 1, ntstatus::kCancelled);
  Smb2Header fb = Harness::Answer(rb, 1, ntstatus::kCancelled);
  fb.flags |= kFlagAsyncCommand;
  fb.async_id = 0x4242;
  for (Smb2Header* x : {&fa, &fb}) {
    x->flags |= kFlagSigned;
    std::fill(std::begin(x->signature), std::end(x->signature), 0x5A);
  }
  h.Respond({fa});
  h.Respond({fb});
  ASSERT_TRUE(a->Wait(absl::Seconds(5)).ok());
  ASSERT_TRUE(b->Wait(absl::Seconds(5)).ok());
  EXPECT_EQ(a->response_header.status, ntstatus::kCancelled);
  EXPECT_EQ(b->response_header.status, ntstatus::kCancelled);
  // Two charged, three granted (the interim response granted one too): the CANCELs took none.
  EXPECT_EQ(h.conn->credits().stats().available, credits_before + 1);

  // Nothing in flight: nothing is sent.
  ASSERT_TRUE(h.conn->Cancel(a.get()).ok());
  EXPECT_EQ(h.conn->CancelAll(), 0);
  EXPECT_EQ(h.conn->stats().cancels_sent, 3u);
  EXPECT_FALSE(h.server->Receive(absl::Milliseconds(50)).ok());
}

TEST(ConnectionTest, CancelOnASealedSessionIsSealed) {
  Harness h;
  auto sec = std::make_shared<MarkerSecurity>(true);
  h.conn->SetSessionSecurity(9, sec);
  h.Open(16);
  SmbMessageRef m = h.Request(Command::kChangeNotify, 9);
  ASSERT_TRUE(h.conn->Submit(m).ok());
  (void)h.ReceiveRequest();
  ASSERT_TRUE(h.conn->Cancel(m.get()).ok());
  EXPECT_EQ(sec->sealed_.load(), 2);  // the request and its CANCEL
  EXPECT_EQ(sec->signed_.load(), 0);
  std::vector<Smb2Header> c = h.ReceiveRequest();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].command, Command::kCancel);
}

TEST(ConnectionTest, ResponseForAnotherCommandIsRefused) {
  Harness h;
  h.Open(8);
  SmbMessageRef e = h.Request(Command::kEcho);
  ASSERT_TRUE(h.conn->Submit(e).ok());
  Smb2Header ans = Harness::Answer(h.ReceiveRequest()[0], 1);
  ans.command = Command::kRead;  // the right id, the wrong command
  h.Respond({ans});
  absl::Status s = e->Wait(absl::Seconds(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("READ response"), absl::string_view::npos) << s;
  EXPECT_TRUE(h.conn->status().ok());  // that request fails, not the connection
}

// Records the completion of a callback request.
struct CallbackDone {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  absl::Status status;
  void Attach(SmbMessage* m) {
    m->SetCallback(
        [](SmbMessage* msg, void* arg) {
          auto* d = static_cast<CallbackDone*>(arg);
          std::lock_guard<std::mutex> l(d->mu);
          d->done = true;
          d->status = msg->result();
          d->cv.notify_all();
        },
        this);
  }
};

// A request completed by callback has no waiter to time out: its deadline does it. The request
// is cancelled at the server, its destination released, and a late answer is harmless.
TEST(ConnectionTest, CallbackRequestEndsAtItsDeadline) {
  Harness h;
  h.Open(8);

  CallbackDone done;
  uint8_t dst[64];
  SmbMessageRef m = h.Request(Command::kRead);
  m->read_destination = absl::MakeSpan(dst);
  done.Attach(m.get());
  m->SetDeadlineIn(absl::Milliseconds(200));
  const absl::Time start = absl::Now();
  ASSERT_TRUE(h.conn->Submit(m).ok());
  Smb2Header req = h.ReceiveRequest()[0];
  {
    std::unique_lock<std::mutex> l(done.mu);
    ASSERT_TRUE(done.cv.wait_for(l, std::chrono::seconds(5), [&] { return done.done; }));
  }
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(200));
  EXPECT_LT(took, absl::Seconds(2));
  EXPECT_EQ(done.status.code(), absl::StatusCode::kDeadlineExceeded) << done.status;
  EXPECT_EQ(h.conn->stats().expired, 1u);
  EXPECT_TRUE(m->read_destination.empty());
  // The server saw a CANCEL for it.
  std::vector<Smb2Header> c = h.ReceiveRequest();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].command, Command::kCancel);
  EXPECT_EQ(c[0].message_id, req.message_id);
  // Its late answer returns the credit and changes nothing else.
  const uint32_t before = h.conn->credits().stats().available;
  h.Respond({Harness::Answer(req, 1, ntstatus::kCancelled)});
  for (int i = 0; i < 200 && h.conn->credits().stats().available == before; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(h.conn->credits().stats().available, before + 1);
  EXPECT_EQ(done.status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(h.conn->status().ok());
}

// "Decrypts" by dropping a 52-byte transform header: enough to test which session a sealed frame
// may answer for.
class StripSecurity : public MarkerSecurity {
 public:
  StripSecurity() : MarkerSecurity(true) {}
  absl::StatusOr<Bvecq> Unseal(const Bvecq& frame, PagePool*) override {
    return frame.Slice(52, frame.size() - 52);
  }
};

TEST(ConnectionTest, SealedAnswerMustBeSealedForTheRequestsSession) {
  Harness h;
  h.conn->SetSessionSecurity(7, std::make_shared<StripSecurity>());
  h.conn->SetSessionSecurity(9, std::make_shared<StripSecurity>());
  h.Open(16);
  for (uint64_t sealed_for : {uint64_t{9}, uint64_t{7}}) {
    SmbMessageRef m = h.Request(Command::kEcho, 7);
    ASSERT_TRUE(h.conn->Submit(m).ok());
    Smb2Header req = h.ReceiveRequest()[0];
    // The answer, behind a transform header naming `sealed_for`.
    Bvecq plain;
    {
      CompoundWriter cw(&plain, h.pool.get());
      SmbMessageRef r = SmbMessage::New();
      r->header = Harness::Answer(req, 1);
      WireWriter* w = cw.Begin(r.get(), false);
      w->U16(4);
      w->U16(0);
      cw.End();
      ASSERT_TRUE(cw.Finish().ok());
    }
    std::vector<uint8_t> frame(52, 0);
    std::memcpy(frame.data(), kSmb2TransformProtocolId, 4);
    StoreLE<uint64_t>(&frame[44], sealed_for);
    std::vector<uint8_t> body = Flatten(plain);
    frame.insert(frame.end(), body.begin(), body.end());
    Bvecq q;
    WireWriter fw(&q, h.pool.get());
    fw.Bytes(absl::MakeConstSpan(frame));
    ASSERT_TRUE(fw.Finish().ok());
    ASSERT_TRUE(h.server->Send(q).ok());
    absl::Status s = m->Wait(absl::Seconds(5));
    if (sealed_for == 7) {
      EXPECT_TRUE(s.ok()) << s;
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
      EXPECT_NE(s.message().find("encrypted for session 0x9"), absl::string_view::npos) << s;
    }
  }
  EXPECT_TRUE(h.conn->status().ok());
}

// Signs TREE_CONNECT only, as a 3.1.1 session that does not sign everything ([MS-SMB2] 3.2.4.1.1).
class TreeConnectOnlySecurity : public MarkerSecurity {
 public:
  TreeConnectOnlySecurity() : MarkerSecurity(false) {}
  bool signs() const override { return false; }
  bool SignsRequest(Command c) const override { return c == Command::kTreeConnect; }
};

// the answer to a request we signed must be signed, or a man in the middle
// clears SHAREFLAG_ENCRYPT_DATA in an unsigned TREE_CONNECT answer and strips share encryption.
TEST(ConnectionTest, AnswerToASignedRequestMustBeSigned) {
  Harness h;
  h.conn->SetSessionSecurity(7, std::make_shared<TreeConnectOnlySecurity>());
  h.Open(16);
  SmbMessageRef tc = h.Request(Command::kTreeConnect, 7);
  ASSERT_TRUE(h.conn->Submit(tc).ok());
  Smb2Header req = h.ReceiveRequest()[0];
  EXPECT_NE(req.flags & kFlagSigned, 0u);
  h.Respond({Harness::Answer(req, 1)});  // unsigned
  absl::Status s = tc->Wait(absl::Seconds(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_NE(s.message().find("although its request was"), absl::string_view::npos) << s;

  // Requests the session does not sign may be answered unsigned.
  SmbMessageRef e = h.Request(Command::kEcho, 7);
  ASSERT_TRUE(h.conn->Submit(e).ok());
  Smb2Header ereq = h.ReceiveRequest()[0];
  EXPECT_EQ(ereq.flags & kFlagSigned, 0u);
  h.Respond({Harness::Answer(ereq, 1)});
  EXPECT_TRUE(e->Wait(absl::Seconds(5)).ok());

  // A signed answer to the signed request passes.
  SmbMessageRef tc2 = h.Request(Command::kTreeConnect, 7);
  ASSERT_TRUE(h.conn->Submit(tc2).ok());
  Smb2Header ans = Harness::Answer(h.ReceiveRequest()[0], 1);
  ans.flags |= kFlagSigned;
  std::fill(std::begin(ans.signature), std::end(ans.signature), 0x5A);
  h.Respond({ans});
  EXPECT_TRUE(tc2->Wait(absl::Seconds(5)).ok());
  EXPECT_TRUE(h.conn->status().ok());
}


// A transport whose receive of a READ response the test controls step by step: it claims the
// READ's destination through the placement hook, writes the first half, then waits for the test
// before writing the rest, as a TCP receive does when the rest of the data is already queued in
// the socket (it arrives even after a shutdown has been asked for).
// The first kReadResponseHeadSize bytes of a READ response to message `id` (successful,
// single, its `length` bytes of data right after these bytes unless told otherwise), as a
// transport shows them to the placement hook.
std::vector<uint8_t> ReadResponseHead(uint64_t id, uint32_t length, uint32_t status = 0,
                                      Command command = Command::kRead,
                                      uint8_t data_offset = kReadResponseHeadSize,
                                      uint32_t next_command = 0) {
  Smb2Header h;
  h.command = command;
  h.flags = kFlagServerToRedir;
  h.message_id = id;
  h.credits = 1;
  h.status = status;
  h.next_command = next_command;
  std::vector<uint8_t> out(kReadResponseHeadSize);
  WireWriter w(absl::MakeSpan(out));
  EncodeHeader(h, &w);
  w.U16(17);  // StructureSize ([MS-SMB2] 2.2.20)
  w.U8(data_offset);
  w.U8(0);
  w.U32(length);  // DataLength
  w.U32(0);       // DataRemaining
  w.U32(0);       // Flags
  return out;
}

class GatedTransport : public Transport {
 public:
  explicit GatedTransport(PagePool* pool) : pool_(pool) {}
  using Transport::Send;
  absl::Status Send(const Bvecq& frame, absl::Time) override {
    std::lock_guard<std::mutex> l(mu_);
    if (fail_sends_) return absl::UnavailableError("gated: send failed");
    sent_.push_back(Flatten(frame));
    cv_.notify_all();
    return absl::OkStatus();
  }
  absl::StatusOr<Bvecq> Receive(absl::Duration) override {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return shut_ || !replies_.empty() || place_id_.has_value(); });
    if (!replies_.empty()) {
      std::vector<uint8_t> r = std::move(replies_.front());
      replies_.erase(replies_.begin());
      l.unlock();
      Bvecq q;
      WireWriter w(&q, pool_);
      w.Bytes(absl::MakeConstSpan(r));
      if (absl::Status s = w.Finish(); !s.ok()) return s;
      return q;
    }
    if (!place_id_.has_value()) return absl::UnavailableError("gated: shut down");
    const uint64_t id = *place_id_;
    place_id_.reset();
    l.unlock();
    const std::vector<uint8_t> head = ReadResponseHead(id, place_len_);
    absl::Span<uint8_t> dst = hook_->Place(head, head.size() + place_len_).dst;
    if (dst.size() < place_len_) return absl::InternalError("gated: no destination");
    std::memset(dst.data(), 0xD1, place_len_ / 2);
    l.lock();
    half_written_ = true;
    cv_.notify_all();
    cv_.wait(l, [&] { return released_ || (stop_on_shutdown_ && shut_); });
    if (!released_) return absl::UnavailableError("gated: shut down mid-frame");
    std::memset(dst.data() + place_len_ / 2, 0xD2, place_len_ - place_len_ / 2);
    all_written_ = true;
    return absl::UnavailableError("gated: connection closed mid-frame");
  }
  void Shutdown(absl::Status) override {
    std::lock_guard<std::mutex> l(mu_);
    shut_ = true;
    cv_.notify_all();
  }
  void SetPlacementHook(PlacementHook* hook) override { hook_ = hook; }
  bool usable() const override {
    std::lock_guard<std::mutex> l(mu_);
    return !shut_;
  }
  TransportLimits limits() const override { return TransportLimits(); }
  const char* name() const override { return "gated"; }

  // Test side.
  std::vector<uint8_t> WaitSent(size_t i) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return sent_.size() > i; });
    return sent_[i];
  }
  void Reply(std::vector<uint8_t> frame) {
    std::lock_guard<std::mutex> l(mu_);
    replies_.push_back(std::move(frame));
    cv_.notify_all();
  }
  void PlaceRead(uint64_t id, uint32_t len) {
    std::unique_lock<std::mutex> l(mu_);
    place_id_ = id;
    place_len_ = len;
    cv_.notify_all();
    cv_.wait(l, [&] { return half_written_; });
  }
  void FailSends() {
    std::lock_guard<std::mutex> l(mu_);
    fail_sends_ = true;
  }
  void Release() {
    std::lock_guard<std::mutex> l(mu_);
    released_ = true;
    cv_.notify_all();
  }
  bool all_written() {
    std::lock_guard<std::mutex> l(mu_);
    return all_written_;
  }
  // A transport that stops receiving at once when shut down (TCP checks before every recv).
  void StopOnShutdown() {
    std::lock_guard<std::mutex> l(mu_);
    stop_on_shutdown_ = true;
  }
  bool shut() {
    std::lock_guard<std::mutex> l(mu_);
    return shut_;
  }
  PlacementHook* hook() const { return hook_; }

 private:
  PagePool* const pool_;
  PlacementHook* hook_ = nullptr;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::vector<uint8_t>> sent_, replies_;
  std::optional<uint64_t> place_id_;
  uint32_t place_len_ = 0;
  bool shut_ = false, fail_sends_ = false, half_written_ = false, released_ = false;
  bool all_written_ = false;
  bool stop_on_shutdown_ = false;
};

// The connection alone decides where READ data goes (transports know no SMB2): only the data of
// a successful, single READ answer to a READ in flight, laid out as DecodeReadResponse will
// accept and fitting its destination.
TEST(PlaceReadTest, OnlyTheDataOfAGoodReadAnswerToAReadInFlightIsPlaced) {
  std::unique_ptr<PagePool> pool = testing_util::TestPool();
  auto owned = std::make_unique<GatedTransport>(pool.get());
  GatedTransport* t = owned.get();
  std::unique_ptr<Connection> conn =
      Connection::Create(std::move(owned), pool.get(), ConnectionOptions()).value();
  std::vector<uint8_t> dst(4096, 0);
  SmbMessageRef rd = SmbMessage::New();
  rd->header.command = Command::kRead;
  rd->header.credit_charge = 1;
  {
    CompoundWriter cw(&rd->request, pool.get());
    WireWriter* w = cw.Begin(rd.get(), false);
    w->U16(49);
    cw.End();
    ASSERT_TRUE(cw.Finish().ok());
  }
  rd->read_destination = absl::MakeSpan(dst);
  ASSERT_TRUE(conn->Submit(rd).ok());
  const uint64_t id = rd->header.message_id;
  const uint64_t whole = kReadResponseHeadSize + 4096;
  PlacementHook* hook = t->hook();
  ASSERT_NE(hook, nullptr);
  struct Case {
    const char* name;
    std::vector<uint8_t> head;
    uint64_t frame_length;
  };
  const Case refused[] = {
      {"an error answer", ReadResponseHead(id, 4096, 0xC0000022), whole},
      {"another command", ReadResponseHead(id, 4096, 0, Command::kWrite), whole},
      {"no request in flight", ReadResponseHead(id + 100, 4096), whole},
      {"data inside the fixed body", ReadResponseHead(id, 4096, 0, Command::kRead, 64), whole},
      {"data past the frame", ReadResponseHead(id, 4096), whole - 1},
      {"more than the destination", ReadResponseHead(id, 4097), whole + 1},
      {"a compound", ReadResponseHead(id, 4096, 0, Command::kRead, 80, 4176), whole},
      {"a short head", std::vector<uint8_t>(40, 0xFE), whole},
  };
  for (const Case& c : refused) {
    EXPECT_TRUE(hook->Place(c.head, c.frame_length).dst.empty()) << c.name;
  }
  const PlacedRange placed = hook->Place(ReadResponseHead(id, 4096), whole);
  EXPECT_EQ(placed.offset, kReadResponseHeadSize);
  EXPECT_EQ(placed.dst.data(), dst.data());
  EXPECT_EQ(placed.dst.size(), 4096u);
  conn.reset();  // the read fails with the connection; nothing was received into dst
  EXPECT_FALSE(rd->result().ok());
}

struct ReadCallbackProbe {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  bool all_written_then = false;
  absl::Status status;
  GatedTransport* transport = nullptr;
};

// no callback while any thread can still write the caller's buffer, when the
// connection fails from another thread (a send failure, or destruction) during the receive of
// that READ's data.
class PlacementRaceTest : public ::testing::TestWithParam<bool /*destroy*/> {};

TEST_P(PlacementRaceTest, CallbackWaitsUntilTheReceiveStopsWritingAndWipesWhatItWrote) {
  const bool destroy = GetParam();
  std::unique_ptr<PagePool> pool = testing_util::TestPool();
  auto owned = std::make_unique<GatedTransport>(pool.get());
  GatedTransport* t = owned.get();
  std::unique_ptr<Connection> conn =
      Connection::Create(std::move(owned), pool.get(), ConnectionOptions()).value();

  // NEGOTIATE, answered with 16 credits.
  auto request = [&](Command c) {
    SmbMessageRef m = SmbMessage::New();
    m->header.command = c;
    m->header.credit_charge = 1;
    CompoundWriter cw(&m->request, pool.get());
    WireWriter* w = cw.Begin(m.get(), false);
    w->U16(4);
    w->U16(0);
    cw.End();
    EXPECT_TRUE(cw.Finish().ok());
    return m;
  };
  SmbMessageRef n = request(Command::kNegotiate);
  ASSERT_TRUE(conn->Submit(n).ok());
  {
    std::vector<uint8_t> req = t->WaitSent(0);
    WireReader r(absl::MakeConstSpan(req));
    Smb2Header h = DecodeHeader(&r).value();
    h.flags = kFlagServerToRedir;
    h.credits = 16;
    std::vector<uint8_t> frame(68);
    WireWriter w(absl::MakeSpan(frame));
    EncodeHeader(h, &w);
    w.U16(4);
    w.U16(0);
    ASSERT_TRUE(w.Finish().ok());
    t->Reply(frame);
  }
  ASSERT_TRUE(n->Wait(absl::Seconds(5)).ok());

  // An async READ of 8 KiB into `dst`.
  std::vector<uint8_t> dst(8192, 0x00);
  ReadCallbackProbe probe;
  probe.transport = t;
  SmbMessageRef rd = request(Command::kRead);
  rd->read_destination = absl::MakeSpan(dst);
  rd->SetCallback(
      [](SmbMessage* m, void* arg) {
        auto* p = static_cast<ReadCallbackProbe*>(arg);
        std::lock_guard<std::mutex> l(p->mu);
        p->done = true;
        p->all_written_then = p->transport->all_written();
        p->status = m->result();
        p->cv.notify_all();
      },
      &probe);
  ASSERT_TRUE(conn->Submit(rd).ok());
  t->PlaceRead(rd->header.message_id, 8192);  // half of the data is in dst now

  // The connection fails on another thread while the receive still writes into dst.
  std::thread failer;
  if (destroy) {
    failer = std::thread([&] { conn.reset(); });
  } else {
    t->FailSends();
    failer = std::thread([&] { (void)conn->Submit(request(Command::kEcho)); });
  }
  {
    std::unique_lock<std::mutex> l(probe.mu);
    EXPECT_FALSE(probe.cv.wait_for(l, std::chrono::milliseconds(300), [&] { return probe.done; }))
        << "the callback ran while the receive was still writing the buffer";
  }
  t->Release();  // the rest of the data lands; then the receive ends
  {
    std::unique_lock<std::mutex> l(probe.mu);
    ASSERT_TRUE(probe.cv.wait_for(l, std::chrono::seconds(5), [&] { return probe.done; }));
  }
  failer.join();
  EXPECT_TRUE(probe.all_written_then) << "callback before the last write into the buffer";
  EXPECT_FALSE(probe.status.ok());
  // What arrived for the failed READ is unauthenticated: wiped, not left for the caller.
  EXPECT_EQ(std::count(dst.begin(), dst.end(), 0), static_cast<long>(dst.size()));
  conn.reset();
}

INSTANTIATE_TEST_SUITE_P(FailFromAnotherThread, PlacementRaceTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& i) {
                           return std::string(i.param ? "Destruction" : "SendFailure");
                         });

// Abandon() is bounded. A waiter that gives up while the peer dribbles its
// READ data waits at most placement_grace; then the transport is shut down, which stops the
// receive, and Abandon returns with the buffer no longer written.
TEST(ConnectionTest, AbandonIsBoundedWhenThePeerStallsMidData) {
  std::unique_ptr<PagePool> pool = testing_util::TestPool();
  auto owned = std::make_unique<GatedTransport>(pool.get());
  GatedTransport* t = owned.get();
  t->StopOnShutdown();
  ConnectionOptions co;
  co.placement_grace = absl::Milliseconds(300);
  std::unique_ptr<Connection> conn = Connection::Create(std::move(owned), pool.get(), co).value();
  SmbMessageRef rd = SmbMessage::New();
  rd->header.command = Command::kRead;
  rd->header.credit_charge = 1;
  {
    CompoundWriter cw(&rd->request, pool.get());
    WireWriter* w = cw.Begin(rd.get(), false);
    w->U16(4);
    w->U16(0);
    cw.End();
    ASSERT_TRUE(cw.Finish().ok());
  }
  std::vector<uint8_t> dst(8192, 0);
  rd->read_destination = absl::MakeSpan(dst);
  ASSERT_TRUE(conn->Submit(rd).ok());
  t->PlaceRead(rd->header.message_id, 8192);  // half written; the rest never comes
  const absl::Time start = absl::Now();
  conn->Abandon(rd.get());
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(300));
  EXPECT_LT(took, absl::Seconds(3));
  EXPECT_TRUE(t->shut());
  EXPECT_FALSE(t->all_written());
  EXPECT_TRUE(rd->read_destination.empty());
  // The READ ends with the connection's error, and the half that arrived is wiped.
  EXPECT_FALSE(rd->Wait(absl::Seconds(5)).ok());
  EXPECT_EQ(std::count(dst.begin(), dst.end(), 0), static_cast<long>(dst.size()));
  conn.reset();
}

// a frame stuck on the wire (a peer that stops reading) bounds everything by
// deadlines: the stuck send itself ends at its request's deadline and fails the connection; a
// request queued behind it gives up at its own deadline without sending; a callback request's
// deadline fires on time, its CANCEL not waiting behind the stuck frame.
TEST(ConnectionTest, AFrameStuckOnTheWireHoldsNothingPastItsDeadline) {
  Harness h;
  h.Open(64);
  CallbackDone done;
  uint8_t dst[64];
  SmbMessageRef rd = h.Request(Command::kRead);
  rd->read_destination = absl::MakeSpan(dst);
  done.Attach(rd.get());
  rd->SetDeadlineIn(absl::Milliseconds(400));
  ASSERT_TRUE(h.conn->Submit(rd).ok());
  (void)h.ReceiveRequest();  // the READ went out; from now on the peer reads nothing

  // 8 MiB that the peer never reads: the send blocks until its deadline.
  const absl::Time start = absl::Now();
  absl::Status big_status;
  absl::Time big_start, big_done;
  const uint64_t ids_before = h.conn->credits().stats().next_message_id;
  std::thread big([&] {
    SmbMessageRef w = h.Request(Command::kWrite, 0, 8 << 20);
    big_start = absl::Now();
    big_status = h.conn->Submit(w, big_start + absl::Milliseconds(1500));
    big_done = absl::Now();
    if (big_status.ok()) big_status = w->Wait(absl::Seconds(5));
  });
  // Wait until the big frame holds the send lock (it has taken its message ids).
  for (int i = 0; i < 1000 && h.conn->credits().stats().next_message_id == ids_before; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  absl::SleepFor(absl::Milliseconds(50));
  // A request behind it gives up at its own deadline, having sent nothing.
  SmbMessageRef echo = h.Request(Command::kEcho);
  const absl::Time echo_start = absl::Now();
  absl::Status es = h.conn->Submit(echo, absl::Now() + absl::Milliseconds(300));
  const absl::Duration echo_took = absl::Now() - echo_start;
  EXPECT_EQ(es.code(), absl::StatusCode::kDeadlineExceeded) << es;
  EXPECT_LT(echo_took, absl::Milliseconds(900));
  // The callback request ends at its deadline, not when the stuck frame lets go.
  {
    std::unique_lock<std::mutex> l(done.mu);
    ASSERT_TRUE(done.cv.wait_for(l, std::chrono::seconds(5), [&] { return done.done; }));
  }
  const absl::Duration cb_after = absl::Now() - start;
  // The stuck frame lets go 1.5 s after its submission, later than this.
  EXPECT_LT(cb_after, absl::Milliseconds(1400)) << "the watchdog waited behind the stuck frame";
  EXPECT_EQ(done.status.code(), absl::StatusCode::kDeadlineExceeded) << done.status;
  big.join();
  EXPECT_LT(big_done - big_start, absl::Seconds(3)) << "the stuck send outlived its deadline";
  EXPECT_FALSE(big_status.ok());
  EXPECT_FALSE(h.conn->status().ok());  // part of a frame went out: the connection is over
  std::cout << "stuck frame: queued request gave up after " << absl::FormatDuration(echo_took)
            << ", callback after " << absl::FormatDuration(cb_after) << ", the send after "
            << absl::FormatDuration(big_done - big_start) << ": " << big_status << "\n";
}

// A plaintext READ answer on a session that must be encrypted is refused (a
// downgrade), and the bytes the transport already placed into the caller's buffer are wiped,
// as the sealed path wipes data whose tag fails.
TEST(ConnectionTest, RefusedPlaintextReadDataIsWipedFromTheBuffer) {
  Harness h;
  h.conn->SetSessionSecurity(9, std::make_shared<MarkerSecurity>(/*seal=*/true));
  h.Open(16);
  std::vector<uint8_t> dst(4096, 0x11);
  SmbMessageRef rd = h.Request(Command::kRead, 9);
  rd->read_destination = absl::MakeSpan(dst);
  ASSERT_TRUE(h.conn->Submit(rd).ok());
  Smb2Header ans = Harness::Answer(h.ReceiveRequest()[0], 1);
  // [MS-SMB2] 2.2.20 READ response: StructureSize 17, DataOffset 80, DataLength 4096.
  std::vector<uint8_t> frame(80 + 4096, 0xCC);
  WireWriter w(absl::MakeSpan(frame).subspan(0, 80));
  EncodeHeader(ans, &w);
  w.U16(17);
  w.U8(80);
  w.U8(0);
  w.U32(4096);
  w.U32(0);
  w.U32(0);
  ASSERT_TRUE(w.Finish().ok());
  Bvecq q;
  WireWriter fw(&q, h.pool.get());
  fw.Bytes(absl::MakeConstSpan(frame));
  ASSERT_TRUE(fw.Finish().ok());
  ASSERT_TRUE(h.server->Send(q).ok());
  absl::Status s = rd->Wait(absl::Seconds(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  auto* tcp = static_cast<TcpTransport*>(h.conn->transport());
  EXPECT_EQ(tcp->stats().bytes_placed, 4096u);  // it was placed straight into dst...
  EXPECT_EQ(std::count(dst.begin(), dst.end(), 0xCC), 0) << "unauthenticated bytes left";
  EXPECT_EQ(std::count(dst.begin(), dst.end(), 0), 4096);  // ...and wiped
}

}  // namespace
}  // namespace smbd
