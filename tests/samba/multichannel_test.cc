// Multichannel (ClientOptions::multichannel) against a real Samba smbd on loopback. Samba
// listens on "interfaces = lo", so FSCTL_QUERY_NETWORK_INTERFACE_INFO lists two addresses,
// 127.0.0.1 and ::1: the client connects to the first, binds a second channel at the other
// (SESSION_SETUP with SMB2_SESSION_FLAG_BINDING, [MS-SMB2] 3.2.4.2.3), and spreads pipelined
// READs and WRITEs over both. A channel is cut mid-read by tests/samba/cutting_proxy.h (the
// extra one, or the first): the read must complete, byte-exact, on the channel left.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "connect/connect.h"
#include "gtest/gtest.h"
#include "smb2/client/client.h"
#include "smb2/tcp_transport.h"
#include "tests/samba/cutting_proxy.h"
#include "tests/samba/samba_env.h"
#include "tests/samba/stream_sha.h"

namespace smbd {
namespace {

using testing_samba::CuttingProxy;
using testing_samba::Env;
using testing_samba::FileSha;
using testing_samba::Fill;
using testing_samba::SambaEnv;
using testing_samba::Sha256;
using testing_samba::StreamSha;

constexpr uint64_t kMiB = uint64_t{1} << 20;
// The big reads' size: 1 GiB, or less where SMBD_MC_READ_MIB says (the sanitizer runs of
// run-suite, which are several times slower).
const uint64_t kBigRead = [] {
  const std::string v = Env("SMBD_MC_READ_MIB", "1024");
  const uint64_t mib = std::strtoull(v.c_str(), nullptr, 10);
  return (mib >= 256 ? mib : 1024) * kMiB;
}();

struct Mounted {
  std::unique_ptr<Client> client;
  std::unique_ptr<Session> session;
  std::unique_ptr<Tree> tree;
};

class MultichannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!env_.ok()) GTEST_SKIP() << "no Samba server in the environment (run tests/samba/run-suite)";
    share_dir_ = Env("SAMBA_SHARE_DIR_DURABLE");
    ASSERT_FALSE(share_dir_.empty());
    // The second address Samba lists is ::1 (samba-server sets it only where lo has it).
    if (Env("SAMBA_HOST6").empty()) {
      GTEST_SKIP() << "no IPv6 on loopback here: Samba lists one address, so no second channel";
    }
  }

  static ClientOptions TwoChannels() {
    ClientOptions o;
    o.multichannel.max_channels = 2;
    o.server_name = "127.0.0.1";
    return o;
  }
  Credentials User() const {
    Credentials c;
    c.user = env_.user;
    c.password = SecretBytes::FromString(env_.password);
    c.kerberos = KerberosUse::kNever;
    return c;
  }
  void LoginAndConnect(Mounted* m) {
    auto s = m->client->Login(User());
    ASSERT_TRUE(s.ok()) << s.status();
    m->session = *std::move(s);
    auto t = m->session->TreeConnect("durable");
    ASSERT_TRUE(t.ok()) << t.status();
    m->tree = *std::move(t);
  }
  // The way a user gets it: ConnectTcp, which binds channels to the addresses Samba lists.
  Mounted Mount(const ClientOptions& o) {
    Mounted m;
    auto c = ConnectTcp("127.0.0.1", env_.port, o);
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return m;
    m.client = *std::move(c);
    LoginAndConnect(&m);
    return m;
  }
  // The first connection to `first_port` on 127.0.0.1 (Samba's, or a proxy's), and every
  // extra channel through `channel` (a proxy in front of the interface Samba lists, or
  // straight to it when null).
  Mounted MountVia(uint16_t first_port, const ClientOptions& o, CuttingProxy* channel) {
    Mounted m;
    PagePoolOptions po;
    po.max_bytes = o.pool_bytes;
    auto pool = PagePool::Create(po);
    EXPECT_TRUE(pool.ok());
    std::shared_ptr<PagePool> shared(*std::move(pool));
    auto t = TcpTransport::Connect("127.0.0.1", first_port, shared.get(), TcpOptions());
    EXPECT_TRUE(t.ok()) << t.status();
    if (!t.ok()) return m;
    PagePool* p = shared.get();
    const uint16_t port = env_.port;
    ChannelFactory factory =
        [p, port, channel](const ServerInterface& to) -> absl::StatusOr<std::unique_ptr<Transport>> {
      absl::StatusOr<std::unique_ptr<TcpTransport>> c =
          channel != nullptr ? TcpTransport::Connect("127.0.0.1", channel->port(), p, TcpOptions())
                             : TcpTransport::Connect(to.address, port, p, TcpOptions());
      if (!c.ok()) return c.status();
      return std::unique_ptr<Transport>(*std::move(c));
    };
    auto c = Client::Create(*std::move(t), shared, o, nullptr, factory);
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return m;
    m.client = *std::move(c);
    LoginAndConnect(&m);
    return m;
  }
  std::string MakeSource(const std::string& name, uint64_t size) {
    return testing_samba::MakeSourceFile(share_dir_, name, size);
  }
  // Reads the whole file through ReadTo; returns its SHA-256 ("" on error, reported).
  static std::string ReadSha(File* f, uint64_t expect_size,
                             const std::function<void(uint64_t)>& progress = nullptr) {
    Sha256 sha;
    uint64_t got = 0;
    auto n = f->ReadTo(0, UINT64_MAX, [&](absl::Span<const uint8_t> b) {
      sha.Update(b);
      got += b.size();
      if (progress) progress(got);
      return absl::OkStatus();
    });
    EXPECT_TRUE(n.ok()) << n.status();
    if (!n.ok()) return "";
    EXPECT_EQ(*n, expect_size);
    return sha.Hex();
  }
  static void Print(const Client& c) {
    std::cout << c.multichannel_note() << "\n";
    for (const ChannelInfo& ch : c.channels()) {
      std::cout << "  channel " << (ch.address.empty() ? "(first)" : ch.address)
                << (ch.first ? " live" : "") << (ch.up ? "" : " dropped") << ": "
                << ch.bytes_read / kMiB << " MiB read, " << ch.bytes_written / kMiB
                << " MiB written\n";
    }
  }

  SambaEnv env_;
  std::string share_dir_;
};

// The first case: a 1 GiB read uses both channels (the counters show it) and comes out
// equal to the source.
TEST_F(MultichannelTest, OneGibibyteReadUsesBothChannels) {
  MakeSource("mc-read.bin", kBigRead);
  Mounted m = Mount(TwoChannels());
  ASSERT_NE(m.tree, nullptr);
  std::vector<ChannelInfo> channels = m.client->channels();
  ASSERT_EQ(channels.size(), 2u) << m.client->multichannel_note();
  EXPECT_TRUE(channels[0].first);
  EXPECT_EQ(channels[1].address, "::1");
  EXPECT_TRUE(absl::StrContains(m.client->multichannel_note(), "2 channels"))
      << m.client->multichannel_note();
  auto f = m.tree->Open("mc-read.bin", OpenOptions());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(ReadSha(f->get(), kBigRead), StreamSha(kBigRead));
  channels = m.client->channels();
  Print(*m.client);
  // By the link speeds Samba reports (samba-server: 1 Gbit/s for 127.0.0.1, 2 for ::1): a third
  // of the requests on the first connection, two thirds on the ::1 channel.
  for (const ChannelInfo& ch : channels) EXPECT_TRUE(ch.up);
  EXPECT_EQ(channels[1].link_speed_bps, 2000000000u);
  EXPECT_EQ(channels[0].link_speed_bps, 1000000000u);
  EXPECT_EQ(channels[0].bytes_read + channels[1].bytes_read, kBigRead);
  const double share = static_cast<double>(channels[0].bytes_read) / kBigRead;
  EXPECT_GT(share, 0.30);
  EXPECT_LT(share, 0.37);
  EXPECT_EQ(m.client->stats().channels, 2u);
  unlink(absl::StrCat(share_dir_, "/mc-read.bin").c_str());
}

TEST_F(MultichannelTest, WritesAreSpreadAndLandWhole) {
  Mounted m = Mount(TwoChannels());
  ASSERT_NE(m.tree, nullptr);
  ASSERT_EQ(m.client->channels().size(), 2u) << m.client->multichannel_note();
  OpenOptions w;
  w.write = true;
  w.disposition = 5;  // overwrite-if
  auto f = m.tree->Open("mc-write.bin", w);
  ASSERT_TRUE(f.ok()) << f.status();
  std::vector<uint8_t> piece(64 * kMiB);
  for (uint64_t at = 0; at < 256 * kMiB; at += piece.size()) {
    Fill(at, absl::MakeSpan(piece));
    ASSERT_TRUE((*f)->Write(at, piece).ok());
  }
  ASSERT_TRUE((*f)->Close().ok());
  Print(*m.client);
  const std::vector<ChannelInfo> channels = m.client->channels();
  EXPECT_EQ(channels[0].bytes_written + channels[1].bytes_written, 256 * kMiB);
  // One third on the 1 Gbit/s first connection, two on the 2 Gbit/s ::1 channel.
  EXPECT_GT(channels[0].bytes_written, 256 * kMiB * 30 / 100);
  EXPECT_LT(channels[0].bytes_written, 256 * kMiB * 37 / 100);
  uint64_t size = 0;
  EXPECT_EQ(FileSha(absl::StrCat(share_dir_, "/mc-write.bin"), &size), StreamSha(256 * kMiB));
  EXPECT_EQ(size, 256 * kMiB);
  unlink(absl::StrCat(share_dir_, "/mc-write.bin").c_str());
}

// The extra channel is cut in the middle of a 1 GiB read (reconnection off): its requests go
// again on the first connection and the read completes, byte-exact.
TEST_F(MultichannelTest, ExtraChannelCutMidReadTheReadCompletes) {
  MakeSource("mc-cut.bin", kBigRead);
  CuttingProxy to_v6(env_.port, "::1");
  Mounted m = MountVia(env_.port, TwoChannels(), &to_v6);
  ASSERT_NE(m.tree, nullptr);
  ASSERT_EQ(m.client->channels().size(), 2u) << m.client->multichannel_note();
  auto f = m.tree->Open("mc-cut.bin", OpenOptions());
  ASSERT_TRUE(f.ok()) << f.status();
  const uint64_t base = to_v6.bytes_down();
  bool cut = false;
  const std::string sha = ReadSha(f->get(), kBigRead, [&](uint64_t) {
    if (!cut && to_v6.bytes_down() - base > kBigRead / 5) {
      to_v6.Cut();
      cut = true;
    }
  });
  EXPECT_TRUE(cut);
  EXPECT_EQ(sha, StreamSha(kBigRead));
  Print(*m.client);
  const ClientStats st = m.client->stats();
  EXPECT_EQ(st.channels, 1u);
  EXPECT_EQ(st.channels_lost, 1u);
  EXPECT_EQ(st.channel_failovers, 0u);
  const std::vector<ChannelInfo> channels = m.client->channels();
  EXPECT_FALSE(channels[1].up);
  EXPECT_GT(channels[1].bytes_read, kBigRead / 10);
  // What each channel carried: at least the file, plus the answers that came in after the cut
  // point and were read again (nothing after the first undelivered request is delivered).
  EXPECT_GE(channels[0].bytes_read + channels[1].bytes_read, kBigRead);
  // The client goes on with one channel.
  std::vector<uint8_t> one(kMiB);
  auto n = (*f)->Read(kBigRead - kMiB, absl::MakeSpan(one));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE((*f)->Close().ok());
  unlink(absl::StrCat(share_dir_, "/mc-cut.bin").c_str());
}

// The extra channel is cut in the middle of a write: its WRITEs go again on the first
// connection, as replays with a new ChannelSequence, and the file on the server's disk is the
// source.
TEST_F(MultichannelTest, ExtraChannelCutMidWriteTheFileIsWhole) {
  CuttingProxy to_v6(env_.port, "::1");
  Mounted m = MountVia(env_.port, TwoChannels(), &to_v6);
  ASSERT_NE(m.tree, nullptr);
  ASSERT_EQ(m.client->channels().size(), 2u) << m.client->multichannel_note();
  OpenOptions w;
  w.write = true;
  w.disposition = 5;
  auto f = m.tree->Open("mc-cut-write.bin", w);
  ASSERT_TRUE(f.ok()) << f.status();
  const uint64_t size = kBigRead / 2;
  const uint64_t base = to_v6.bytes_up();
  std::vector<uint8_t> piece(64 * kMiB);
  bool cut = false;
  for (uint64_t at = 0; at < size; at += piece.size()) {
    Fill(at, absl::MakeSpan(piece));
    if (!cut && to_v6.bytes_up() - base > size / 5) {
      // Cut while the next piece's WRITEs are in flight on both channels.
      std::thread cutter([&] {
        while (to_v6.bytes_up() - base < size / 5 + 16 * kMiB) absl::SleepFor(absl::Microseconds(100));
        to_v6.Cut();
      });
      absl::Status s = (*f)->Write(at, piece);
      cutter.join();
      cut = true;
      ASSERT_TRUE(s.ok()) << "at " << at << ": " << s;
      continue;
    }
    absl::Status s = (*f)->Write(at, piece);
    ASSERT_TRUE(s.ok()) << "at " << at << ": " << s;
  }
  EXPECT_TRUE(cut);
  ASSERT_TRUE((*f)->Close().ok());
  Print(*m.client);
  EXPECT_EQ(m.client->stats().channels_lost, 1u);
  uint64_t on_disk = 0;
  EXPECT_EQ(FileSha(absl::StrCat(share_dir_, "/mc-cut-write.bin"), &on_disk), StreamSha(size));
  EXPECT_EQ(on_disk, size);
  unlink(absl::StrCat(share_dir_, "/mc-cut-write.bin").c_str());
}

// The first connection is cut mid-read: the extra channel, which carries the session, takes
// over as the live one, without a reconnect; the read completes, and the handle and the tree
// go on working over it (Samba keeps a session while one of its channels lives).
TEST_F(MultichannelTest, FirstConnectionCutMidReadTheOtherChannelTakesOver) {
  MakeSource("mc-first.bin", kBigRead);
  CuttingProxy first(env_.port);
  Mounted m = MountVia(first.port(), TwoChannels(), nullptr);
  ASSERT_NE(m.tree, nullptr);
  ASSERT_EQ(m.client->channels().size(), 2u) << m.client->multichannel_note();
  auto f = m.tree->Open("mc-first.bin", OpenOptions());
  ASSERT_TRUE(f.ok()) << f.status();
  const uint64_t base = first.bytes_down();
  bool cut = false;
  const std::string sha = ReadSha(f->get(), kBigRead, [&](uint64_t) {
    if (!cut && first.bytes_down() - base > kBigRead / 5) {
      first.Cut();
      cut = true;
    }
  });
  EXPECT_TRUE(cut);
  EXPECT_EQ(sha, StreamSha(kBigRead));
  Print(*m.client);
  const ClientStats st = m.client->stats();
  EXPECT_EQ(st.channel_failovers, 1u);
  EXPECT_EQ(st.reconnects, 0u);
  const std::vector<ChannelInfo> channels = m.client->channels();
  ASSERT_EQ(channels.size(), 2u);
  EXPECT_FALSE(channels[0].up);
  EXPECT_TRUE(channels[1].first) << "the ::1 channel is the live one now";
  // Everything else goes on over the channel left: a stat, a new open, a write, the closes.
  auto info = m.tree->Stat("mc-first.bin");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->size, kBigRead);
  ASSERT_TRUE((*f)->Close().ok());
  OpenOptions w;
  w.write = true;
  w.disposition = 5;
  auto g = m.tree->Open("mc-after.bin", w);
  ASSERT_TRUE(g.ok()) << g.status();
  std::vector<uint8_t> data(4 * kMiB);
  Fill(0, absl::MakeSpan(data));
  ASSERT_TRUE((*g)->Write(0, data).ok());
  ASSERT_TRUE((*g)->Close().ok());
  uint64_t size = 0;
  EXPECT_EQ(FileSha(absl::StrCat(share_dir_, "/mc-after.bin"), &size), StreamSha(4 * kMiB));
  unlink(absl::StrCat(share_dir_, "/mc-first.bin").c_str());
  unlink(absl::StrCat(share_dir_, "/mc-after.bin").c_str());
}

// Every way of keying a channel ([MS-SMB2] 3.2.5.3.3): 3.1.1 from the binding's own preauth
// hash, 3.0/3.0.2 without; signed sessions sign the second channel with its own key (Samba
// refuses anything else), sealed ones share the session's encryption keys and nonce counter.
TEST_F(MultichannelTest, SignedAndSealedSessionsUseTheirChannelKeys) {
  struct Case {
    const char* name;
    uint16_t dialect;
    bool sign;
    bool seal;
    std::vector<Cipher> ciphers;
  };
  const Case cases[] = {
      {"3.1.1 signed (AES-GMAC)", 0x0311, true, false, {}},
      {"3.0 signed (AES-CMAC)", 0x0300, true, false, {}},
      {"3.1.1 sealed AES-256-GCM", 0x0311, false, true, {Cipher::kAes256Gcm}},
      {"3.0.2 sealed AES-128-CCM", 0x0302, false, true, {}},
  };
  std::vector<uint8_t> data(32 * kMiB), back(32 * kMiB);
  Fill(0, absl::MakeSpan(data));
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ClientOptions o = TwoChannels();
    o.max_dialect = c.dialect;
    o.require_signing = c.sign;
    o.require_encryption = c.seal;
    if (!c.ciphers.empty()) o.ciphers = c.ciphers;
    Mounted m = Mount(o);
    ASSERT_NE(m.tree, nullptr);
    ASSERT_EQ(m.client->channels().size(), 2u) << m.client->multichannel_note();
    EXPECT_EQ(m.session->signs(), c.sign);
    EXPECT_EQ(m.session->seals(), c.seal);
    OpenOptions w;
    w.write = true;
    w.disposition = 5;
    auto f = m.tree->Open("mc-keys.bin", w);
    ASSERT_TRUE(f.ok()) << f.status();
    ASSERT_TRUE((*f)->Write(0, data).ok());
    auto n = (*f)->Read(0, absl::MakeSpan(back));
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(*n, back.size());
    EXPECT_TRUE(back == data);
    for (const ChannelInfo& ch : m.client->channels()) {
      EXPECT_GT(ch.bytes_read, 0u) << ch.address;
      EXPECT_GT(ch.bytes_written, 0u) << ch.address;
    }
    EXPECT_TRUE((*f)->Close().ok());
  }
  unlink(absl::StrCat(share_dir_, "/mc-keys.bin").c_str());
}

// A binding answer whose signature does not verify (frame 1: the intermediate answer, signed
// with Session.SigningKey; frame 2: the final one, signed with the new Channel.SigningKey) is
// refused: no channel is added, and the session goes on as before on its one connection.
TEST_F(MultichannelTest, ABindingAnswerWithABadSignatureAddsNoChannel) {
  for (int frame : {1, 2}) {
    SCOPED_TRACE(absl::StrCat("tampered frame ", frame));
    CuttingProxy to_v6(env_.port, "::1");
    to_v6.TamperNextConnectionFrame(frame, [](std::vector<uint8_t>* f) {
      if (f->size() >= 4 + 64) (*f)[4 + 48] ^= 0x01;  // [MS-SMB2] 2.2.1: Signature, byte 48
    });
    Mounted m = MountVia(env_.port, TwoChannels(), &to_v6);
    ASSERT_NE(m.tree, nullptr);
    EXPECT_EQ(m.client->channels().size(), 1u);
    EXPECT_TRUE(absl::StrContains(m.client->multichannel_note(), "not added"))
        << m.client->multichannel_note();
    std::cout << m.client->multichannel_note() << "\n";
    auto info = m.tree->Stat("");
    EXPECT_TRUE(info.ok()) << info.status();
  }
}

// A second session of the same client binds itself to the channels the first one set up.
TEST_F(MultichannelTest, ASecondSessionBindsToTheSameChannels) {
  MakeSource("mc-two.bin", 64 * kMiB);
  Mounted m = Mount(TwoChannels());
  ASSERT_NE(m.tree, nullptr);
  ASSERT_EQ(m.client->channels().size(), 2u);
  auto s2 = m.client->Login(User());
  ASSERT_TRUE(s2.ok()) << s2.status();
  auto t2 = (*s2)->TreeConnect("durable");
  ASSERT_TRUE(t2.ok()) << t2.status();
  EXPECT_EQ(m.client->channels().size(), 2u) << "no third connection";
  const uint64_t before = m.client->channels()[1].bytes_read;
  auto f = (*t2)->Open("mc-two.bin", OpenOptions());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(ReadSha(f->get(), 64 * kMiB), StreamSha(64 * kMiB));
  EXPECT_GT(m.client->channels()[1].bytes_read - before, 16 * kMiB);
  EXPECT_TRUE((*f)->Close().ok());
  unlink(absl::StrCat(share_dir_, "/mc-two.bin").c_str());
}

// Off unless asked for, and never below SMB 3.0: one connection, and the note says why.
TEST_F(MultichannelTest, OneConnectionUnlessAskedAndPossible) {
  {
    Mounted m = Mount(ClientOptions());
    ASSERT_NE(m.tree, nullptr);
    EXPECT_EQ(m.client->channels().size(), 1u);
    EXPECT_TRUE(absl::StrContains(m.client->multichannel_note(), "not asked for"))
        << m.client->multichannel_note();
  }
  {
    ClientOptions o = TwoChannels();
    o.max_dialect = 0x0210;
    Mounted m = Mount(o);
    ASSERT_NE(m.tree, nullptr);
    EXPECT_EQ(m.client->channels().size(), 1u);
    EXPECT_TRUE(absl::StrContains(m.client->multichannel_note(), "below SMB 3.0"))
        << m.client->multichannel_note();
  }
}

}  // namespace
}  // namespace smbd
