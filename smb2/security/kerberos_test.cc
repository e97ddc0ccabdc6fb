// Kerberos without a KDC: naming, error messages, and refusals that happen before any ticket is
// used. The exchange itself runs against a real Samba AD domain controller in
// tests/kerberos (kerberos_interop_test).
#include "smb2/security/kerberos.h"

#include <gssapi/gssapi.h>
#include <krb5/krb5.h>
#include <stdlib.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "smb2/security/spnego.h"

namespace smbd {
namespace {

TEST(KerberosTest, DefaultPrincipalIsCifsSlashTheHostAsTyped) {
  EXPECT_EQ(DefaultSmbPrincipal("fs1.example.com"), "cifs/fs1.example.com");
  EXPECT_EQ(DefaultSmbPrincipal("FS1"), "cifs/FS1");
  EXPECT_EQ(DefaultSmbPrincipal("[fd00::5]"), "cifs/fd00::5");
}

TEST(KerberosTest, PrincipalIsUserComparesTheUserPartInAnyCase) {
  EXPECT_TRUE(KerberosPrincipalIsUser("alice@EXAMPLE.COM", "alice"));
  EXPECT_TRUE(KerberosPrincipalIsUser("alice@EXAMPLE.COM", "ALICE@example.com"));
  EXPECT_TRUE(KerberosPrincipalIsUser("alice@EXAMPLE.COM", "EXAMPLE\\Alice"));
  EXPECT_TRUE(KerberosPrincipalIsUser("alice@EXAMPLE.COM", ""));
  EXPECT_FALSE(KerberosPrincipalIsUser("alice@EXAMPLE.COM", "bob"));
  EXPECT_FALSE(KerberosPrincipalIsUser("alice@EXAMPLE.COM", "alic"));
  EXPECT_FALSE(KerberosPrincipalIsUser("alice@EXAMPLE.COM", "EXAMPLE\\alicex"));
  // A realm given with the user must match the ticket's.
  EXPECT_FALSE(KerberosPrincipalIsUser("alice@OTHER.REALM", "alice@example.com"));
  EXPECT_FALSE(KerberosPrincipalIsUser("alice", "alice@example.com"));
}

TEST(KerberosTest, ErrorsSayWhatToDo) {
  absl::Status s = KerberosError(GSS_S_FAILURE, KRB5KRB_AP_ERR_SKEW, "cifs/fs1", "AP-REQ");
  EXPECT_TRUE(absl::IsUnauthenticated(s));
  EXPECT_NE(s.message().find("clock skew"), absl::string_view::npos) << s;

  s = KerberosError(GSS_S_CREDENTIALS_EXPIRED, 0, "cifs/fs1", "AP-REQ");
  EXPECT_NE(s.message().find("expired: run kinit"), absl::string_view::npos) << s;
  s = KerberosError(GSS_S_FAILURE, KRB5KRB_AP_ERR_TKT_EXPIRED, "cifs/fs1", "AP-REQ");
  EXPECT_NE(s.message().find("expired: run kinit"), absl::string_view::npos) << s;

  s = KerberosError(GSS_S_FAILURE, KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN, "cifs/10.0.0.5", "AP-REQ");
  EXPECT_NE(s.message().find("'cifs/10.0.0.5'"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("--kerberos-principal"), absl::string_view::npos) << s;

  // An integrity failure is the server failing to decrypt our ticket, unless it comes from
  // checking the server's own AP-REP: then the server did not prove its identity.
  s = KerberosError(GSS_S_FAILURE, KRB5KRB_AP_ERR_MODIFIED, "cifs/fs1", "AP-REQ");
  EXPECT_NE(s.message().find("could not decrypt the ticket"), absl::string_view::npos) << s;
  s = KerberosError(GSS_S_FAILURE, KRB5KRB_AP_ERR_MODIFIED, "cifs/fs1", "AP-REP", true);
  EXPECT_NE(s.message().find("mutual authentication failed"), absl::string_view::npos) << s;

  s = KerberosError(GSS_S_NO_CRED, KRB5_FCC_NOFILE, "cifs/fs1", "AP-REQ");
  EXPECT_NE(s.message().find("no ticket"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("kinit"), absl::string_view::npos) << s;

  s = KerberosError(GSS_S_FAILURE, KRB5_KDC_UNREACH, "cifs/fs1", "AP-REQ");
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;

  // Anything else keeps GSS-API's own words and names the step.
  s = KerberosError(GSS_S_BAD_MECH, 0, "cifs/fs1", "AP-REQ");
  EXPECT_NE(s.message().find("Kerberos AP-REQ failed"), absl::string_view::npos) << s;
}

// A process with an empty krb5.conf and a ticket cache that does not exist.
class NoTicketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir();
    const std::string conf = dir_ + "/krb5-empty.conf";
    std::FILE* f = std::fopen(conf.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
    setenv("KRB5_CONFIG", conf.c_str(), 1);
    setenv("KRB5CCNAME", ("FILE:" + dir_ + "/no-such-ccache").c_str(), 1);
    setenv("KRB5_CLIENT_KTNAME", ("FILE:" + dir_ + "/no-such-keytab").c_str(), 1);
  }
  std::string dir_;
};

TEST_F(NoTicketTest, NoDefaultPrincipalWithoutATicket) {
  absl::StatusOr<std::string> p = KerberosDefaultPrincipal();
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(absl::IsUnauthenticated(p.status())) << p.status();
  EXPECT_NE(p.status().message().find("kinit"), absl::string_view::npos) << p.status();
}

TEST_F(NoTicketTest, AuthenticatorFailsWithoutATicketAndSendsNothing) {
  KerberosAuthenticator auth({"cifs/fs1@EXAMPLE.COM"});
  absl::StatusOr<Authenticator::Step> step = auth.Next({});
  ASSERT_FALSE(step.ok());
  EXPECT_TRUE(absl::IsUnauthenticated(step.status())) << step.status();
  EXPECT_NE(step.status().message().find("kinit"), absl::string_view::npos) << step.status();
  EXPECT_FALSE(auth.sent_final_token());
  EXPECT_TRUE(auth.session_key().empty());
}

TEST_F(NoTicketTest, ServerWithoutKerberosInItsListIsRefusedBeforeAnyTicketIsUsed) {
  const Oid ntlm[] = {NtlmsspOid()};
  const std::vector<uint8_t> hint = EncodeNegTokenInit(ntlm, std::nullopt);
  KerberosAuthenticator auth({"cifs/fs1"});
  absl::StatusOr<Authenticator::Step> step = auth.Next(hint);
  ASSERT_FALSE(step.ok());
  EXPECT_TRUE(absl::IsUnimplemented(step.status())) << step.status();
}

}  // namespace
}  // namespace smbd
