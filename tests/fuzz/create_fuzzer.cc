// DecodeCreateResponse with its create contexts (MxAc, QFid, RqLs v1/v2, DH2Q, others), and
// ForEachCreateContext over the response's contexts and over an (offset, length) pair taken from
// the message's last 8 bytes.
// Input: tests/fuzz/fuzz_common.h (3 layout bytes, then the message: SMB2 header + body).
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/pdu_summaries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace smbd::fuzz;
  const Input in = ParseInput(data, size);
  DecodeBothWays("create", in, SummarizeCreate);
  DecodeBothWays("create contexts", in, SummarizeCreateContexts);
  return 0;
}
