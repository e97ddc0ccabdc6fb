// Helpers for this package's tests: hex decoding of the known-answer vectors and building
// Bvecq chains with chosen slot boundaries.
#ifndef SMBD_SMB2_SECURITY_TEST_UTIL_H_
#define SMBD_SMB2_SECURITY_TEST_UTIL_H_

#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "buffers/bvecq.h"
#include "buffers/page_pool.h"

namespace smbd {
namespace testing_util {

// A small pool of plain pages (no huge pages, no registration) for tests.
inline std::unique_ptr<PagePool> MakeTestPool(size_t max_bytes = size_t{64} << 20) {
  PagePoolOptions options;
  options.huge_pages = false;
  options.max_bytes = max_bytes;
  absl::StatusOr<std::unique_ptr<PagePool>> pool = PagePool::Create(options);
  if (!pool.ok()) return nullptr;
  return std::move(*pool);
}

// Decodes hex (either case, no separators). An odd or invalid string yields an empty vector,
// which every test using it would notice.
inline std::vector<uint8_t> Hex(absl::string_view hex) {
  std::string bytes = absl::HexStringToBytes(hex);
  if (bytes.size() * 2 != hex.size()) return {};
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

inline std::string ToHex(absl::Span<const uint8_t> bytes) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// Copies `bytes` into pool pages, cutting a new slot after every `slot_bytes` bytes and at each
// page end; slot_bytes = 1 gives one slot per byte.
inline absl::StatusOr<Bvecq> ToBvecq(absl::Span<const uint8_t> bytes, PagePool* pool,
                                     size_t slot_bytes = kPageSize) {
  Bvecq q;
  size_t done = 0;
  while (done < bytes.size()) {
    absl::StatusOr<PageRef> page = pool->TryAlloc();
    if (!page.ok()) return page.status();
    size_t page_used = 0;
    while (page_used < kPageSize && done < bytes.size()) {
      size_t n = std::min({slot_bytes, kPageSize - page_used, bytes.size() - done});
      std::memcpy(page->data() + page_used, bytes.data() + done, n);
      absl::Status s = q.Append(*page, static_cast<uint32_t>(page_used), static_cast<uint32_t>(n));
      if (!s.ok()) return s;
      page_used += n;
      done += n;
    }
  }
  return q;
}

// Copies a whole queue out.
inline std::vector<uint8_t> Flatten(const Bvecq& q) {
  std::vector<uint8_t> out(q.size());
  BvecqIter it = q.begin();
  it.CopyOut(absl::MakeSpan(out));
  return out;
}

}  // namespace testing_util
}  // namespace smbd

#endif  // SMBD_SMB2_SECURITY_TEST_UTIL_H_
