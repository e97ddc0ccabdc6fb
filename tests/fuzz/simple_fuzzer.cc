// The small responses: CLOSE, READ (inline data inside the message), WRITE, FLUSH, ECHO, LOGOFF,
// TREE_DISCONNECT, SET_INFO, and OPLOCK_BREAK (oplock and lease break notifications and
// acknowledgment responses).
// Input: tests/fuzz/fuzz_common.h (3 layout bytes, then the message: SMB2 header + body).
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/pdu_summaries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace smbd::fuzz;
  const Input in = ParseInput(data, size);
  DecodeBothWays("close", in, SummarizeClose);
  DecodeBothWays("read", in, SummarizeRead);
  DecodeBothWays("write", in, SummarizeWrite);
  DecodeBothWays("empty bodies", in, SummarizeEmptyBodies);
  DecodeBothWays("oplock break", in, SummarizeBreak);
  return 0;
}
