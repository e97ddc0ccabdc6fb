// DecodeSessionSetupResponse and the security buffer it points at.
// Input: tests/fuzz/fuzz_common.h (3 layout bytes, then the message: SMB2 header + body).
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/pdu_summaries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace smbd::fuzz;
  const Input in = ParseInput(data, size);
  DecodeBothWays("session_setup", in, SummarizeSessionSetup);
  return 0;
}
