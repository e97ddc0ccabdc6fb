// The README's C++ quick start must be the code in quickstart.cc that the Samba suite compiles
// and runs.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"

namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Non-empty lines with leading/trailing whitespace removed.
std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  for (absl::string_view l : absl::StrSplit(text, '\n')) {
    l = absl::StripAsciiWhitespace(l);
    if (!l.empty()) out.emplace_back(l);
  }
  return out;
}

TEST(ReadmeTest, QuickStartIsTheCompiledCode) {
  const std::string readme = Read("README.md");
  const std::string source = Read("tests/samba/quickstart.cc");
  ASSERT_FALSE(readme.empty());
  ASSERT_FALSE(source.empty());
  const size_t b = readme.find("```c++\n");
  ASSERT_NE(b, std::string::npos);
  const size_t e = readme.find("```", b + 7);
  std::string block = readme.substr(b + 7, e - b - 7);
  block.erase(0, block.find('\n', block.find("#include")) + 1);  // drop the #include line
  const size_t s = source.find("// [quickstart]");
  const size_t t = source.find("// [/quickstart]");
  ASSERT_NE(s, std::string::npos);
  ASSERT_NE(t, std::string::npos);
  const std::string region = source.substr(source.find('\n', s) + 1, t - source.find('\n', s) - 1);
  EXPECT_EQ(Lines(block), Lines(region));
}

// The C example is the program the install suite builds with cc and pkg-config and runs.
TEST(ReadmeTest, CExampleIsTheInstalledConsumer) {
  const std::string readme = Read("README.md");
  const std::string source = Read("tests/install/consumer.c");
  const size_t b = readme.find("```c\n");
  ASSERT_NE(b, std::string::npos);
  const size_t e = readme.find("```", b + 5);
  const std::string block = readme.substr(b + 5, e - b - 5);
  const size_t s = source.find("/* README begin */");
  const size_t t = source.find("/* README end */");
  ASSERT_NE(s, std::string::npos);
  ASSERT_NE(t, std::string::npos);
  const std::string region = source.substr(source.find('\n', s) + 1, t - source.find('\n', s) - 1);
  EXPECT_EQ(Lines(block), Lines(region));
  EXPECT_GT(Lines(block).size(), 20u);
}

}  // namespace
