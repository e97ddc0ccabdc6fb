#include "smb2/test_util.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace smbd {
namespace testing_util {

std::vector<uint8_t> FromHex(absl::string_view hex) {
  std::vector<uint8_t> out;
  int nibble = -1;
  for (char c : hex) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else {
      ADD_FAILURE() << "bad hex character " << c;
      return {};
    }
    if (nibble < 0) {
      nibble = v;
    } else {
      out.push_back(static_cast<uint8_t>(nibble << 4 | v));
      nibble = -1;
    }
  }
  EXPECT_LT(nibble, 0) << "odd number of hex digits";
  return out;
}

std::string ToHex(absl::Span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (uint8_t b : bytes) {
    s.push_back(kDigits[b >> 4]);
    s.push_back(kDigits[b & 15]);
  }
  return s;
}

std::unique_ptr<PagePool> TestPool(size_t max_bytes) {
  PagePoolOptions o;
  o.slab_bytes = 256 * kPageSize;
  o.max_bytes = std::max(max_bytes, o.slab_bytes);
  o.huge_pages = false;
  return PagePool::Create(o).value();
}

std::vector<uint8_t> Flatten(const Bvecq& q) {
  std::vector<uint8_t> out(q.size());
  BvecqIter it = q.begin();
  it.CopyOut(absl::MakeSpan(out));
  return out;
}

Bvecq SplitQueue(PagePool* pool, absl::Span<const uint8_t> bytes, std::vector<uint32_t> pattern) {
  Bvecq q;
  size_t i = 0, k = 0;
  while (i < bytes.size()) {
    const uint32_t want = std::min<uint32_t>(pattern[k++ % pattern.size()], kPageSize - 13);
    const uint32_t n = static_cast<uint32_t>(std::min<size_t>(want, bytes.size() - i));
    PageRef page = pool->TryAlloc().value();
    std::copy(bytes.begin() + i, bytes.begin() + i + n, page.data() + 13);
    EXPECT_TRUE(q.Append(std::move(page), 13, n).ok());
    i += n;
  }
  return q;
}

std::string FirstAcceptedTruncation(
    absl::Span<const uint8_t> bytes,
    const std::function<absl::Status(absl::Span<const uint8_t>)>& decode, size_t min_length) {
  for (size_t len = min_length; len < bytes.size(); ++len) {
    absl::Status s = decode(bytes.subspan(0, len));
    if (s.ok()) return absl::StrCat("prefix of ", len, " of ", bytes.size(), " bytes decoded OK");
  }
  return "";
}

void PutU16(std::vector<uint8_t>* bytes, size_t offset, uint16_t v) {
  (*bytes)[offset] = static_cast<uint8_t>(v);
  (*bytes)[offset + 1] = static_cast<uint8_t>(v >> 8);
}

void PutU32(std::vector<uint8_t>* bytes, size_t offset, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*bytes)[offset + i] = static_cast<uint8_t>(v >> (8 * i));
}

}  // namespace testing_util
}  // namespace smbd
