// Kerberos logons against a real Active Directory domain controller: Samba's AD DC provisioned
// on loopback by tests/kerberos/addc-server (KDC and SMB server in one), with tickets from MIT
// kinit in temporary caches. Run by tests/kerberos/run-suite, which exports the KRB_TEST_*
// variables; skipped without them.
#include <openssl/sha.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "connect/connect.h"
#include "smbd/smbd.h"
#include "smb2/security/spnego.h"
#include "tests/samba/tampering_proxy.h"
#include "gtest/gtest.h"
#include "smb2/client/client.h"
#include "smb2/constants.h"
#include "smb2/ntstatus.h"

namespace smbd {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

std::vector<uint8_t> Pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

std::string Sha256Hex(absl::Span<const uint8_t> b) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(b.data(), b.size(), md);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(md), sizeof(md)));
}

class KerberosTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (port_ == 0) GTEST_SKIP() << "no domain controller (run tests/kerberos/run-suite)";
    setenv("KRB5CCNAME", Env("KRB_TEST_CCACHE").c_str(), 1);
  }

  absl::StatusOr<std::unique_ptr<Client>> Connect(const std::string& host = "localhost",
                                                  ClientOptions o = {}) {
    return ConnectTcp(host, port_, o);
  }

  static Credentials Required(std::string principal = "") {
    Credentials c;
    c.kerberos = KerberosUse::kRequire;
    c.kerberos_principal = std::move(principal);
    return c;
  }

  Credentials WithPassword() const {
    Credentials c;
    c.user = Env("KRB_TEST_USER");
    c.password = SecretBytes::FromString(Env("KRB_TEST_PASSWORD"));
    return c;
  }

  // Writes `data` to `name` on the share and reads it back, in the session given.
  void RoundTrip(Session* s, const std::string& name, const std::vector<uint8_t>& data) {
    auto t = s->TreeConnect(Env("KRB_TEST_SHARE"));
    ASSERT_TRUE(t.ok()) << t.status();
    RoundTripOn(t->get(), name, data);
  }
  // The same on a tree already connected.
  void RoundTripOn(Tree* t, const std::string& name, const std::vector<uint8_t>& data) {
    OpenOptions w;
    w.write = true;
    w.disposition = 5;  // overwrite-if
    auto f = t->Open(name, w);
    ASSERT_TRUE(f.ok()) << f.status();
    ASSERT_TRUE((*f)->Write(0, data).ok());
    std::vector<uint8_t> back(data.size() + 4096);
    auto n = (*f)->Read(0, absl::MakeSpan(back));
    ASSERT_TRUE(n.ok()) << n.status();
    back.resize(*n);
    EXPECT_EQ(Sha256Hex(back), Sha256Hex(data));
    ASSERT_TRUE((*f)->Close().ok());
    // And the server's disk holds the same bytes.
    std::ifstream disk(Env("KRB_TEST_SHARE_DIR") + "/" + name, std::ios::binary);
    std::vector<uint8_t> on_disk((std::istreambuf_iterator<char>(disk)), {});
    EXPECT_EQ(Sha256Hex(on_disk), Sha256Hex(data));
  }

  const uint16_t port_ = static_cast<uint16_t>(std::atoi(Env("KRB_TEST_SMB_PORT").c_str()));
};

struct Mode {
  const char* name;
  uint16_t dialect;
  bool seal;
  Cipher cipher;

  // Signed, or sealed with `cipher`, at most `dialect`.
  ClientOptions Options() const {
    ClientOptions o;
    o.max_dialect = dialect;
    o.require_signing = !seal;
    o.require_encryption = seal;
    o.ciphers = {cipher};
    return o;
  }
};

// Every dialect with keys and every cipher: the GSS session key (32 bytes for the domain's
// AES-256 tickets) feeds the same key derivation as NTLM's, and the AES-256 ciphers use the
// full key ([MS-SMB2] 3.2.5.3.1 FullSessionKey), so a wrong key fails the signed final
// SESSION_SETUP answer or the first sealed answer.
class KerberosModeTest : public KerberosTest, public ::testing::WithParamInterface<Mode> {};

TEST_P(KerberosModeTest, SignedOrSealedWriteAndReadBackAreEqual) {
  const Mode& m = GetParam();
  auto c = Connect("localhost", m.Options());
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ((*c)->negotiated().dialect, m.dialect);
  auto s = (*c)->Login(Required());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->auth_mechanism(), "Kerberos");
  EXPECT_TRUE(absl::StrContains((*s)->auth_note(), "as alice@SMBD.TEST to cifs/localhost"))
      << (*s)->auth_note();
  if (m.seal) {
    EXPECT_TRUE((*s)->seals());
    if (m.dialect == kDialect311) EXPECT_EQ((*c)->negotiated().cipher, m.cipher);
  } else {
    EXPECT_TRUE((*s)->signs());
  }
  RoundTrip(s->get(), absl::StrCat("krb-", m.name, ".bin"), Pattern(3 * 1048576 + 4321, 7));
}

INSTANTIATE_TEST_SUITE_P(
    Kerberos, KerberosModeTest,
    ::testing::Values(Mode{"smb311_signed", kDialect311, false, Cipher::kAes128Gcm},
                      Mode{"smb311_aes128gcm", kDialect311, true, Cipher::kAes128Gcm},
                      Mode{"smb311_aes128ccm", kDialect311, true, Cipher::kAes128Ccm},
                      Mode{"smb311_aes256gcm", kDialect311, true, Cipher::kAes256Gcm},
                      Mode{"smb311_aes256ccm", kDialect311, true, Cipher::kAes256Ccm},
                      Mode{"smb302_sealed", kDialect302, true, Cipher::kAes128Ccm},
                      Mode{"smb300_signed", kDialect300, false, Cipher::kAes128Ccm},
                      Mode{"smb210_signed", kDialect210, false, Cipher::kAes128Ccm},
                      Mode{"smb202_signed", kDialect202, false, Cipher::kAes128Ccm}),
    [](const ::testing::TestParamInfo<Mode>& i) { return std::string(i.param.name); });

TEST_F(KerberosTest, TheHostAsTypedIsThePrincipalUnlessOneIsGiven) {
  // 127.0.0.1 is not a name the domain knows: the client asks for cifs/127.0.0.1 as typed
  // (no reverse DNS to find "localhost"), and the KDC says it does not know it.
  auto c = Connect("127.0.0.1");
  ASSERT_TRUE(c.ok()) << c.status();
  auto s = (*c)->Login(Required());
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::IsUnauthenticated(s.status())) << s.status();
  EXPECT_TRUE(absl::StrContains(s.status().message(), "does not know the service principal "
                                                      "'cifs/127.0.0.1'"))
      << s.status();
  EXPECT_TRUE(absl::StrContains(s.status().message(), "NTLM not tried")) << s.status();
  // The same address with the principal named: the DC's own name, dc1.
  auto c2 = Connect("127.0.0.1");
  ASSERT_TRUE(c2.ok()) << c2.status();
  auto s2 = (*c2)->Login(Required("cifs/dc1"));
  ASSERT_TRUE(s2.ok()) << s2.status();
  EXPECT_EQ((*s2)->auth_mechanism(), "Kerberos");
  EXPECT_TRUE(absl::StrContains((*s2)->auth_note(), "to cifs/dc1")) << (*s2)->auth_note();
}

TEST_F(KerberosTest, NoTicketIsOneLineSayingKinitAndNtlmIsNotTriedWhenRequired) {
  setenv("KRB5CCNAME", Env("KRB_TEST_MISSING_CCACHE").c_str(), 1);
  auto c = Connect();
  ASSERT_TRUE(c.ok()) << c.status();
  // A password is given, and NTLM would work: Kerberos is required, so it is not used.
  Credentials cred = WithPassword();
  cred.kerberos = KerberosUse::kRequire;
  auto s = (*c)->Login(cred);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::IsUnauthenticated(s.status())) << s.status();
  EXPECT_TRUE(absl::StrContains(s.status().message(), "no ticket")) << s.status();
  EXPECT_TRUE(absl::StrContains(s.status().message(), "kinit")) << s.status();
  EXPECT_TRUE(absl::StrContains(s.status().message(), "NTLM not tried")) << s.status();
  EXPECT_FALSE(absl::StrContains(s.status().message(), "\n")) << s.status();
  EXPECT_FALSE(absl::StrContains(s.status().message(), Env("KRB_TEST_PASSWORD")));
}

TEST_F(KerberosTest, ExpiredTicketSaysKinitAgain) {
  setenv("KRB5CCNAME", Env("KRB_TEST_EXPIRED_CCACHE").c_str(), 1);
  auto c = Connect();
  ASSERT_TRUE(c.ok()) << c.status();
  auto s = (*c)->Login(Required());
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::IsUnauthenticated(s.status())) << s.status();
  EXPECT_TRUE(absl::StrContains(s.status().message(), "expired: run kinit again")) << s.status();
}

TEST_F(KerberosTest, AutoUsesTheTicketOfTheUserGivenWithoutAPassword) {
  auto c = Connect();
  ASSERT_TRUE(c.ok()) << c.status();
  Credentials cred;
  cred.user = "ALICE";  // the ticket's user, in another case
  auto s = (*c)->Login(cred);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->auth_mechanism(), "Kerberos");
  RoundTrip(s->get(), "krb-auto.bin", Pattern(100000, 3));
}

TEST_F(KerberosTest, AutoFallsBackToNtlmWithThePasswordAndSaysWhy) {
  // Kerberos is tried (the ticket is alice's) and fails (no principal for an IP address); the
  // password then logs in with NTLM on a new SESSION_SETUP.
  auto c = Connect("127.0.0.1");
  ASSERT_TRUE(c.ok()) << c.status();
  auto s = (*c)->Login(WithPassword());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->auth_mechanism(), "NTLM");
  EXPECT_TRUE(absl::StrContains((*s)->auth_note(), "Kerberos not used: Kerberos: the KDC does "
                                                   "not know the service principal"))
      << (*s)->auth_note();
  RoundTrip(s->get(), "krb-fallback.bin", Pattern(100000, 4));
}

TEST_F(KerberosTest, AutoDoesNotUseAnotherUsersTicket) {
  auto c = Connect();
  ASSERT_TRUE(c.ok()) << c.status();
  Credentials cred;
  cred.user = "administrator";
  cred.password = SecretBytes::FromString("wrong-on-purpose");
  auto s = (*c)->Login(cred);
  // NTLM as administrator with a wrong password: refused, and not logged in as alice.
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::IsUnauthenticated(s.status())) << s.status();
  EXPECT_TRUE(absl::StrContains(s.status().message(), "STATUS_LOGON_FAILURE")) << s.status();
  EXPECT_TRUE(absl::StrContains(s.status().message(), "ticket is for alice@SMBD.TEST"))
      << s.status();
  // The note about Kerberos keeps the server's NTSTATUS on the error.
  EXPECT_EQ(NtStatusOf(s.status()), ntstatus::kLogonFailure) << s.status();
}

TEST_F(KerberosTest, NeverMeansNtlmEvenWithATicket) {
  auto c = Connect();
  ASSERT_TRUE(c.ok()) << c.status();
  Credentials cred = WithPassword();
  cred.kerberos = KerberosUse::kNever;
  auto s = (*c)->Login(cred);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->auth_mechanism(), "NTLM");
  EXPECT_FALSE(absl::StrContains((*s)->auth_note(), "Kerberos")) << (*s)->auth_note();
}

TEST_F(KerberosTest, RequiredKerberosRefusesAnonymousAndGuest) {
  auto c = Connect();
  ASSERT_TRUE(c.ok()) << c.status();
  Credentials cred = Required();
  cred.anonymous = true;
  auto s = (*c)->Login(cred);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(s.status())) << s.status();
}

TEST_F(KerberosTest, SeveralSessionsOnOneConnectionEachWithItsOwnKey) {
  ClientOptions o;
  o.require_encryption = true;
  auto c = Connect("localhost", o);
  ASSERT_TRUE(c.ok()) << c.status();
  auto s1 = (*c)->Login(Required());
  ASSERT_TRUE(s1.ok()) << s1.status();
  auto s2 = (*c)->Login(Required());
  ASSERT_TRUE(s2.ok()) << s2.status();
  EXPECT_NE((*s1)->id(), (*s2)->id());
  RoundTrip(s1->get(), "krb-s1.bin", Pattern(200000, 5));
  RoundTrip(s2->get(), "krb-s2.bin", Pattern(200000, 6));
}

// A man in the middle changes the server's AP-REP (mutual authentication) in the final
// SESSION_SETUP answer: the logon is refused with a Kerberos error, before any key is used.
// SESSION_SETUP response body ([MS-SMB2] 2.2.6): SecurityBufferOffset at 4, Length at 6.
void ReplaceSecurityBuffer(std::vector<uint8_t>* frame, const std::vector<uint8_t>& token) {
  const size_t body = 64;
  const uint16_t offset = (*frame)[body + 4] | ((*frame)[body + 5] << 8);
  frame->resize(offset);
  frame->insert(frame->end(), token.begin(), token.end());
  (*frame)[body + 6] = static_cast<uint8_t>(token.size());
  (*frame)[body + 7] = static_cast<uint8_t>(token.size() >> 8);
}

struct ApRepCase {
  const char* name;
  testing_samba::TamperingProxy::Tamper tamper;
  const char* error;
};

class ApRepTamperTest : public KerberosTest, public ::testing::WithParamInterface<ApRepCase> {};

TEST_P(ApRepTamperTest, LogonRefused) {
  testing_samba::TamperingProxy proxy("127.0.0.1", port_);
  proxy.ArmForCommand(1 /* SESSION_SETUP */, GetParam().tamper);
  ClientOptions o;
  o.server_name = "localhost";  // the principal is cifs/localhost; the proxy is on 127.0.0.1
  auto c = ConnectTcp("127.0.0.1", proxy.port(), o);
  ASSERT_TRUE(c.ok()) << c.status();
  auto s = (*c)->Login(Required());
  ASSERT_FALSE(s.ok()) << "a session with a " << GetParam().name << " was accepted";
  EXPECT_EQ(proxy.tampered(), 1);
  EXPECT_TRUE(absl::IsUnauthenticated(s.status())) << s.status();
  EXPECT_TRUE(absl::StrContains(s.status().message(), GetParam().error)) << s.status();
}

std::vector<ApRepCase> ApRepCases() {
  return {
      {"flipped AP-REP",
       [](std::vector<uint8_t>* f, const std::vector<uint8_t>&) {
         // The last bytes of the security buffer are the AP-REP's encrypted part.
         (*f)[f->size() - 8] ^= 0x01;
       },
       "AP-REP does not verify"},
      {"missing AP-REP",
       [](std::vector<uint8_t>* f, const std::vector<uint8_t>&) {
         NegTokenResp r;
         r.neg_state = NegState::kAcceptCompleted;
         r.supported_mech = KerberosOid();
         ReplaceSecurityBuffer(f, EncodeNegTokenResp(r));
       },
       "carries no AP-REP"},
      {"empty security buffer",
       [](std::vector<uint8_t>* f, const std::vector<uint8_t>&) { ReplaceSecurityBuffer(f, {}); },
       "sent no AP-REP"},
      {"forged mechListMIC",
       [](std::vector<uint8_t>* f, const std::vector<uint8_t>&) {
         // The genuine AP-REP, with a mechListMIC the server did not make.
         const size_t body = 64;
         const uint16_t offset = (*f)[body + 4] | ((*f)[body + 5] << 8);
         const uint16_t length = (*f)[body + 6] | ((*f)[body + 7] << 8);
         absl::StatusOr<NegTokenResp> r = ParseNegTokenResp(
             absl::MakeConstSpan(f->data() + offset, std::min<size_t>(length, f->size() - offset)));
         if (!r.ok()) return;
         r->mech_list_mic = std::vector<uint8_t>(28, 0x5a);
         ReplaceSecurityBuffer(f, EncodeNegTokenResp(*r));
       },
       "mechListMIC does not verify"},
      {"NTLM chosen instead",
       [](std::vector<uint8_t>* f, const std::vector<uint8_t>&) {
         NegTokenResp r;
         r.neg_state = NegState::kAcceptCompleted;
         r.supported_mech = NtlmsspOid();
         r.response_token = std::vector<uint8_t>{1, 2, 3};
         ReplaceSecurityBuffer(f, EncodeNegTokenResp(r));
       },
       "other than Kerberos"},
  };
}

INSTANTIATE_TEST_SUITE_P(
    Kerberos, ApRepTamperTest, ::testing::ValuesIn(ApRepCases()),
    [](const ::testing::TestParamInfo<ApRepCase>& i) {
      std::string n = i.param.name;
      for (char& ch : n) if (ch == ' ' || ch == '-') ch = '_';
      return n;
    });

// Under kAuto, with a password that NTLM would accept: a Kerberos answer that does not prove the
// server's identity ends the logon. Falling back would hand a man in the middle an NTLM
// exchange to relay or crack, so NTLM is not tried on this connection.
TEST_F(KerberosTest, NoNtlmFallbackAfterAnAnswerThatProvesNothing) {
  testing_samba::TamperingProxy proxy("127.0.0.1", port_);
  proxy.ArmForCommand(1 /* SESSION_SETUP */,
                      [](std::vector<uint8_t>* f, const std::vector<uint8_t>&) {
                        (*f)[f->size() - 8] ^= 0x01;  // the AP-REP's encrypted part
                      });
  ClientOptions o;
  o.server_name = "localhost";
  auto c = ConnectTcp("127.0.0.1", proxy.port(), o);
  ASSERT_TRUE(c.ok()) << c.status();
  auto s = (*c)->Login(WithPassword());
  ASSERT_FALSE(s.ok()) << "logged in by " << (*s)->auth_mechanism();
  EXPECT_EQ(proxy.tampered(), 1);
  EXPECT_TRUE(absl::StrContains(s.status().message(), "not falling back to NTLM")) << s.status();
  EXPECT_TRUE(absl::StrContains(s.status().message(), "AP-REP does not verify")) << s.status();
}

// Multichannel by Kerberos ([MS-SMB2] 3.2.4.2.3, 3.2.5.3.3): the DC's smbd lists 127.0.0.1 and
// ::1 (addc-server); the client connects to the first and binds a channel at ::1 with a new
// AP-REQ for the same service (cifs/localhost). Credentials without a user or password: the
// binding can only be Kerberos. The channel's signing key comes from the binding exchange's own
// GSS session key (and, on 3.1.1, the channel's preauth hash): a wrong one fails the signature
// of the final binding answer (no channel) or Samba's check of the first signed request on it.
// Sealed requests on the channel use the session's keys, checked the same way by Samba.
class KerberosBindingTest : public KerberosTest, public ::testing::WithParamInterface<Mode> {};

TEST_P(KerberosBindingTest, BindsASecondChannelByKerberosAndBothCarryTheIo) {
  if (Env("KRB_TEST_HOST6").empty()) {
    GTEST_SKIP() << "no ::1 on loopback: the DC lists one address, so no second channel";
  }
  const Mode& m = GetParam();
  ClientOptions o = m.Options();
  o.multichannel.max_channels = 2;
  o.server_name = "localhost";  // the principal is cifs/localhost; the channel goes to ::1
  auto c = ConnectTcp("127.0.0.1", port_, o);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ((*c)->negotiated().dialect, m.dialect);
  auto s = (*c)->Login(Required());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->auth_mechanism(), "Kerberos");
  auto t = (*s)->TreeConnect(Env("KRB_TEST_SHARE"));  // channels are bound after the first
  ASSERT_TRUE(t.ok()) << t.status();
  std::vector<ChannelInfo> channels = (*c)->channels();
  ASSERT_EQ(channels.size(), 2u) << (*c)->multichannel_note();
  EXPECT_EQ(channels[1].address, "::1");
  EXPECT_EQ((*c)->stats().channels, 2u);

  // 24 MiB and a bit, written and read in one call each: pipelined requests, spread by the
  // link speeds (1 and 2 Gbit/s), so both channels carry some of each.
  const std::vector<uint8_t> data = Pattern(24 * 1048576 + 777, 11);
  RoundTripOn(t->get(), absl::StrCat("krb-mc-", m.name, ".bin"), data);

  channels = (*c)->channels();
  ASSERT_EQ(channels.size(), 2u);
  for (const ChannelInfo& ch : channels) {
    EXPECT_TRUE(ch.up) << ch.address;
    EXPECT_GT(ch.bytes_written, 0u) << ch.address;
    EXPECT_GT(ch.bytes_read, 0u) << ch.address;
  }
  EXPECT_EQ(channels[0].bytes_written + channels[1].bytes_written, data.size());
  EXPECT_EQ(channels[0].bytes_read + channels[1].bytes_read, data.size());
  EXPECT_EQ((*c)->stats().channels_lost, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Kerberos, KerberosBindingTest,
    ::testing::Values(Mode{"smb311_signed", kDialect311, false, Cipher::kAes128Gcm},
                      Mode{"smb311_aes256gcm", kDialect311, true, Cipher::kAes256Gcm},
                      Mode{"smb300_signed", kDialect300, false, Cipher::kAes128Ccm}),
    [](const ::testing::TestParamInfo<Mode>& i) { return std::string(i.param.name); });

// The C API: no user at all, SMBD_KERBEROS_REQUIRE, the ticket's user logs in.
TEST_F(KerberosTest, CApiLogsInWithTheTicketAndNoUser) {
  const std::vector<uint8_t> data = Pattern(300000, 9);
  {
    std::ofstream out(Env("KRB_TEST_SHARE_DIR") + "/krb-capi.bin", std::ios::binary);
    out.write(reinterpret_cast<const char*>(data.data()), data.size());
  }
  smbd_options o;
  smbd_options_init(&o);
  o.transport = SMBD_TRANSPORT_TCP;
  o.kerberos = SMBD_KERBEROS_REQUIRE;
  o.seal = 1;
  smbd_client* client = nullptr;
  smbd_error err{};
  ASSERT_EQ(smbd_connect_host("localhost", port_, Env("KRB_TEST_SHARE").c_str(), &o, &client,
                              &err),
            SMBD_OK)
      << err.message;
  EXPECT_STREQ(smbd_client_auth_mechanism(client), "Kerberos");
  smbd_file* f = nullptr;
  ASSERT_EQ(smbd_open(client, "krb-capi.bin", SMBD_O_READ, &f, &err), SMBD_OK) << err.message;
  std::vector<uint8_t> back(data.size());
  size_t done = 0;
  ASSERT_EQ(smbd_read(f, 0, back.data(), back.size(), &done, &err), SMBD_OK) << err.message;
  EXPECT_EQ(done, data.size());
  EXPECT_EQ(Sha256Hex(back), Sha256Hex(data));
  EXPECT_EQ(smbd_close(f, &err), SMBD_OK);
  EXPECT_EQ(smbd_disconnect(client, &err), SMBD_OK);

  // Without a ticket: SMBD_EAUTH and the one line that says kinit.
  setenv("KRB5CCNAME", Env("KRB_TEST_MISSING_CCACHE").c_str(), 1);
  client = nullptr;
  EXPECT_EQ(smbd_connect_host("localhost", port_, Env("KRB_TEST_SHARE").c_str(), &o, &client,
                              &err),
            SMBD_EAUTH);
  EXPECT_EQ(client, nullptr);
  EXPECT_TRUE(absl::StrContains(err.message, "kinit")) << err.message;
  // An out-of-range mode is refused before anything is sent.
  o.kerberos = 7;
  EXPECT_EQ(smbd_connect_host("localhost", port_, Env("KRB_TEST_SHARE").c_str(), &o, &client,
                              &err),
            SMBD_EINVAL);
}

}  // namespace
}  // namespace smbd
