// Caller-registered buffers and the memory-window path (issue #15), end to end on the scripted
// server over SMB Direct on the fake verbs (which enforce window ranges, type-2 rebinding and
// count double invalidations, the rxe kernel panic), and over TCP where registration is a no-op.
// What is asserted: the bytes, which registration each I/O got (counters), that the server's
// SEND_WITH_INVALIDATE is seen and never followed by a second invalidation, that a window
// confines a hostile server to the I/O's bytes, and that nothing stays registered.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "smb2/client/client.h"
#include "smb2/client/testing/harness.h"
#include "smb2/pdu/create.h"
#include "smbdirect/fake_verbs.h"
#include "smbdirect/smbdirect_transport.h"

namespace smbd {
namespace {

using scripted::ConnectRig;
using scripted::Misbehavior;
using scripted::Rig;
using scripted::RigOptions;
using scripted::TransportKind;

constexpr uint8_t kHostile = 0xEE;  // what the scripted server writes where it must not

void Fill(absl::Span<uint8_t> s, uint32_t seed) {
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>((i * 2654435761u + seed) >> 11);
}

// One connection with its network, session and tree.
class Conn {
 public:
  Conn(TransportKind kind, FakeNetworkOptions net_options, RigOptions options)
      : net_(std::move(net_options)) {
    options.client.request_timeout = absl::Seconds(10);
    status_ = ConnectRig(kind, &net_, options, &rig_);
    if (!status_.ok()) return;
    Credentials anonymous;
    anonymous.anonymous = true;
    auto session = rig_.client->Login(anonymous);
    if (!session.ok()) {
      status_ = session.status();
      return;
    }
    session_ = *std::move(session);
    auto tree = session_->TreeConnect("share");
    if (!tree.ok()) {
      status_ = tree.status();
      return;
    }
    tree_ = *std::move(tree);
  }
  ~Conn() { DropClient(); }
  void DropClient() {
    tree_.reset();
    session_.reset();
    rig_.client.reset();
    rig_.server.reset();
  }
  const absl::Status& status() const { return status_; }
  Client* client() { return rig_.client.get(); }
  Session* session() { return session_.get(); }
  FakeRdmaNetwork& net() { return net_; }
  SmbDirectStats stats() {
    auto* t = dynamic_cast<SmbDirectTransport*>(rig_.client->connection()->transport());
    return t == nullptr ? SmbDirectStats{} : t->stats();
  }
  std::unique_ptr<File> Create(const std::string& name) {
    OpenOptions o;
    o.write = true;
    o.disposition = kFileOverwriteIf;
    auto f = tree_->Open(name, o);
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? *std::move(f) : nullptr;
  }

 private:
  FakeRdmaNetwork net_;
  Rig rig_;
  absl::Status status_;
  std::unique_ptr<Session> session_;
  std::unique_ptr<Tree> tree_;
};

// An aligned buffer that outlives the registration made of it.
struct Buffer {
  explicit Buffer(size_t n) : bytes(new (std::align_val_t(4096)) uint8_t[n]), size(n) {}
  ~Buffer() { ::operator delete[](bytes, std::align_val_t(4096)); }
  absl::Span<uint8_t> span() { return absl::MakeSpan(bytes, size); }
  uint8_t* bytes;
  size_t size;
};

constexpr size_t kIo = 1 << 20;  // the client's RDMA chunk on the fake

// A connection over SMB Direct with a registered buffer (every byte `fill`) and, after Start, a
// file holding `file_bytes` bytes of `file_byte` (written from unregistered memory).
struct Registered {
  Registered(RigOptions options, size_t buffer_bytes, uint8_t fill, FakeNetworkOptions net = {})
      : conn(TransportKind::kSmbDirect, std::move(net), std::move(options)), buffer(buffer_bytes) {
    std::fill(buffer.bytes, buffer.bytes + buffer.size, fill);
  }
  // Call under ASSERT_NO_FATAL_FAILURE.
  void Start(const std::string& name, size_t file_bytes, uint8_t file_byte) {
    ASSERT_TRUE(conn.status().ok()) << conn.status();
    auto r = conn.client()->RegisterBuffer(buffer.span());
    ASSERT_TRUE(r.ok()) << r.status();
    registration = *std::move(r);
    file = conn.Create(name);
    ASSERT_NE(file, nullptr);
    data.assign(file_bytes, file_byte);
    if (file_bytes > 0) {
      ASSERT_TRUE(file->Write(0, data).ok());
    }
  }
  // Whether buffer bytes [from, to) all hold `b`.
  bool Holds(size_t from, size_t to, uint8_t b) const {
    return std::all_of(buffer.bytes + from, buffer.bytes + to, [b](uint8_t x) { return x == b; });
  }

  Conn conn;
  Buffer buffer;
  std::unique_ptr<RegisteredBuffer> registration;
  std::unique_ptr<File> file;
  std::vector<uint8_t> data;
};

// Writes 3 MiB from a registered buffer and reads them back into another part of it: every
// I/O gets a window over exactly its bytes (no per-I/O registration), the server invalidates
// each with its answer, the client invalidates none itself, nothing is invalidated twice.
TEST(RegisteredBufferTest, IoInARegisteredBufferGetsAWindowTheServerInvalidates) {
  Conn s(TransportKind::kSmbDirect, {}, RigOptions());
  ASSERT_TRUE(s.status().ok()) << s.status();
  EXPECT_TRUE(absl::StrContains(s.client()->registration_note(), "memory windows"))
      << s.client()->registration_note();
  EXPECT_TRUE(absl::StartsWith(s.session()->RdmaChannelNote(),
                               "RDMA channel on for I/O of 65536 bytes and more (4096 in a "
                               "registered buffer with windows); memory windows"))
      << s.session()->RdmaChannelNote();
  Buffer buffer(8 * kIo);
  Fill(buffer.span().subspan(0, 3 * kIo), 7);
  auto reg = s.client()->RegisterBuffer(buffer.span());
  ASSERT_TRUE(reg.ok()) << reg.status();
  EXPECT_EQ(s.stats().caller_buffers, 1u);

  std::unique_ptr<File> f = s.Create("w.bin");
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->Write(0, buffer.span().subspan(0, 3 * kIo)).ok());
  auto n = f->Read(0, buffer.span().subspan(4 * kIo, 3 * kIo));
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_EQ(*n, 3 * kIo);
  EXPECT_TRUE(std::equal(buffer.bytes, buffer.bytes + 3 * kIo, buffer.bytes + 4 * kIo));

  const SmbDirectStats st = s.stats();
  const ClientStats cs = s.client()->stats();
  EXPECT_EQ(cs.rdma_writes + cs.rdma_reads, 6u);
  EXPECT_EQ(st.window_binds, 6u);
  EXPECT_EQ(st.registrations, st.window_binds) << "an I/O was registered with ibv_reg_mr";
  EXPECT_EQ(st.peer_invalidations, 6u);
  EXPECT_EQ(st.local_invalidations, 0u);
  EXPECT_EQ(st.unexpected_invalidations, 0u);
  EXPECT_EQ(st.live_registrations, 0u);
  EXPECT_EQ(s.net().double_invalidations(), 0);
  // The caller's region plus the pool's slabs; no per-I/O region is left.
  reg->reset();
  EXPECT_EQ(s.stats().caller_buffers, 0u);
}

// A server that ignores RDMA_V1_INVALIDATE: the client invalidates each window itself, once.
TEST(RegisteredBufferTest, WindowsTheServerLeftAreInvalidatedLocallyOnce) {
  RigOptions options;
  options.script.misbehavior = Misbehavior::kRdmaNoRemoteInvalidate;
  Conn s(TransportKind::kSmbDirect, {}, options);
  ASSERT_TRUE(s.status().ok()) << s.status();
  Buffer buffer(4 * kIo);
  Fill(buffer.span().subspan(0, 2 * kIo), 3);
  auto reg = s.client()->RegisterBuffer(buffer.span());
  ASSERT_TRUE(reg.ok()) << reg.status();
  std::unique_ptr<File> f = s.Create("n.bin");
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->Write(0, buffer.span().subspan(0, 2 * kIo)).ok());
  auto n = f->Read(0, buffer.span().subspan(2 * kIo, 2 * kIo));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(std::equal(buffer.bytes, buffer.bytes + 2 * kIo, buffer.bytes + 2 * kIo));
  const SmbDirectStats st = s.stats();
  EXPECT_EQ(st.window_binds, 4u);
  EXPECT_EQ(st.peer_invalidations, 0u);
  EXPECT_EQ(st.local_invalidations, 4u);
  EXPECT_EQ(s.net().double_invalidations(), 0);
}

// A server that writes 64 bytes past the READ's descriptor: the window stops it at the I/O's
// last byte although the registered buffer goes on, the connection breaks, and the bytes after
// the I/O keep what the caller put there.
TEST(RegisteredBufferTest, AWindowConfinesTheServerToTheIo) {
  RigOptions options;
  options.script.misbehavior = Misbehavior::kRdmaWritePastDescriptor;
  Registered r(options, 2 * kIo, 0x11);
  ASSERT_NO_FATAL_FAILURE(r.Start("h.bin", 64 * 1024, 0x22));  // by RDMA, per-I/O registration
  EXPECT_FALSE(r.file->Read(0, r.buffer.span().subspan(0, r.data.size())).ok());
  EXPECT_EQ(r.conn.stats().window_binds, 1u);
  EXPECT_TRUE(r.Holds(r.data.size(), r.buffer.size, 0x11))
      << "the server wrote past the I/O through its window";
  EXPECT_EQ(r.conn.net().double_invalidations(), 0);
}

// From the 2nd READ on, the server writes through the 1st READ's token: a window invalidated
// and bound again has a new rkey, so the old one reaches nothing.
TEST(RegisteredBufferTest, AReleasedWindowsTokenReachesNothing) {
  RigOptions options;
  options.script.misbehavior = Misbehavior::kRdmaStaleToken;
  Registered r(options, 2 * kIo, 0x33);
  ASSERT_NO_FATAL_FAILURE(r.Start("s.bin", 64 * 1024, 0x44));
  const size_t n = r.data.size();
  auto first = r.file->Read(0, r.buffer.span().subspan(0, n));
  ASSERT_TRUE(first.ok()) << first.status();
  std::fill(r.buffer.bytes, r.buffer.bytes + n, 0x55);  // the caller reuses it
  EXPECT_FALSE(r.file->Read(0, r.buffer.span().subspan(kIo, n)).ok());
  EXPECT_TRUE(r.Holds(0, n, 0x55)) << "the first READ's token still reached its buffer";
  EXPECT_EQ(r.conn.net().double_invalidations(), 0);
}

// The server invalidates a long-dead token with its 2nd answer: the device refuses it (rxe and
// the fake fail the receive with REM_INV_REQ_ERR), the connection ends with that error, and the
// client does not invalidate the live window a second time on the way out.
TEST(RegisteredBufferTest, AStaleRemoteInvalidationEndsTheConnectionWithoutASecondOne) {
  RigOptions options;
  options.script.misbehavior = Misbehavior::kRdmaInvalidateStaleToken;
  Registered r(options, kIo, 0);
  ASSERT_NO_FATAL_FAILURE(r.Start("x.bin", 64 * 1024, 0x77));
  const size_t n = r.data.size();
  auto first = r.file->Read(0, r.buffer.span().subspan(0, n));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(r.Holds(0, n, 0x77));
  auto second = r.file->Read(0, r.buffer.span().subspan(0, n));
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(absl::StrContains(second.status().message(), "REM_INV_REQ_ERR")) << second.status();
  const SmbDirectStats st = r.conn.stats();
  EXPECT_EQ(st.window_binds, 2u);  // both READs' (the WRITE's source is not registered)
  EXPECT_EQ(st.peer_invalidations, 1u);
  EXPECT_EQ(st.local_invalidations, 0u);
  EXPECT_EQ(r.conn.net().double_invalidations(), 1) << "only the server's stale one";
}

// Inline WRITEs (below the RDMA threshold) from a registered buffer go by its lkey; from any
// other memory they are copied into pool pages first.
TEST(RegisteredBufferTest, InlineWritesFromARegisteredBufferAreNotBounced) {
  Conn s(TransportKind::kSmbDirect, {}, RigOptions());
  ASSERT_TRUE(s.status().ok()) << s.status();
  Buffer buffer(64 * 1024);
  Fill(buffer.span(), 5);
  auto reg = s.client()->RegisterBuffer(buffer.span());
  ASSERT_TRUE(reg.ok()) << reg.status();
  std::unique_ptr<File> f = s.Create("i.bin");
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->Write(0, buffer.span().subspan(0, 2048)).ok());
  SmbDirectStats st = s.stats();
  EXPECT_EQ(st.bounced_bytes, 0u);
  EXPECT_EQ(st.registered_send_bytes, 2048u);
  std::vector<uint8_t> other(2048, 0x66);
  ASSERT_TRUE(f->Write(2048, other).ok());
  st = s.stats();
  EXPECT_EQ(st.bounced_bytes, 2048u);
  EXPECT_EQ(st.registered_send_bytes, 2048u);
  std::vector<uint8_t> back(4096);
  auto n = f->Read(0, absl::MakeSpan(back));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(std::equal(buffer.bytes, buffer.bytes + 2048, back.begin()));
  EXPECT_TRUE(std::all_of(back.begin() + 2048, back.end(), [](uint8_t b) { return b == 0x66; }));
}

// Where windows would not isolate (rxe: a window's rkey reaches its whole region), auto keeps
// per-I/O registration and says why; forcing windows there binds them (function tests), and a
// hostile server then does reach past the I/O, which is why auto does not choose them.
TEST(RegisteredBufferTest, AutoKeepsPerIoRegistrationWhereWindowsDoNotIsolate) {
  FakeNetworkOptions rxe;
  rxe.windows_enforce_range = false;
  RigOptions options;
  options.script.misbehavior = Misbehavior::kRdmaWritePastDescriptor;
  {
    Registered r(options, kIo, 0x11, rxe);
    ASSERT_NO_FATAL_FAILURE(r.Start("r.bin", 64 * 1024, 0x22));
    EXPECT_TRUE(absl::StrContains(r.conn.client()->registration_note(),
                                  "reach their whole region"))
        << r.conn.client()->registration_note();
    EXPECT_FALSE(r.file->Read(0, r.buffer.span().subspan(0, r.data.size())).ok());
    EXPECT_EQ(r.conn.stats().window_binds, 0u);
    EXPECT_TRUE(r.Holds(r.data.size(), r.buffer.size, 0x11));
  }
  options.smbd_client.registration = RdmaRegistrationMode::kWindows;
  Registered r(options, kIo, 0x11, rxe);
  ASSERT_NO_FATAL_FAILURE(r.Start("r.bin", 64 * 1024, 0x22));
  EXPECT_TRUE(absl::StrContains(r.conn.client()->registration_note(), "forced"))
      << r.conn.client()->registration_note();
  (void)r.file->Read(0, r.buffer.span().subspan(0, r.data.size()));
  EXPECT_EQ(r.conn.stats().window_binds, 1u);
  EXPECT_EQ(r.buffer.bytes[r.data.size()], kHostile)
      << "the rxe model should let the write through";
}

// kPerIo, and a device without windows: registered buffers still spare inline sends the
// bounce, but RDMA-channel I/O is registered per I/O, and the note says why.
TEST(RegisteredBufferTest, PerIoModeAndDevicesWithoutWindowsRegisterEachIo) {
  struct Case {
    const char* why;
    bool device_windows;
    RdmaRegistrationMode mode;
  };
  for (const Case& c : {Case{"chosen by the caller", true, RdmaRegistrationMode::kPerIo},
                        Case{"no type-2 memory windows", false, RdmaRegistrationMode::kAuto}}) {
    SCOPED_TRACE(c.why);
    FakeNetworkOptions net;
    net.client_limits.memory_windows = c.device_windows;
    RigOptions options;
    options.smbd_client.registration = c.mode;
    Conn s(TransportKind::kSmbDirect, net, options);
    ASSERT_TRUE(s.status().ok()) << s.status();
    EXPECT_TRUE(absl::StrContains(s.client()->registration_note(), c.why))
        << s.client()->registration_note();
    Buffer buffer(2 * kIo);
    Fill(buffer.span().subspan(0, kIo), 1);
    auto reg = s.client()->RegisterBuffer(buffer.span());
    ASSERT_TRUE(reg.ok()) << reg.status();
    std::unique_ptr<File> f = s.Create("p.bin");
    ASSERT_NE(f, nullptr);
    ASSERT_TRUE(f->Write(0, buffer.span().subspan(0, kIo)).ok());
    auto n = f->Read(0, buffer.span().subspan(kIo, kIo));
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_TRUE(std::equal(buffer.bytes, buffer.bytes + kIo, buffer.bytes + kIo));
    const SmbDirectStats st = s.stats();
    EXPECT_EQ(st.window_binds, 0u);
    EXPECT_EQ(st.registrations, 2u);
    EXPECT_EQ(st.live_registrations, 0u);
  }
}

// Windows are bounded (each may hold a bind and an invalidation in the send queue's room for
// them): an I/O that finds every window bound gets a per-I/O registration instead, offered
// without RDMA_V1_INVALIDATE. Windows the server never invalidated are invalidated here, once.
TEST(RegisteredBufferTest, MoreIosThanWindowsFallBackToPerIoRegistration) {
  RigOptions options;
  options.smbd_client.max_windows = 4;
  Conn s(TransportKind::kSmbDirect, {}, options);
  ASSERT_TRUE(s.status().ok()) << s.status();
  Buffer buffer(8 * 4096);
  auto reg = s.client()->RegisterBuffer(buffer.span());
  ASSERT_TRUE(reg.ok()) << reg.status();
  Transport* t = s.client()->connection()->transport();
  std::vector<std::unique_ptr<RdmaRegistration>> held;
  for (int i = 0; i < 5; ++i) {
    auto r = t->RegisterForPeer(buffer.span().subspan(i * 4096, 4096), true);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ((*r)->remote_invalidate(), i < 4) << i;
    ASSERT_EQ((*r)->descriptors().size(), 1u);
    EXPECT_EQ((*r)->descriptors()[0].length, 4096u);
    held.push_back(*std::move(r));
  }
  SmbDirectStats st = s.stats();
  EXPECT_EQ(st.window_binds, 4u);
  EXPECT_EQ(st.window_fallbacks, 1u);
  EXPECT_EQ(st.live_registrations, 5u);
  held.clear();
  st = s.stats();
  EXPECT_EQ(st.local_invalidations, 4u);
  EXPECT_EQ(st.live_registrations, 0u);
  EXPECT_EQ(s.net().double_invalidations(), 0);
  // The windows are free again.
  auto again = t->RegisterForPeer(buffer.span().subspan(0, 4096), false);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE((*again)->remote_invalidate());
}

TEST(RegisteredBufferTest, OverlappingAndEmptyRegistrationsAreRefused) {
  Conn s(TransportKind::kSmbDirect, {}, RigOptions());
  ASSERT_TRUE(s.status().ok()) << s.status();
  Buffer buffer(3 * 4096);
  auto a = s.client()->RegisterBuffer(buffer.span().subspan(4096, 4096));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(s.client()->RegisterBuffer(buffer.span()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.client()->RegisterBuffer(buffer.span().subspan(4096 + 100, 10)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.client()->RegisterBuffer(buffer.span().subspan(0, 0)).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Neighbours on either side are fine.
  auto before = s.client()->RegisterBuffer(buffer.span().subspan(0, 4096));
  auto after = s.client()->RegisterBuffer(buffer.span().subspan(2 * 4096, 4096));
  EXPECT_TRUE(before.ok()) << before.status();
  EXPECT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(s.stats().caller_buffers, 3u);
}

// A registration may outlive its client (its region keeps the protection domain alive).
TEST(RegisteredBufferTest, ARegistrationMayOutliveTheClient) {
  Buffer buffer(4096);
  std::unique_ptr<RegisteredBuffer> kept;
  {
    Conn s(TransportKind::kSmbDirect, {}, RigOptions());
    ASSERT_TRUE(s.status().ok()) << s.status();
    auto r = s.client()->RegisterBuffer(buffer.span());
    ASSERT_TRUE(r.ok()) << r.status();
    kept = *std::move(r);
    s.DropClient();  // the client, its transport and its endpoint are gone
    const int regions = s.net().live_memory_regions();
    kept.reset();
    EXPECT_EQ(s.net().live_memory_regions(), regions - 1);
  }
}

// Over TCP there is nothing to register: the handle works the same, the note is empty.
TEST(RegisteredBufferTest, TcpRegistersNothingAndWorksTheSame) {
  Conn s(TransportKind::kTcp, {}, RigOptions());
  ASSERT_TRUE(s.status().ok()) << s.status();
  EXPECT_EQ(s.client()->registration_note(), "");
  EXPECT_EQ(s.session()->RdmaChannelNote(), "RDMA channel off: connected over tcp");
  Buffer buffer(2 * kIo);
  Fill(buffer.span().subspan(0, kIo), 2);
  auto reg = s.client()->RegisterBuffer(buffer.span());
  ASSERT_TRUE(reg.ok()) << reg.status();
  EXPECT_EQ((*reg)->memory().data(), buffer.bytes);
  std::unique_ptr<File> f = s.Create("t.bin");
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->Write(0, buffer.span().subspan(0, kIo)).ok());
  auto n = f->Read(0, buffer.span().subspan(kIo, kIo));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(std::equal(buffer.bytes, buffer.bytes + kIo, buffer.bytes + kIo));
}

}  // namespace
}  // namespace smbd
