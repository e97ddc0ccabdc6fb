// A hostile SMB2 server, scripted in-process over a socketpair, against the real Client. It
// speaks enough SMB2 to get a client to a READ (NEGOTIATE 2.1, anonymous NTLM over SPNEGO,
// TREE_CONNECT, CREATE) and then misbehaves on purpose. For each scenario the client must give
// a clear error within a bounded time, not crash, not leak (ASan/LSan run this too), not write
// outside the caller's buffer, and other connections of the process must keep working.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "buffers/wire.h"
#include "gtest/gtest.h"
#include "smb2/client/client.h"
#include "smb2/compound.h"
#include "smb2/ntstatus.h"
#include "smb2/security/ntlmssp.h"
#include "smb2/security/spnego.h"
#include "smb2/tcp_transport.h"

namespace smbd {
namespace {

// What the server does with the client's READ.
enum class Misbehavior {
  kNone,                // answer correctly
  kGrantZeroForever,    // answer with 0 credits (the next request cannot go)
  kGrantHuge,           // grant 65535 with every answer
  kWrongMessageId,      // answer with an id that was never sent
  kDuplicateAnswer,     // answer twice
  kDataPastTheFrame,    // DataOffset/DataLength point outside the message
  kMoreDataThanAsked,   // DataLength larger than the READ asked for
  kTruncatedCompound,   // NextCommand points past the frame
  kPendingForever,      // interim STATUS_PENDING, never the final answer
  kOplockBreakUnknown,  // an oplock break for a file never opened, then a correct answer
  kDisconnect,          // close the connection instead of answering
  kGarbageFrame,        // random bytes
  kHugeFrameLength,     // a length word of 16 MiB - 1, then silence
};

class HostileServer {
 public:
  HostileServer(int fd, PagePool* pool, Misbehavior m)
      : transport_(TcpTransport::FromSocket(fd, pool)), pool_(pool), m_(m) {
    thread_ = std::thread([this] { Run(); });
  }
  ~HostileServer() {
    transport_->Shutdown(absl::CancelledError("test over"));
    thread_.join();
  }

 private:
  static std::vector<uint8_t> Flat(const Bvecq& q) {
    std::vector<uint8_t> v(q.size());
    q.begin().CopyOut(absl::MakeSpan(v));
    return v;
  }

  // Sends one response member with `body`, header derived from the request.
  void Reply(const Smb2Header& req, uint32_t status, const std::vector<uint8_t>& body,
             uint16_t credits = 32, uint32_t extra_flags = 0, uint64_t session = 0,
             uint32_t tree = 0) {
    Smb2Header h = req;
    h.flags = kFlagServerToRedir | extra_flags;
    h.status = status;
    h.credits = credits;
    h.next_command = 0;
    if (session) h.session_id = session;
    if (tree) h.tree_id = tree;
    std::fill(std::begin(h.signature), std::end(h.signature), 0);
    std::vector<uint8_t> frame(64 + body.size());
    WireWriter w(absl::MakeSpan(frame));
    EncodeHeader(h, &w);
    w.Bytes(absl::MakeConstSpan(body));
    (void)w.Finish();
    SendRaw(frame);
  }

  void SendRaw(const std::vector<uint8_t>& bytes) {
    Bvecq q;
    WireWriter w(&q, pool_);
    w.Bytes(absl::MakeConstSpan(bytes));
    (void)w.Finish();
    (void)transport_->Send(q);
  }

  static std::vector<uint8_t> Body(std::initializer_list<std::pair<int, uint64_t>> fields,
                                   size_t size) {
    std::vector<uint8_t> b(size, 0);
    for (auto [off_width, v] : fields) {
      const int off = off_width >> 4, width = off_width & 15;
      for (int i = 0; i < width; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
    }
    return b;
  }
#define F(off, width) ((off) << 4 | (width))

  std::vector<uint8_t> ChallengeToken() {
    // [MS-NLMP] 2.2.1.2 CHALLENGE_MESSAGE with an empty target name and an MsvAvEOL target info.
    std::vector<uint8_t> m = {'N', 'T', 'L', 'M', 'S', 'S', 'P', 0, 2, 0, 0, 0};
    auto u16 = [&](uint16_t v) { m.push_back(v & 0xFF); m.push_back(v >> 8); };
    auto u32 = [&](uint32_t v) { for (int i = 0; i < 4; ++i) m.push_back(v >> (8 * i)); };
    u16(0); u16(0); u32(56);                       // TargetNameFields
    u32(ntlm_flags::kUnicode | ntlm_flags::kNtlm | ntlm_flags::kTargetInfo |
        ntlm_flags::kExtendedSessionSecurity | ntlm_flags::kAnonymous);
    for (int i = 0; i < 8; ++i) m.push_back(0x11 * (i + 1));  // ServerChallenge
    for (int i = 0; i < 8; ++i) m.push_back(0);               // Reserved
    u16(4); u16(4); u32(56);                                  // TargetInfoFields
    for (int i = 0; i < 8; ++i) m.push_back(0);               // Version
    u16(0); u16(0);                                           // MsvAvEOL
    NegTokenResp r;
    r.neg_state = NegState::kAcceptIncomplete;
    r.supported_mech = NtlmsspOid();
    r.response_token = m;
    return EncodeNegTokenResp(r);
  }

  void Run() {
    while (true) {
      absl::StatusOr<Bvecq> f = transport_->Receive(absl::Seconds(30));
      if (!f.ok()) return;
      WireReader r(f->begin());
      absl::StatusOr<Smb2Header> h = DecodeHeader(&r);
      if (!h.ok()) return;
      Handle(*h, Flat(*f));
      if (closed_) return;
    }
  }

  void Handle(const Smb2Header& req, const std::vector<uint8_t>& bytes) {
    switch (req.command) {
      case Command::kNegotiate:
        // [MS-SMB2] 2.2.4: StructureSize 65, SecurityMode, Dialect 0x0210, Capabilities
        // LARGE_MTU, MaxTransact/MaxRead/MaxWrite 1 MiB, empty security buffer at 128.
        Reply(req, 0, Body({{F(0, 2), 65}, {F(2, 2), 1}, {F(4, 2), 0x0210}, {F(24, 4), 4},
                            {F(28, 4), 1 << 20}, {F(32, 4), 1 << 20}, {F(36, 4), 1 << 20},
                            {F(56, 2), 128}},
                           64 + 1));
        return;
      case Command::kSessionSetup: {
        if (++setup_round_ == 1) {
          std::vector<uint8_t> token = ChallengeToken();
          std::vector<uint8_t> body = Body({{F(0, 2), 9}, {F(4, 2), 72},
                                            {F(6, 2), token.size()}}, 8);
          body.insert(body.end(), token.begin(), token.end());
          Reply(req, ntstatus::kMoreProcessingRequired, body, 32, 0, 0x77);
        } else {
          // SessionFlags IS_NULL: anonymous, no keys, nothing signed.
          Reply(req, 0, Body({{F(0, 2), 9}, {F(2, 2), 2}}, 9), 32, 0, 0x77);
        }
        return;
      }
      case Command::kTreeConnect:
        Reply(req, 0, Body({{F(0, 2), 16}, {F(2, 1), 1}, {F(12, 4), 0x1F01FF}}, 16), 32, 0, 0,
              5);
        return;
      case Command::kCreate:
        // [MS-SMB2] 2.2.14: StructureSize 89, EndofFile 1 MiB, FileId {1, 2}.
        Reply(req, 0, Body({{F(0, 2), 89}, {F(48, 8), 1 << 20}, {F(64, 8), 1}, {F(72, 8), 2}},
                           88));
        return;
      case Command::kClose:
        Reply(req, 0, Body({{F(0, 2), 60}}, 60));
        return;
      case Command::kRead:
        Read(req, bytes);
        return;
      default:
        Reply(req, ntstatus::kNotSupported, Body({{F(0, 2), 9}}, 9));
    }
  }

  void Read(const Smb2Header& req, const std::vector<uint8_t>& bytes) {
    const uint32_t length = LoadLE<uint32_t>(&bytes[64 + 4]);
    std::vector<uint8_t> good = Body({{F(0, 2), 17}, {F(2, 1), 0x50}, {F(4, 4), length}}, 16);
    good.resize(16 + length, 0xAB);
    switch (m_) {
      case Misbehavior::kNone:
        Reply(req, 0, good);
        return;
      case Misbehavior::kGrantZeroForever:
        Reply(req, 0, good, /*credits=*/0);
        return;
      case Misbehavior::kGrantHuge:
        Reply(req, 0, good, 65535);
        return;
      case Misbehavior::kWrongMessageId: {
        Smb2Header h = req;
        h.message_id += 1000;
        Reply(h, 0, good);
        return;
      }
      case Misbehavior::kDuplicateAnswer:
        Reply(req, 0, good);
        Reply(req, 0, good);
        return;
      case Misbehavior::kDataPastTheFrame: {
        std::vector<uint8_t> bad = good;
        bad[4] = 0xFF, bad[5] = 0xFF, bad[6] = 0xFF;  // DataLength ~16M
        Reply(req, 0, bad);
        return;
      }
      case Misbehavior::kMoreDataThanAsked: {
        std::vector<uint8_t> more = Body({{F(0, 2), 17}, {F(2, 1), 0x50}, {F(4, 4), length + 4096}},
                                         16);
        more.resize(16 + length + 4096, 0xCD);
        Reply(req, 0, more);
        return;
      }
      case Misbehavior::kTruncatedCompound: {
        std::vector<uint8_t> frame(64 + good.size());
        Smb2Header h = req;
        h.flags = kFlagServerToRedir;
        h.next_command = 4096;  // past the frame
        h.credits = 8;
        WireWriter w(absl::MakeSpan(frame));
        EncodeHeader(h, &w);
        w.Bytes(absl::MakeConstSpan(good));
        (void)w.Finish();
        SendRaw(frame);
        return;
      }
      case Misbehavior::kPendingForever: {
        Smb2Header h = req;
        h.async_id = 42;
        Reply(h, ntstatus::kPending, Body({{F(0, 2), 9}}, 9), 1, kFlagAsyncCommand);
        return;
      }
      case Misbehavior::kOplockBreakUnknown: {
        Smb2Header n;
        n.command = Command::kOplockBreak;
        n.message_id = ~uint64_t{0};
        Reply(n, 0, Body({{F(0, 2), 24}, {F(2, 1), 1}, {F(8, 8), 999}, {F(16, 8), 999}}, 24));
        Reply(req, 0, good);
        return;
      }
      case Misbehavior::kDisconnect:
        closed_ = true;
        transport_->Shutdown(absl::CancelledError("hostile server hung up"));
        return;
      case Misbehavior::kGarbageFrame: {
        std::vector<uint8_t> junk(300);
        for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<uint8_t>(i * 77 + 5);
        SendRaw(junk);
        return;
      }
      case Misbehavior::kHugeFrameLength: {
        // Bypass the transport: a raw length word announcing a frame that never comes.
        const uint8_t word[4] = {0, 0xFF, 0xFF, 0xFF};
        (void)!write(RawFd(), word, 4);
        return;
      }
    }
  }
#undef F

  int RawFd() { return raw_fd_; }

 public:
  int raw_fd_ = -1;

 private:
  std::unique_ptr<TcpTransport> transport_;
  PagePool* pool_;
  const Misbehavior m_;
  int setup_round_ = 0;
  bool closed_ = false;
  std::thread thread_;
};

struct Connected {
  std::unique_ptr<PagePool> server_pool;
  std::unique_ptr<HostileServer> server;
  std::unique_ptr<Client> client;
  std::unique_ptr<Session> session;
  std::unique_ptr<Tree> tree;
  std::unique_ptr<File> file;
};

Connected Connect(Misbehavior m, absl::Duration timeout = absl::Seconds(2)) {
  Connected c;
  int sv[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  PagePoolOptions po;
  po.max_bytes = 32 << 20;
  po.huge_pages = false;
  c.server_pool = PagePool::Create(po).value();
  const int raw = dup(sv[1]);
  c.server = std::make_unique<HostileServer>(sv[1], c.server_pool.get(), m);
  c.server->raw_fd_ = raw;
  std::shared_ptr<PagePool> pool(PagePool::Create(po).value().release());
  ClientOptions o;
  o.request_timeout = timeout;
  o.credits.target = 64;
  auto client = Client::Create(TcpTransport::FromSocket(sv[0], pool.get()), pool, o);
  EXPECT_TRUE(client.ok()) << client.status();
  if (!client.ok()) return c;
  c.client = *std::move(client);
  Credentials anon;
  anon.anonymous = true;
  auto s = c.client->Login(anon);
  EXPECT_TRUE(s.ok()) << s.status();
  if (!s.ok()) return c;
  c.session = *std::move(s);
  auto t = c.session->TreeConnect("share");
  EXPECT_TRUE(t.ok()) << t.status();
  if (!t.ok()) return c;
  c.tree = *std::move(t);
  auto f = c.tree->Open("file", OpenOptions());
  EXPECT_TRUE(f.ok()) << f.status();
  if (f.ok()) c.file = *std::move(f);
  return c;
}

struct Case {
  Misbehavior m;
  const char* name;
  bool read_ok;                       // the READ itself succeeds
  absl::StatusCode code;              // otherwise: this error
};

class HostileTest : public ::testing::TestWithParam<Case> {};

TEST_P(HostileTest, ClearErrorInBoundedTimeAndNothingOutsideTheBuffer) {
  const Case c = GetParam();
  Connected conn = Connect(c.m);
  ASSERT_NE(conn.file, nullptr);
  // A well-behaved connection in the same process, before and after.
  Connected good = Connect(Misbehavior::kNone);
  ASSERT_NE(good.file, nullptr);

  std::vector<uint8_t> buf(4096 + 64, 0x11);  // 64 guard bytes after the 4 KiB read
  const absl::Time start = absl::Now();
  auto n = conn.file->Read(0, absl::MakeSpan(buf).subspan(0, 4096));
  const absl::Duration took = absl::Now() - start;
  EXPECT_LT(took, absl::Seconds(10)) << c.name;
  if (c.read_ok) {
    ASSERT_TRUE(n.ok()) << c.name << ": " << n.status();
    EXPECT_EQ(*n, 4096u);
    EXPECT_EQ(buf[0], 0xAB);
  } else {
    ASSERT_FALSE(n.ok()) << c.name;
    EXPECT_EQ(n.status().code(), c.code) << c.name << ": " << n.status();
    EXPECT_FALSE(n.status().message().empty());
  }
  for (size_t i = 4096; i < buf.size(); ++i) ASSERT_EQ(buf[i], 0x11) << c.name << " wrote past";

  // A second request on the hostile connection also ends promptly (error or success).
  const absl::Time start2 = absl::Now();
  (void)conn.file->Read(0, absl::MakeSpan(buf).subspan(0, 4096));
  EXPECT_LT(absl::Now() - start2, absl::Seconds(10)) << c.name;

  // The other connection is unaffected.
  std::vector<uint8_t> other(4096);
  auto g = good.file->Read(0, absl::MakeSpan(other));
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(other[100], 0xAB);
}

INSTANTIATE_TEST_SUITE_P(
    Scenarios, HostileTest,
    ::testing::Values(
        Case{Misbehavior::kNone, "None", true, absl::StatusCode::kOk},
        Case{Misbehavior::kGrantZeroForever, "GrantZeroForever", true, absl::StatusCode::kOk},
        Case{Misbehavior::kGrantHuge, "GrantHuge", true, absl::StatusCode::kOk},
        Case{Misbehavior::kWrongMessageId, "WrongMessageId", false,
             absl::StatusCode::kDeadlineExceeded},
        Case{Misbehavior::kDuplicateAnswer, "DuplicateAnswer", true, absl::StatusCode::kOk},
        Case{Misbehavior::kDataPastTheFrame, "DataPastTheFrame", false,
             absl::StatusCode::kDataLoss},
        Case{Misbehavior::kMoreDataThanAsked, "MoreDataThanAsked", false,
             absl::StatusCode::kDataLoss},
        Case{Misbehavior::kTruncatedCompound, "TruncatedCompound", false,
             absl::StatusCode::kDataLoss},
        Case{Misbehavior::kPendingForever, "PendingForever", false,
             absl::StatusCode::kDeadlineExceeded},
        Case{Misbehavior::kOplockBreakUnknown, "OplockBreakUnknown", true,
             absl::StatusCode::kOk},
        Case{Misbehavior::kDisconnect, "Disconnect", false, absl::StatusCode::kUnavailable},
        Case{Misbehavior::kGarbageFrame, "GarbageFrame", false, absl::StatusCode::kDataLoss},
        // 16 MiB - 1 is a legal frame length: the request times out while the transport waits
        // (its stall timeout then ends the connection).
        Case{Misbehavior::kHugeFrameLength, "HugeFrameLength", false,
             absl::StatusCode::kDeadlineExceeded}),
    [](const ::testing::TestParamInfo<Case>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace smbd
