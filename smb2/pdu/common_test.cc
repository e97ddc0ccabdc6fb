#include "smb2/pdu/common.h"

#include <vector>

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

TEST(EmptyBodyTest, EncodesAndChecksStructureSize4) {
  uint8_t buf[8];
  WireWriter w(absl::MakeSpan(buf));
  EncodeEmptyBody(&w);
  ASSERT_TRUE(w.Finish().ok());
  ASSERT_EQ(w.position(), 4u);
  EXPECT_EQ(buf[0], 4);
  EXPECT_EQ(buf[1] | buf[2] | buf[3], 0);
  std::vector<uint8_t> m(68, 0);
  m[64] = 4;
  EXPECT_TRUE(DecodeEmptyBody(WireReader(absl::MakeConstSpan(m)), "X").ok());
  m[64] = 5;
  EXPECT_EQ(DecodeEmptyBody(WireReader(absl::MakeConstSpan(m)), "X").code(),
            absl::StatusCode::kDataLoss);
  m[64] = 4;
  m.pop_back();
  EXPECT_EQ(DecodeEmptyBody(WireReader(absl::MakeConstSpan(m)), "X").code(),
            absl::StatusCode::kDataLoss);
}

TEST(Utf16WriterTest, SizesAndWritesWithoutTemporaries) {
  auto n = Utf16LeSize("a\xF0\x9F\x98\x80");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 6u);
  EXPECT_EQ(Utf16LeSize("\xFF").status().code(), absl::StatusCode::kInvalidArgument);
  uint8_t buf[8];
  WireWriter w(absl::MakeSpan(buf));
  WriteUtf16Le("a\xF0\x9F\x98\x80", &w);
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), 6), std::string("a\0\x3D\xD8\x00\xDE", 6));
  WireReader r(absl::MakeConstSpan(buf, 6));
  auto back = ReadUtf16Le(&r, 6, "X", "f");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, "a\xF0\x9F\x98\x80");
  WireReader short_reader(absl::MakeConstSpan(buf, 6));
  EXPECT_EQ(ReadUtf16Le(&short_reader, 8, "X", "f").status().code(),
            absl::StatusCode::kDataLoss);
  WireReader odd(absl::MakeConstSpan(buf, 6));
  EXPECT_EQ(ReadUtf16Le(&odd, 3, "X", "f").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(AlignUp8(0), 0u);
  EXPECT_EQ(AlignUp8(1), 8u);
  EXPECT_EQ(AlignUp8(8), 8u);
  EXPECT_EQ(AlignUp8(0xFFFFFFFFull), 0x100000000ull);
}

}  // namespace
}  // namespace smbd
