#include "tools/flags.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"

namespace smbd {

bool ParseSize(absl::string_view text, uint64_t* out) {
  uint64_t mult = 1;
  if (!text.empty()) {
    switch (absl::ascii_toupper(text.back())) {
      case 'K': mult = uint64_t{1} << 10; break;
      case 'M': mult = uint64_t{1} << 20; break;
      case 'G': mult = uint64_t{1} << 30; break;
      default: break;
    }
    if (mult != 1) text.remove_suffix(1);
  }
  uint64_t v;
  if (text.empty() || !absl::ascii_isdigit(text.front()) || !absl::SimpleAtoi(text, &v) ||
      v > UINT64_MAX / mult) {
    return false;
  }
  *out = v * mult;
  return true;
}

bool ParseInt(absl::string_view text, int64_t min, int64_t max, int64_t* out) {
  int64_t v;
  if (!absl::SimpleAtoi(text, &v) || v < min || v > max) return false;
  *out = v;
  return true;
}

bool ParseSeconds(absl::string_view text, double* out) {
  double v;
  if (!absl::SimpleAtod(text, &v) || !std::isfinite(v) || v <= 0 || v > 86400) return false;
  *out = v;
  return true;
}

}  // namespace smbd
