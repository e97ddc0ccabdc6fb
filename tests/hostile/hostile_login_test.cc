// A server that never checked who we are must not get a session. The scripted
// server ends SESSION_SETUP the way a lying server would (SUCCESS before the mechanism finished,
// a guest or null session for a user who gave a password, signing required with no keys), over
// Direct TCP and over SMB Direct on the fake verbs. Each such login fails with a clear code;
// a guest or anonymous session is fine when the caller asked for one.
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "smb2/client/client.h"
#include "smbdirect/fake_verbs.h"
#include "smb2/client/testing/harness.h"
#include "smb2/client/testing/scripted_server.h"

namespace smbd {
namespace scripted {
namespace {

class HostileLoginTest : public ::testing::TestWithParam<TransportKind> {
 protected:
  // Connects to a script that ends SESSION_SETUP with `trick` and logs in with `creds`.
  absl::StatusOr<std::unique_ptr<Session>> LoginTo(LoginTrick trick, const Credentials& creds,
                                                    bool signing_required = false) {
    RigOptions o;
    o.script.login = trick;
    o.script.signing_required = signing_required;
    absl::Status s = ConnectRig(GetParam(), &net_, o, &rig_);
    if (!s.ok()) return s;
    return rig_.client->Login(creds);
  }
  static Credentials Alice() {
    Credentials c;
    c.user = "alice";
    c.password = SecretBytes::FromString("correct horse");
    return c;
  }

  FakeRdmaNetwork net_;
  Rig rig_;
};

TEST_P(HostileLoginTest, SuccessOnTheFirstLegIsRefused) {
  auto s = LoginTo(LoginTrick::kSuccessFirstLeg, Alice());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnauthenticated) << s.status();
  EXPECT_NE(s.status().message().find("before authentication finished"), absl::string_view::npos)
      << s.status();
}

TEST_P(HostileLoginTest, GuestSessionForAUserIsRefused) {
  auto s = LoginTo(LoginTrick::kGuestSession, Alice());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnauthenticated) << s.status();
  EXPECT_NE(s.status().message().find("guest"), absl::string_view::npos) << s.status();
}

TEST_P(HostileLoginTest, NullSessionForAUserIsRefused) {
  auto s = LoginTo(LoginTrick::kNullSession, Alice());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnauthenticated) << s.status();
  EXPECT_NE(s.status().message().find("anonymous"), absl::string_view::npos) << s.status();
}

TEST_P(HostileLoginTest, GuestAcceptedWhenAskedFor) {
  Credentials guest;
  guest.user = "guest";
  guest.guest = true;
  auto s = LoginTo(LoginTrick::kGuestSession, guest);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE((*s)->is_guest());
  EXPECT_FALSE((*s)->signs());
}

TEST_P(HostileLoginTest, AnonymousAcceptedWhenAskedFor) {
  Credentials anon;
  anon.anonymous = true;
  auto s = LoginTo(LoginTrick::kNullSession, anon);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE((*s)->is_anonymous());
}

TEST_P(HostileLoginTest, ServerRequiringSigningWithoutKeysIsAnError) {
  Credentials anon;
  anon.anonymous = true;
  auto s = LoginTo(LoginTrick::kNullSession, anon, /*signing_required=*/true);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kPermissionDenied) << s.status();
  EXPECT_NE(s.status().message().find("cannot be signed"), absl::string_view::npos) << s.status();
}

// A server (or a man in the middle that downgraded the NEGOTIATE) that lets NTLM run, never
// checks it and answers SUCCESS unsigned. On 2.1 (Direct TCP here) the session is signed
// anyway (sign_unproven_sessions), on 3.0.2 (SMB Direct here) VALIDATE_NEGOTIATE is signed: the
// first answer it cannot sign is refused, before any share is reached.
TEST_P(HostileLoginTest, ServerThatNeverProvesTheKeyGetsNoFurtherThanLogin) {
  auto s = LoginTo(LoginTrick::kUnsignedSuccess, Alice());
  ASSERT_TRUE(s.ok()) << s.status();
  if (GetParam() == TransportKind::kTcp) EXPECT_TRUE((*s)->signs());
  auto t = (*s)->TreeConnect("share");
  ASSERT_FALSE(t.ok()) << "TREE_CONNECT on a session whose server never proved the key";
  EXPECT_EQ(t.status().code(), absl::StatusCode::kPermissionDenied) << t.status();
  EXPECT_NE(t.status().message().find("not signed"), absl::string_view::npos) << t.status();
}

INSTANTIATE_TEST_SUITE_P(Transports, HostileLoginTest,
                         ::testing::Values(TransportKind::kTcp, TransportKind::kSmbDirect),
                         [](const ::testing::TestParamInfo<TransportKind>& i) {
                           return std::string(TransportName(i.param));
                         });

}  // namespace
}  // namespace scripted
}  // namespace smbd
