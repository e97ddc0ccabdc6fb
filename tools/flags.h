// Command-line values shared by the tools (smbd-cat, smbd-bench): sizes with K/M/G suffixes and
// bounded numbers, each refused with `false` rather than wrapped or truncated.
#ifndef SMBD_TOOLS_FLAGS_H_
#define SMBD_TOOLS_FLAGS_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace smbd {

// "4096", "64K", "1M", "2G" (binary multiples, either case) -> bytes. False for anything else,
// and for a value that does not fit in 64 bits.
bool ParseSize(absl::string_view text, uint64_t* out);

// A whole number in [min, max].
bool ParseInt(absl::string_view text, int64_t min, int64_t max, int64_t* out);

// A number of seconds, > 0 and at most a day (fractions allowed).
bool ParseSeconds(absl::string_view text, double* out);

}  // namespace smbd

#endif  // SMBD_TOOLS_FLAGS_H_
