#include "tools/flags.h"

#include "gtest/gtest.h"

namespace smbd {
namespace {

TEST(ParseSizeTest, SuffixesAreBinaryMultiples) {
  uint64_t v = 0;
  ASSERT_TRUE(ParseSize("4096", &v));
  EXPECT_EQ(v, 4096u);
  ASSERT_TRUE(ParseSize("64k", &v));
  EXPECT_EQ(v, 64u << 10);
  ASSERT_TRUE(ParseSize("1M", &v));
  EXPECT_EQ(v, 1u << 20);
  ASSERT_TRUE(ParseSize("3G", &v));
  EXPECT_EQ(v, uint64_t{3} << 30);
}

TEST(ParseSizeTest, RefusesWhatDoesNotFitOrIsNotASize) {
  uint64_t v = 7;
  // 2^34 G is 2^64 bytes: one past the largest 64-bit value.
  EXPECT_FALSE(ParseSize("17179869184G", &v));
  EXPECT_TRUE(ParseSize("17179869183G", &v));
  EXPECT_FALSE(ParseSize("18446744073709551616", &v));
  v = 7;
  for (const char* bad : {"", "M", "-1", "+5", "1.5M", "12T", "1MB", " 1", "0x10"}) {
    EXPECT_FALSE(ParseSize(bad, &v)) << bad;
  }
  EXPECT_EQ(v, 7u);  // untouched on failure
}

TEST(ParseIntTest, Bounds) {
  int64_t v = 0;
  EXPECT_TRUE(ParseInt("4096", 1, 4096, &v));
  EXPECT_EQ(v, 4096);
  EXPECT_FALSE(ParseInt("4097", 1, 4096, &v));
  EXPECT_FALSE(ParseInt("0", 1, 4096, &v));
  EXPECT_FALSE(ParseInt("8x", 1, 4096, &v));
}

TEST(ParseSecondsTest, PositiveFiniteAtMostADay) {
  double v = 0;
  EXPECT_TRUE(ParseSeconds("0.5", &v));
  EXPECT_DOUBLE_EQ(v, 0.5);
  for (const char* bad : {"0", "-1", "nan", "inf", "86401", "x"}) {
    EXPECT_FALSE(ParseSeconds(bad, &v)) << bad;
  }
}

}  // namespace
}  // namespace smbd
