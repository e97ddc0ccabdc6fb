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

}  // namespace
}  // namespace smbd
