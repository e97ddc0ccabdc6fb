// DecodeQueryInfoResponse, QueryInfoOutput and every File*/Fs* information decoder on the output
// buffer; the information decoders also directly on the message bytes after the header.
// Input: tests/fuzz/fuzz_common.h (3 layout bytes, then the message: SMB2 header + body).
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/pdu_summaries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace smbd::fuzz;
  const Input in = ParseInput(data, size);
  DecodeBothWays("query_info", in, SummarizeQueryInfo);
  // The information decoders on a bare buffer (no SMB2 header in front).
  DecodeBothWays("info buffer", in, SummarizeQueryInfoBuffer);
  return 0;
}
