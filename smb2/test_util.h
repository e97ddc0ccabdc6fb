// Test helpers for codec tests: hex, a small pool, queues split into awkward slots, and sweeps
// that truncate or corrupt golden messages.
#ifndef SMBD_SMB2_TEST_UTIL_H_
#define SMBD_SMB2_TEST_UTIL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "buffers/bvecq.h"
#include "buffers/page_pool.h"

namespace smbd {
namespace testing_util {

// Hex (whitespace ignored) to bytes; aborts the test on bad input.
std::vector<uint8_t> FromHex(absl::string_view hex);
std::string ToHex(absl::Span<const uint8_t> bytes);

std::unique_ptr<PagePool> TestPool(size_t max_bytes = 64 << 20);

// The queue's bytes, flattened.
std::vector<uint8_t> Flatten(const Bvecq& q);

// A queue holding `bytes` split into slots of the given sizes, cycled (e.g. {1, 3, 7}), each in
// its own pool page at an odd offset, so that decoders meet every boundary.
Bvecq SplitQueue(PagePool* pool, absl::Span<const uint8_t> bytes,
                 std::vector<uint32_t> pattern = {1, 3, 7, 64, 5});

// Calls `decode` on every strict prefix of `bytes`; returns a description of the first prefix
// that decoded OK (an empty string when all failed as they should).
std::string FirstAcceptedTruncation(absl::Span<const uint8_t> bytes,
                                    const std::function<absl::Status(absl::Span<const uint8_t>)>& decode,
                                    size_t min_length = 0);

void PutU16(std::vector<uint8_t>* bytes, size_t offset, uint16_t v);
void PutU32(std::vector<uint8_t>* bytes, size_t offset, uint32_t v);

}  // namespace testing_util
}  // namespace smbd

#endif  // SMBD_SMB2_TEST_UTIL_H_
