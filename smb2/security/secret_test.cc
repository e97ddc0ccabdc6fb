#include "smb2/security/secret.h"

#include <sstream>
#include <string>
#include <utility>

#include "gtest/gtest.h"

namespace smbd {
namespace {

TEST(SecretBytesTest, HoldsACopy) {
  const uint8_t raw[] = {1, 2, 3, 4};
  SecretBytes s(absl::MakeConstSpan(raw));
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s.data()[0], 1);
  EXPECT_EQ(s.data()[3], 4);
  EXPECT_NE(s.data(), raw);
}

TEST(SecretBytesTest, SizedConstructorZeroes) {
  SecretBytes s(8);
  for (size_t i = 0; i < s.size(); ++i) EXPECT_EQ(s.data()[i], 0);
}

TEST(SecretBytesTest, MoveTransfersAndEmptiesSource) {
  SecretBytes a = SecretBytes::FromString("password");
  const uint8_t* p = a.data();
  SecretBytes b(std::move(a));
  EXPECT_EQ(b.data(), p);  // the buffer moved, no copy left behind
  EXPECT_EQ(b.size(), 8u);
  EXPECT_EQ(a.size(), 0u);  // NOLINT(bugprone-use-after-move): checking moved-from state
  EXPECT_EQ(a.data(), nullptr);

  SecretBytes c = SecretBytes::FromString("xy");
  c = std::move(b);
  EXPECT_EQ(c.size(), 8u);
  EXPECT_EQ(b.size(), 0u);  // NOLINT(bugprone-use-after-move)
}

TEST(SecretBytesTest, ClearEmpties) {
  SecretBytes s = SecretBytes::FromString("secret");
  s.Clear();
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.data(), nullptr);
}

TEST(SecretBytesTest, PrefixTruncatesAndPads) {
  SecretBytes s = SecretBytes::FromString("abc");
  SecretBytes p2 = s.Prefix(2);
  ASSERT_EQ(p2.size(), 2u);
  EXPECT_EQ(p2.data()[1], 'b');
  SecretBytes p5 = s.Prefix(5);
  ASSERT_EQ(p5.size(), 5u);
  EXPECT_EQ(p5.data()[2], 'c');
  EXPECT_EQ(p5.data()[3], 0);
  EXPECT_EQ(p5.data()[4], 0);
}

TEST(SecretBytesTest, ConstantTimeEquals) {
  SecretBytes s = SecretBytes::FromString("abcd");
  const uint8_t same[] = {'a', 'b', 'c', 'd'};
  const uint8_t other[] = {'a', 'b', 'c', 'e'};
  const uint8_t shorter[] = {'a', 'b', 'c'};
  EXPECT_TRUE(s.ConstantTimeEquals(same));
  EXPECT_FALSE(s.ConstantTimeEquals(other));
  EXPECT_FALSE(s.ConstantTimeEquals(shorter));
}

TEST(SecretBytesTest, PrintingRedacts) {
  SecretBytes s = SecretBytes::FromString("hunter2");
  std::ostringstream os;
  os << s;
  EXPECT_EQ(os.str().find("hunter2"), std::string::npos);
  EXPECT_NE(os.str().find("7 bytes"), std::string::npos);
  std::string printed = ::testing::PrintToString(s);
  EXPECT_EQ(printed.find("hunter2"), std::string::npos);
}

TEST(SecretBytesTest, CloneIsIndependent) {
  SecretBytes a = SecretBytes::FromString("key");
  SecretBytes b = a.Clone();
  b.mutable_span()[0] = 'K';
  EXPECT_EQ(a.data()[0], 'k');
  EXPECT_EQ(b.data()[0], 'K');
}

}  // namespace
}  // namespace smbd
