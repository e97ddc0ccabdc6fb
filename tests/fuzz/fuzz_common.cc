#include "tests/fuzz/fuzz_common.h"

#include <sanitizer/asan_interface.h>
#include <sanitizer/lsan_interface.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "smb2/security/ntlmssp.h"

namespace smbd {
namespace fuzz {
namespace {

// Slot sizes: tiny ones that split every field, odd ones, and page-sized ones.
constexpr uint32_t kSlotSizes[16] = {1, 2, 3, 4, 5, 7, 8, 13, 16, 24, 31, 64, 100, 255, 1000, 4096};

}  // namespace

Input ParseInput(const uint8_t* data, size_t size) {
  Input in;
  const size_t n = std::min(size, kLayoutBytes);
  if (n > 0) std::memcpy(in.layout, data, n);
  in.message = absl::Span<const uint8_t>(data + n, size - n);
  return in;
}

PagePool* Pool() {
  static PagePool* pool = [] {
    PagePoolOptions o;
    o.slab_bytes = 256 * kPageSize;
    o.max_bytes = 64 << 20;
    o.huge_pages = false;
    absl::StatusOr<std::unique_ptr<PagePool>> p = PagePool::Create(o);
    if (!p.ok()) Fail(StatusText(p.status()));
    return p->release();
  }();
  return pool;
}

SplitMessage::SplitMessage(absl::Span<const uint8_t> bytes,
                           const uint8_t (&layout)[kLayoutBytes]) {
  const uint32_t pattern[4] = {kSlotSizes[layout[0] & 15], kSlotSizes[layout[0] >> 4],
                               kSlotSizes[layout[1] & 15], kSlotSizes[layout[1] >> 4]};
  const bool in_pages = (layout[2] & 1) != 0;
  const bool empty_slots = (layout[2] & 2) != 0;
  const int placement = (layout[2] >> 2) & 3;  // 0: start, 1: offset 13, 2/3: page end
  size_t i = 0, k = 0;
  while (i < bytes.size()) {
    if (empty_slots && !queue_.AppendExternal(nullptr, 0).ok()) Fail("AppendExternal(empty)");
    const size_t n = std::min<size_t>(pattern[k++ % 4], bytes.size() - i);
    // Tiny slots each take a whole page: past a budget, the rest of a long input goes to heap
    // slots so that the harness's own pool (64 MiB) is never what runs out, even with
    // several split messages alive at once (transform round trips hold two, 8 MiB each).
    constexpr size_t kPageBudget = 2048;
    if (!in_pages || pages_.size() >= kPageBudget) {
      heap_.emplace_back(new uint8_t[n]);
      std::memcpy(heap_.back().get(), bytes.data() + i, n);
      if (!queue_.AppendExternal(heap_.back().get(), n).ok()) Fail("AppendExternal");
    } else {
      absl::StatusOr<PageRef> page = Pool()->TryAlloc();
      if (!page.ok()) Fail(StatusText(page.status()));
      size_t off = placement == 0 ? 0 : placement == 1 ? std::min<size_t>(13, kPageSize - n)
                                                       : kPageSize - n;
      uint8_t* base = page->data();
      std::memcpy(base + off, bytes.data() + i, n);
      // The rest of the page is not part of the slot: make reading it a crash.
      if (off > 0) poisoned_.push_back({base, off});
      if (off + n < kPageSize) poisoned_.push_back({base + off + n, kPageSize - off - n});
      pages_.push_back(*page);
      if (!queue_.Append(std::move(*page), static_cast<uint32_t>(off), static_cast<uint32_t>(n))
               .ok()) {
        Fail("Bvecq::Append");
      }
    }
    i += n;
  }
  for (const Poisoned& p : poisoned_) ASAN_POISON_MEMORY_REGION(p.data, p.len);
}

SplitMessage::~SplitMessage() {
  for (const Poisoned& p : poisoned_) ASAN_UNPOISON_MEMORY_REGION(p.data, p.len);
  queue_.Clear();
}

std::string StatusText(const absl::Status& s) {
  if (s.ok()) return "OK";
  return absl::StrCat(absl::StatusCodeToString(s.code()), ": ", s.message());
}

void Fail(const std::string& why) {
  std::fprintf(stderr, "\n*** fuzz property failed: %s\n", why.c_str());
  std::fflush(stderr);
  std::abort();
}

void ExpectSame(const char* what, const std::string& flat, const std::string& split) {
  if (flat == split) return;
  Fail(absl::StrCat(what, ": the span and the split Bvecq decode differently\n  span:  ", flat,
                    "\n  Bvecq: ", split));
}

std::string Hex(absl::Span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    s.push_back(kDigits[b >> 4]);
    s.push_back(kDigits[b & 15]);
  }
  return s;
}

std::vector<uint8_t> FromHex(const char* hex) {
  std::vector<uint8_t> out;
  int nibble = -1;
  for (const char* p = hex; *p != '\0'; ++p) {
    const char c = *p;
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else {
      Fail("FromHex: bad digit");
    }
    if (nibble < 0) {
      nibble = v;
    } else {
      out.push_back(static_cast<uint8_t>(nibble << 4 | v));
      nibble = -1;
    }
  }
  return out;
}

void WarmUpOpenSsl() {
  __lsan_disable();
  (void)NtOwfV1(SecretBytes::FromString("warm-up"));
  const uint8_t key[16] = {1};
  (void)Rc4(key, key);
  (void)NtlmSignKey(SecretBytes::FromString("0123456789abcdef"), true);
  __lsan_enable();
}

std::vector<uint8_t> Flatten(BvecqIter it) {
  std::vector<uint8_t> out(it.remaining());
  it.CopyOut(absl::MakeSpan(out));
  return out;
}

}  // namespace fuzz
}  // namespace smbd
