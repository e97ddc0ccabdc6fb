#include "smb2/pdu/common.h"

#include "gtest/gtest.h"

namespace smbd {
namespace {

TEST(Utf16Test, RoundTripsAndRejectsInvalid) {
  auto u = Utf8ToUtf16Le("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");  // a é € 😀
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(*u, std::string("a\0\xE9\0\xAC\x20\x3D\xD8\x00\xDE", 10));
  auto back = Utf16LeToUtf8(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(u->data()), u->size()));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  EXPECT_FALSE(Utf8ToUtf16Le("\xC3").ok());          // truncated
  EXPECT_FALSE(Utf8ToUtf16Le("\xC0\xAF").ok());      // overlong
  EXPECT_FALSE(Utf8ToUtf16Le("\xED\xA0\x80").ok());  // surrogate
  EXPECT_FALSE(Utf8ToUtf16Le("\xFF").ok());
  const uint8_t odd[] = {0x41};
  EXPECT_FALSE(Utf16LeToUtf8(odd).ok());
  const uint8_t lone[] = {0x00, 0xDC};
  EXPECT_FALSE(Utf16LeToUtf8(lone).ok());
  const uint8_t high_at_end[] = {0x3D, 0xD8};
  EXPECT_FALSE(Utf16LeToUtf8(high_at_end).ok());
}

TEST(CheckBufferTest, BoundsInSixtyFourBits) {
  EXPECT_TRUE(CheckBuffer("X", "f", 80, 20, 80, 100).ok());
  EXPECT_TRUE(CheckBuffer("X", "f", 0, 0, 80, 100).ok());  // empty buffer: offset ignored
  EXPECT_FALSE(CheckBuffer("X", "f", 79, 1, 80, 100).ok());
  EXPECT_FALSE(CheckBuffer("X", "f", 80, 21, 80, 100).ok());
  EXPECT_FALSE(CheckBuffer("X", "f", 101, 1, 80, 100).ok());
  EXPECT_FALSE(CheckBuffer("X", "f", 90, UINT64_MAX - 10, 80, 100).ok());
  EXPECT_EQ(CheckBuffer("X", "f", 200, 1, 80, 100).code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace smbd
