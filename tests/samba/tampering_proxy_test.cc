// A man in the middle between the client and a real Samba: a loopback proxy that forwards both
// directions and, when armed, tampers with the next frame from the server (a bit of READ data,
// the signature, the SIGNED flag, the ciphertext, the AEAD tag, the transform header's
// SessionId). On a signed or sealed session the client must refuse every such frame with a
// clear error in bounded time, never hand the tampered bytes to the caller as good data, and
// leave other connections of the process working ([MS-SMB2] 3.2.5.1.1.1, 3.2.5.1.3).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "connect/connect.h"
#include "gtest/gtest.h"
#include "smb2/client/client.h"
#include "tests/samba/samba_env.h"
#include "tests/samba/tampering_proxy.h"

namespace smbd {
namespace {

using testing_samba::Pattern;
using testing_samba::SambaEnv;
using testing_samba::TamperingProxy;

struct Case {
  const char* name;
  const char* share;
  bool signed_server;  // the signing-required Samba instance
  TamperingProxy::Tamper tamper;
  absl::StatusCode code;
  const char* message;  // part of the error's text
};

// Offsets: SMB2 header Flags at 16 (SIGNED 0x8), Signature at 48 ([MS-SMB2] 2.2.1.2);
// TRANSFORM_HEADER Signature at 4, SessionId at 44, ciphertext after 52 ([MS-SMB2] 2.2.41).
std::vector<Case> Cases() {
  return {
      {"SignedDataBitFlipped", "signed", true,
       [](std::vector<uint8_t>* f, const std::vector<uint8_t>&) { f->back() ^= 0x01; },
       absl::StatusCode::kUnauthenticated, "signature mismatch"},
      {"SignatureBitFlipped", "signed", true,
       [](std::vector<uint8_t>* f, const std::vector<uint8_t>&) { (*f)[48] ^= 0x80; },
       absl::StatusCode::kUnauthenticated, "signature mismatch"},
      {"SignedFlagCleared", "signed", true,
       [](std::vector<uint8_t>* f, const std::vector<uint8_t>&) { (*f)[16] &= ~0x08; },
       absl::StatusCode::kPermissionDenied, "not signed"},
      {"CiphertextBitFlipped", "sealed", false,
       [](std::vector<uint8_t>* f, const std::vector<uint8_t>&) { f->back() ^= 0x01; },
       absl::StatusCode::kUnauthenticated, "does not verify"},
      {"AeadTagBitFlipped", "sealed", false,
       [](std::vector<uint8_t>* f, const std::vector<uint8_t>&) { (*f)[4] ^= 0x01; },
       absl::StatusCode::kUnauthenticated, "does not verify"},
      {"TransformForAnotherSession", "sealed", false,
       [](std::vector<uint8_t>* f, const std::vector<uint8_t>&) { (*f)[44] ^= 0x01; },
       absl::StatusCode::kDataLoss, "no keys here"},
      // An earlier, correctly signed or sealed answer sent again in place of the real one: it
      // answers a message id that is no longer in flight, so it is dropped, and the READ ends
      // at its timeout.
      {"SignedAnswerReplayed", "signed", true,
       [](std::vector<uint8_t>* f, const std::vector<uint8_t>& prev) { *f = prev; },
       absl::StatusCode::kDeadlineExceeded, ""},
      {"SealedAnswerReplayed", "sealed", false,
       [](std::vector<uint8_t>* f, const std::vector<uint8_t>& prev) { *f = prev; },
       absl::StatusCode::kDeadlineExceeded, ""},
  };
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class TamperingTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    if (!env_.ok())
      GTEST_SKIP() << "no Samba server in the environment (run tests/samba/run-suite)";
  }
  SambaEnv env_;
};


TEST_P(TamperingTest, RefusedWithAClearErrorAndOthersUnaffected) {
  const Case c = GetParam();
  const uint16_t port = c.signed_server ? env_.signed_port : env_.port;
  TamperingProxy proxy(env_.host, port);
  ClientOptions o;
  o.request_timeout = absl::Seconds(5);
  o.max_io = 65536;
  o.window_bytes = 65536;  // one READ in flight: the next server frame is its answer
  Credentials cred;
  cred.user = env_.user;
  cred.password = SecretBytes::FromString(env_.password);

  auto client = ConnectTcp("127.0.0.1", proxy.port(), o);
  ASSERT_TRUE(client.ok()) << client.status();
  auto session = (*client)->Login(cred);
  ASSERT_TRUE(session.ok()) << session.status();
  auto tree = (*session)->TreeConnect(c.share);
  ASSERT_TRUE(tree.ok()) << tree.status();
  ASSERT_TRUE((*session)->signs() || (*session)->seals());
  OpenOptions w;
  w.write = true;
  w.disposition = 5;
  auto file = (*tree)->Open(absl::StrCat("tamper-", c.name, ".bin"), w);
  ASSERT_TRUE(file.ok()) << file.status();
  const std::vector<uint8_t> data = Pattern(65536, 3);
  ASSERT_TRUE((*file)->Write(0, data).ok());

  // An untouched read first: the proxy itself is transparent.
  std::vector<uint8_t> back(65536 + 64, 0x5C);
  auto n = (*file)->Read(0, absl::MakeSpan(back).subspan(0, 65536));
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_EQ(0, std::memcmp(back.data(), data.data(), data.size()));

  // A second connection of the process, straight to Samba.
  auto other = ConnectTcp(env_.host, port, o);
  ASSERT_TRUE(other.ok()) << other.status();
  auto other_session = (*other)->Login(cred);
  ASSERT_TRUE(other_session.ok()) << other_session.status();
  auto other_tree = (*other_session)->TreeConnect(c.share);
  ASSERT_TRUE(other_tree.ok()) << other_tree.status();

  proxy.Arm(c.tamper);
  std::fill(back.begin(), back.end(), 0x5C);
  const absl::Time start = absl::Now();
  n = (*file)->Read(0, absl::MakeSpan(back).subspan(0, 65536));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_EQ(proxy.tampered(), 1);
  ASSERT_FALSE(n.ok()) << c.name << ": tampered READ accepted";
  EXPECT_EQ(n.status().code(), c.code) << n.status();
  EXPECT_NE(n.status().message().find(c.message), absl::string_view::npos) << n.status();
  for (size_t i = 65536; i < back.size(); ++i) ASSERT_EQ(back[i], 0x5C) << "wrote past";
  if ((*session)->seals()) {
    // Nothing from a frame that failed authentication reaches the caller: the READ's data was
    // decrypted straight into the buffer and is wiped when the tag does not verify (or never
    // placed at all). Random data matches a wiped or untouched buffer in ~1/256 of the bytes.
    size_t same = 0;
    for (size_t i = 0; i < 65536; ++i) same += back[i] == data[i] ? 1 : 0;
    EXPECT_LT(same, 1024u) << "unauthenticated bytes in the caller's buffer";
  }
  // The other connection works.
  auto st = (*other_tree)->Stat(absl::StrCat("tamper-", c.name, ".bin"));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->size, 65536u);
}

INSTANTIATE_TEST_SUITE_P(Frames, TamperingTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           return std::string(i.param.name);
                         });

// On a 3.1.1 session that does not sign everything, the client signs
// TREE_CONNECT ([MS-SMB2] 3.2.4.1.1). A man in the middle that clears SHAREFLAG_ENCRYPT_DATA
// (and the SIGNED flag, to get past the signature) in Samba's answer for an encrypted share
// would strip its encryption; the client refuses the unsigned answer.
// A lease break in the clear, forged by a man in the middle for a lease of ours: on a session
// that encrypts it is dropped (only a break sealed with the session's keys counts); on one that
// does not, nothing tells it from the server's (notifications carry no signature, [MS-SMB2]
// 3.3.4.7), so it lowers the lease.
std::vector<uint8_t> ForgedLeaseBreak(const std::array<uint8_t, 16>& key) {
  std::vector<uint8_t> m(64 + 44, 0);
  const uint8_t proto[4] = {0xFE, 'S', 'M', 'B'};
  std::copy(proto, proto + 4, m.begin());
  m[4] = 64;                         // StructureSize
  m[12] = 0x12;                      // OPLOCK_BREAK
  m[16] = 0x01;                      // SERVER_TO_REDIR
  std::fill(m.begin() + 24, m.begin() + 32, 0xFF);  // MessageId 0xFFFFFFFFFFFFFFFF
  uint8_t* b = m.data() + 64;
  b[0] = 44;                         // StructureSize
  b[2] = 9;                          // NewEpoch
  b[4] = 0x01;                       // ACK_REQUIRED
  std::copy(key.begin(), key.end(), b + 8);
  b[24] = 0x07;                      // CurrentLeaseState RWH
  b[28] = 0x00;                      // NewLeaseState none
  return m;
}

TEST_F(TamperingTest, PlaintextLeaseBreakIsDroppedOnAnEncryptedSession) {
  for (const bool sealed : {true, false}) {
    SCOPED_TRACE(sealed ? "sealed session" : "plain session");
    TamperingProxy proxy(env_.host, env_.port);
    ClientOptions o;
    o.require_encryption = sealed;
    auto c = ConnectTcp(env_.host, proxy.port(), o);
    ASSERT_TRUE(c.ok()) << c.status();
    Credentials cred;
    cred.user = env_.user;
    cred.password = SecretBytes::FromString(env_.password);
    auto s = (*c)->Login(cred);
    ASSERT_TRUE(s.ok()) << s.status();
    auto t = (*s)->TreeConnect("share");
    ASSERT_TRUE(t.ok()) << t.status();
    OpenOptions oo;
    oo.write = true;
    oo.disposition = 5;
    oo.lease = lease::kRead | lease::kHandle | lease::kWrite;
    auto f = (*t)->Open(sealed ? "forged-break-sealed.bin" : "forged-break.bin", oo);
    ASSERT_TRUE(f.ok()) << f.status();
    ASSERT_EQ((*f)->lease_state(), lease::kRead | lease::kHandle | lease::kWrite);
    ASSERT_TRUE(proxy.InjectToClient(ForgedLeaseBreak((*f)->lease_key())));
    // A round trip later (the Stat) the notification has been handled.
    absl::SleepFor(absl::Milliseconds(200));
    ASSERT_TRUE((*f)->Stat().ok());
    const ClientStats st = (*c)->stats();
    if (sealed) {
      EXPECT_EQ(st.unauthenticated_lease_breaks, 1u);
      EXPECT_EQ((*f)->lease_state(), lease::kRead | lease::kHandle | lease::kWrite);
      EXPECT_EQ((*f)->lease_breaks(), 0u);
    } else {
      EXPECT_EQ(st.unauthenticated_lease_breaks, 0u);
      EXPECT_EQ((*f)->lease_state(), 0u);
      EXPECT_EQ((*f)->lease_breaks(), 1u);
    }
  }
}

TEST_F(TamperingTest, UnsignedTreeConnectAnswerCannotStripShareEncryption) {
  TamperingProxy proxy(env_.host, env_.port);
  Credentials cred;
  cred.user = env_.user;
  cred.password = SecretBytes::FromString(env_.password);
  ClientOptions o;
  o.request_timeout = absl::Seconds(5);
  auto client = ConnectTcp("127.0.0.1", proxy.port(), o);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_EQ((*client)->negotiated().dialect, 0x0311);
  auto session = (*client)->Login(cred);
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_FALSE((*session)->signs());
  ASSERT_FALSE((*session)->seals());
  proxy.ArmForCommand(0x0003, [](std::vector<uint8_t>* f, const std::vector<uint8_t>&) {
    // [MS-SMB2] 2.2.1: Flags at 16 (SIGNED 0x8); 2.2.10: ShareFlags at 64 + 4 (ENCRYPT 0x8000).
    (*f)[16] &= static_cast<uint8_t>(~0x08);
    std::fill(f->begin() + 48, f->begin() + 64, 0);
    (*f)[64 + 5] &= static_cast<uint8_t>(~0x80);
  });
  auto tree = (*session)->TreeConnect("sealed");
  EXPECT_EQ(proxy.tampered(), 1);
  ASSERT_FALSE(tree.ok()) << "share encryption stripped by an unsigned TREE_CONNECT answer";
  EXPECT_EQ(tree.status().code(), absl::StatusCode::kPermissionDenied) << tree.status();
  EXPECT_NE(tree.status().message().find("not signed"), absl::string_view::npos)
      << tree.status();
  // Untouched, the same share is encrypted.
  auto tree2 = (*session)->TreeConnect("sealed");
  ASSERT_TRUE(tree2.ok()) << tree2.status();
  EXPECT_TRUE((*tree2)->encrypted());
}

}  // namespace
}  // namespace smbd
