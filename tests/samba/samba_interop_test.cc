// Interop tests against a real Samba smbd on loopback (tests/samba/run-suite starts it and
// exports its address and credentials; see samba-server).
#include <openssl/sha.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "smb2/client/client.h"
#include "smb2/ntstatus.h"
#include "tests/samba/samba_env.h"

namespace smbd {
namespace {

using testing_samba::SambaEnv;

class SambaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!env_.ok()) GTEST_SKIP() << "no Samba server in the environment (run tests/samba/run-suite)";
  }

  absl::StatusOr<std::unique_ptr<Client>> Connect(ClientOptions o = {}, uint16_t port = 0) {
    return Client::ConnectTcp(env_.host, port ? port : env_.port, o);
  }
  Credentials User() const {
    Credentials c;
    c.user = env_.user;
    c.password = SecretBytes::FromString(env_.password);
    return c;
  }

  SambaEnv env_;
};

std::vector<uint8_t> Pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

TEST_F(SambaTest, NegotiatesSmb311AndLogsIn) {
  auto c = Connect();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->negotiated().dialect, kDialect311);
  EXPECT_GE((*c)->negotiated().max_read_size, 65536u);
  auto s = (*c)->Login(User());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_NE((*s)->id(), 0u);
  EXPECT_FALSE((*s)->is_guest());
  auto t = (*s)->TreeConnect("share");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_NE((*t)->id(), 0u);
}

TEST_F(SambaTest, WrongPasswordIsAClearAuthenticationError) {
  auto c = Connect();
  ASSERT_TRUE(c.ok()) << c.status();
  Credentials bad = User();
  bad.password = SecretBytes::FromString("not-the-password");
  auto s = (*c)->Login(bad);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(s.status().message().find("STATUS_LOGON_FAILURE"), absl::string_view::npos)
      << s.status();
  EXPECT_EQ(s.status().message().find("not-the-password"), absl::string_view::npos);
}

TEST_F(SambaTest, WriteThenReadBackAndStat) {
  auto c = Connect();
  ASSERT_TRUE(c.ok()) << c.status();
  auto s = (*c)->Login(User());
  ASSERT_TRUE(s.ok()) << s.status();
  auto t = (*s)->TreeConnect("share");
  ASSERT_TRUE(t.ok()) << t.status();
  OpenOptions w;
  w.write = true;
  w.disposition = 5;  // overwrite-if
  auto f = (*t)->Open("interop/../wr.bin", w);
  if (!f.ok()) f = (*t)->Open("wr.bin", w);
  ASSERT_TRUE(f.ok()) << f.status();
  std::vector<uint8_t> data = Pattern(3 * 1048576 + 12345, 1);
  ASSERT_TRUE((*f)->Write(0, data).ok());
  std::vector<uint8_t> back(data.size() + 100);
  auto n = (*f)->Read(0, absl::MakeSpan(back));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, data.size());
  back.resize(*n);
  EXPECT_TRUE(back == data);
  auto st = (*f)->Stat();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->size, data.size());
  ASSERT_TRUE((*f)->Close().ok());
  // The bytes on the server's disk are ours.
  std::ifstream disk(env_.share_dir + "/wr.bin", std::ios::binary);
  std::vector<uint8_t> on_disk((std::istreambuf_iterator<char>(disk)), {});
  EXPECT_TRUE(on_disk == data);
  auto st2 = (*t)->Stat("wr.bin");
  ASSERT_TRUE(st2.ok()) << st2.status();
  EXPECT_EQ(st2->size, data.size());
  EXPECT_FALSE(st2->is_directory());
}

TEST_F(SambaTest, MissingFileIsNotFound) {
  auto c = Connect();
  ASSERT_TRUE(c.ok());
  auto s = (*c)->Login(User());
  ASSERT_TRUE(s.ok());
  auto t = (*s)->TreeConnect("share");
  ASSERT_TRUE(t.ok()) << t.status();
  auto f = (*t)->Open("no/such/file.txt", OpenOptions());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound) << f.status();
  auto st = (*t)->Stat("nope.txt");
  EXPECT_EQ(st.status().code(), absl::StatusCode::kNotFound) << st.status();
  EXPECT_EQ(NtStatusOf(st.status()), ntstatus::kObjectNameNotFound);
}

TEST_F(SambaTest, ReadOnlyShareRefusesWrites) {
  auto c = Connect();
  ASSERT_TRUE(c.ok());
  auto s = (*c)->Login(User());
  ASSERT_TRUE(s.ok());
  auto t = (*s)->TreeConnect("readonly");
  ASSERT_TRUE(t.ok()) << t.status();
  OpenOptions w;
  w.write = true;
  w.disposition = 5;
  auto f = (*t)->Open("x.txt", w);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kPermissionDenied) << f.status();
}

TEST_F(SambaTest, SmallFileInOneCompoundRoundTrip) {
  auto c = Connect();
  ASSERT_TRUE(c.ok());
  auto s = (*c)->Login(User());
  ASSERT_TRUE(s.ok());
  auto t = (*s)->TreeConnect("share");
  ASSERT_TRUE(t.ok()) << t.status();
  {
    std::ofstream out(env_.share_dir + "/small.txt");
    out << "hello from the server's disk\n";
  }
  const uint64_t before = (*c)->stats().round_trips;
  auto got = (*t)->ReadSmallFile("small.txt", 65536);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "hello from the server's disk\n");
  EXPECT_EQ((*c)->stats().round_trips - before, 1u);  // CREATE+READ+CLOSE in one frame
  auto st0 = (*c)->stats().round_trips;
  auto st = (*t)->Stat("small.txt");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->size, 29u);
  EXPECT_EQ((*c)->stats().round_trips - st0, 1u);
}

struct Mode {
  uint16_t dialect;
  bool sign;
  bool seal;
  Cipher cipher;
};

class SambaModeTest : public SambaTest, public ::testing::WithParamInterface<Mode> {};

TEST_P(SambaModeTest, ReadWriteRoundTrip) {
  const Mode m = GetParam();
  ClientOptions o;
  o.min_dialect = o.max_dialect = m.dialect;
  o.require_signing = m.sign;
  o.require_encryption = m.seal;
  o.ciphers = {m.cipher};
  auto c = Connect(o, m.sign && !m.seal ? env_.signed_port : 0);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->negotiated().dialect, m.dialect);
  auto s = (*c)->Login(User());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->signs(), m.sign);
  EXPECT_EQ((*s)->seals(), m.seal);
  auto t = (*s)->TreeConnect(m.sign && !m.seal ? "signed" : "share");
  ASSERT_TRUE(t.ok()) << t.status();
  OpenOptions w;
  w.write = true;
  w.disposition = 5;
  const std::string name = absl::StrCat("mode-", m.dialect, "-", m.sign, m.seal,
                                        static_cast<int>(m.cipher), ".bin");
  auto f = (*t)->Open(name, w);
  ASSERT_TRUE(f.ok()) << f.status();
  std::vector<uint8_t> data = Pattern(700001, m.dialect);
  ASSERT_TRUE((*f)->Write(0, data).ok());
  std::vector<uint8_t> back(data.size());
  auto n = (*f)->Read(0, absl::MakeSpan(back));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, data.size());
  EXPECT_TRUE(back == data);
}

std::vector<Mode> AllModes() {
  std::vector<Mode> v;
  for (uint16_t d : {kDialect202, kDialect210, kDialect300, kDialect302, kDialect311}) {
    v.push_back({d, false, false, Cipher::kAes128Gcm});
    v.push_back({d, true, false, Cipher::kAes128Gcm});
    if (d >= kDialect300) {
      if (d == kDialect311) {
        for (Cipher c : {Cipher::kAes128Ccm, Cipher::kAes128Gcm, Cipher::kAes256Ccm,
                         Cipher::kAes256Gcm}) {
          v.push_back({d, false, true, c});
        }
      } else {
        v.push_back({d, false, true, Cipher::kAes128Ccm});
      }
    }
  }
  return v;
}

std::string ModeName(const ::testing::TestParamInfo<Mode>& info) {
  const Mode& m = info.param;
  std::string cipher = CipherName(m.cipher);
  cipher.erase(std::remove(cipher.begin(), cipher.end(), '-'), cipher.end());
  return absl::StrCat("d", absl::Hex(m.dialect), m.sign ? "_signed" : "",
                      m.seal ? absl::StrCat("_sealed_", cipher) : "",
                      !m.sign && !m.seal ? "_plain" : "");
}

INSTANTIATE_TEST_SUITE_P(Dialects, SambaModeTest, ::testing::ValuesIn(AllModes()), ModeName);

}  // namespace
}  // namespace smbd
