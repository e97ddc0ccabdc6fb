// Shared pieces of the libFuzzer targets in tests/fuzz/ (built by tests/fuzz/build, outside
// Bazel, with clang -fsanitize=fuzzer,address,undefined).
//
// Every target reads the same input layout:
//
//   byte 0, 1  slot sizes of the Bvecq layout (four 4-bit indexes into kSlotSizes, cycled)
//   byte 2     layout flags: bit 0 slots in pool pages (else exact-size heap blocks), bit 1 an
//              empty slot before every slot, bits 2-3 where a pool-page slot sits in its page
//   byte 3..   the message
//
// and decodes the message twice: from a flat span, and from a Bvecq whose slots split it at the
// chosen awkward places. Both must give the same result (status code, message and every decoded
// field, rendered to a string by the target's summary function); a difference aborts.
//
// Memory outside each slot is unreadable: heap slots are allocated at exactly their length, and
// the unused bytes of a pool page around a slot are poisoned for AddressSanitizer while the
// queue exists. A decoder that reads one byte past what it was given crashes here.
#ifndef SMBD_TESTS_FUZZ_FUZZ_COMMON_H_
#define SMBD_TESTS_FUZZ_FUZZ_COMMON_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "buffers/bvecq.h"
#include "buffers/page_pool.h"
#include "buffers/wire.h"

namespace smbd {
namespace fuzz {

// Bytes of layout selection in front of every input.
inline constexpr size_t kLayoutBytes = 3;

struct Input {
  uint8_t layout[kLayoutBytes] = {};
  absl::Span<const uint8_t> message;
};

// Splits libFuzzer's input into the layout bytes (zero when the input is shorter) and the rest.
Input ParseInput(const uint8_t* data, size_t size);

// A process-wide pool (plain pages, 64 MiB) for split queues and for decoders that allocate.
PagePool* Pool();

// `bytes` laid out in a Bvecq as `layout` says. The queue points into memory this object owns.
class SplitMessage {
 public:
  SplitMessage(absl::Span<const uint8_t> bytes, const uint8_t (&layout)[kLayoutBytes]);
  ~SplitMessage();
  SplitMessage(const SplitMessage&) = delete;
  SplitMessage& operator=(const SplitMessage&) = delete;

  const Bvecq& queue() const { return queue_; }
  BvecqIter begin() const { return queue_.begin(); }

 private:
  struct Poisoned {
    uint8_t* data;
    size_t len;
  };
  std::vector<std::unique_ptr<uint8_t[]>> heap_;
  std::vector<PageRef> pages_;  // kept so that the poisoned ranges can be unpoisoned first
  std::vector<Poisoned> poisoned_;
  Bvecq queue_;
};

// "OK" or "<code>: <message>".
std::string StatusText(const absl::Status& s);
template <typename T>
std::string StatusText(const absl::StatusOr<T>& s) {
  return StatusText(s.status());
}

// Aborts (a crash libFuzzer reports, with the input saved) when the two renderings differ.
void ExpectSame(const char* what, const std::string& flat, const std::string& split);

// Decodes `in.message` with `summarize` from a span and from the split queue; aborts when the
// results differ. Returns the flat result.
template <typename Summarize>
std::string DecodeBothWays(const char* what, const Input& in, Summarize summarize) {
  std::string flat = summarize(WireReader(in.message));
  SplitMessage split(in.message, in.layout);
  std::string queued = summarize(WireReader(split.begin()));
  ExpectSame(what, flat, queued);
  return flat;
}

// A failed property of the code under test: prints and aborts.
[[noreturn]] void Fail(const std::string& why);

// Bytes of a span as lowercase hex (for summaries of byte fields).
std::string Hex(absl::Span<const uint8_t> bytes);

// Hex string (whitespace ignored) to bytes; aborts on bad input (only used on constants).
std::vector<uint8_t> FromHex(const char* hex);

// Runs the NTLM primitives once with leak detection off. OpenSSL's legacy provider (MD4, RC4)
// is loaded on first use and deliberately never unloaded (smb2/security/openssl_util.cc); at
// exit OpenSSL's cleanup drops its own references and LeakSanitizer would report the provider
// as leaked. Objects allocated here are ignored and count as roots; leaks in later inputs are
// still reported. Call from LLVMFuzzerInitialize.
void WarmUpOpenSsl();

// The bytes an iterator covers, copied out.
std::vector<uint8_t> Flatten(BvecqIter it);

}  // namespace fuzz
}  // namespace smbd

#endif  // SMBD_TESTS_FUZZ_FUZZ_COMMON_H_
