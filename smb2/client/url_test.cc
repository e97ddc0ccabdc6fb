#include "smb2/client/url.h"

#include "gtest/gtest.h"

namespace smbd {
namespace {

TEST(SmbUrlTest, FullForm) {
  auto u = ParseSmbUrl("smb://WORK;alice@fs1.example.com:4455/data/dir/file.bin");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->domain, "WORK");
  EXPECT_EQ(u->user, "alice");
  EXPECT_FALSE(u->has_password);
  EXPECT_EQ(u->host, "fs1.example.com");
  EXPECT_EQ(u->port, 4455);
  EXPECT_EQ(u->share, "data");
  EXPECT_EQ(u->path, "dir/file.bin");
  EXPECT_EQ(u->SmbPath(), "dir\\file.bin");
}

TEST(SmbUrlTest, MinimalAndIpv6AndEscapes) {
  auto u = ParseSmbUrl("SMB://10.0.0.1/share");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, 0);
  EXPECT_EQ(u->path, "");
  u = ParseSmbUrl("smb://bob:s%40cret@[fe80::1]:445/my%20share//a/./b%2Fc");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "fe80::1");
  EXPECT_EQ(u->password, "s@cret");
  EXPECT_TRUE(u->has_password);
  EXPECT_EQ(u->share, "my share");
  EXPECT_EQ(u->path, "a/b/c");
  EXPECT_EQ(u->Redacted(), "smb://bob:***@[fe80::1]:445/my share/a/b/c");
}

TEST(SmbUrlTest, RejectsBadUrls) {
  const char* bad[] = {
      "http://host/share",  "smb://",           "smb:///share",       "smb://host",
      "smb://host/",        "smb://host:0/s",   "smb://host:99999/s", "smb://host:/s",
      "smb://host:12a/s",   "smb://[::1/s",     "smb://[::1]x/s",     "smb://ho st/s",
      "smb://@host/s",      "smb://host/s/%zz", "smb://host/s/a/../../etc", "smb://host/s/%00",
      "smb://host/s/a%5Cb",
  };
  for (const char* url : bad) {
    EXPECT_EQ(ParseSmbUrl(url).status().code(), absl::StatusCode::kInvalidArgument) << url;
  }
}

// Smbd-cat echoed a URL that did not parse, password and all.
TEST(SmbUrlTest, UnparsedUrlTextIsRedactedAndErrorsDoNotQuoteIt) {
  EXPECT_EQ(RedactUrlText("smb://alice:s3cret@host:99999/s"), "smb://alice:***@host:99999/s");
  EXPECT_EQ(RedactUrlText("smb://W;alice:p@ss:w@host/s/p"), "smb://W;alice:***@host/s/p");
  // "user:password" with the '@' forgotten parses as host "alice", port "s3cret".
  EXPECT_EQ(RedactUrlText("smb://alice:s3cret/share"), "smb://alice:***/share");
  absl::StatusOr<SmbUrl> u = ParseSmbUrl("smb://alice:s3cret/share");
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.status().message().find("s3cret"), absl::string_view::npos) << u.status();
  // Nothing to hide: unchanged.
  EXPECT_EQ(RedactUrlText("smb://host:445/share/a:b"), "smb://host:445/share/a:b");
  EXPECT_EQ(RedactUrlText("smb://[fe80::1]:445/s"), "smb://[fe80::1]:445/s");
  EXPECT_EQ(RedactUrlText("not a url"), "not a url");
}

// Smbd-cat --list printed server-supplied names raw (a name can carry ESC sequences).
TEST(SmbUrlTest, ServerNamesAreEscapedForTheTerminal) {
  EXPECT_EQ(EscapeForTerminal("plain-name.txt"), "plain-name.txt");
  EXPECT_EQ(EscapeForTerminal("caf\xc3\xa9"), "caf\xc3\xa9");  // UTF-8 kept
  EXPECT_EQ(EscapeForTerminal("a\x1b[2Jb"), "a\\x1b[2Jb");
  EXPECT_EQ(EscapeForTerminal("line\nfake"), "line\\x0afake");
  EXPECT_EQ(EscapeForTerminal("x\x7fy"), "x\\x7fy");
  EXPECT_EQ(EscapeForTerminal("csi\xc2\x9b" "31m"), "csi\\xc2\\x9b31m");
  EXPECT_EQ(EscapeForTerminal(absl::string_view("nul\0z", 5)), "nul\\x00z");
}

}  // namespace
}  // namespace smbd
