// Sweeps shared by the PDU codec tests: every golden response is decoded from a flat span and
// from queues split into awkward slots, truncated at every byte, and has its offset and length
// fields corrupted one at a time.
#ifndef SMBD_SMB2_PDU_PDU_TEST_UTIL_H_
#define SMBD_SMB2_PDU_PDU_TEST_UTIL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "buffers/wire.h"

namespace smbd {
namespace testing_util {

// Decodes a message and renders the decoded fields as a string, so that decodes of the same
// bytes laid out differently can be compared.
using Summarize = std::function<absl::StatusOr<std::string>(WireReader message)>;

// Expects `golden` to decode; then the same summary from SplitQueue layouts; then every strict
// prefix (from `min_length` on) to fail.
void ExpectRobustGolden(absl::Span<const uint8_t> golden, const Summarize& summarize,
                        size_t min_length = 0);

// One corrupted field: `width` (1, 2, 4 or 8) little-endian bytes at `offset` set to `value`.
struct Corruption {
  size_t offset;
  int width;
  uint64_t value;
};

// Applies each corruption to a copy of `golden` and expects kDataLoss whose message contains
// `what` (the PDU name).
void ExpectCorruptionsAreDataLoss(absl::Span<const uint8_t> golden, const Summarize& summarize,
                                  absl::Span<const Corruption> cases, absl::string_view what);

// Encodes a request the way the stack does (CompoundWriter: header, then `encode_body`) with
// the header fields taken from `golden`'s own header (message id, credits, session, tree,
// flags, signature), and returns the hex of the whole message, for comparison with
// ToHex(golden).
std::string EncodeLikeGolden(absl::Span<const uint8_t> golden,
                             const std::function<absl::Status(WireWriter*)>& encode_body);

// A copy of `golden` with one corruption applied.
std::vector<uint8_t> Corrupt(absl::Span<const uint8_t> golden, const Corruption& c);

// The standard sweep of an offset/length pair: offset 0, inside the header, one past the end,
// 0xFFFF (or 0xFFFFFFFF for 4-byte fields); length one past the end and all ones. `length` is
// the golden length (used for "one past the end").
std::vector<Corruption> OffsetLengthSweep(size_t offset_field, int offset_width,
                                          size_t length_field, int length_width,
                                          uint64_t golden_offset, uint64_t golden_length,
                                          uint64_t message_size);

}  // namespace testing_util
}  // namespace smbd

#endif  // SMBD_SMB2_PDU_PDU_TEST_UTIL_H_
