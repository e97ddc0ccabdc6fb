// DecodeIoctlResponse, IoctlOutput, and the FSCTL outputs: VALIDATE_NEGOTIATE_INFO and
// QUERY_NETWORK_INTERFACE_INFO (NETWORK_INTERFACE_INFO chains); both output decoders also on the
// bare bytes.
// Input: tests/fuzz/fuzz_common.h (3 layout bytes, then the message: SMB2 header + body).
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/pdu_summaries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace smbd::fuzz;
  const Input in = ParseInput(data, size);
  DecodeBothWays("ioctl", in, SummarizeIoctl);
  DecodeBothWays("fsctl outputs", in, [](smbd::WireReader r) {
    auto v = smbd::DecodeValidateNegotiateInfo(r);
    auto n = smbd::DecodeNetworkInterfaceInfo(r);
    return absl::StrCat(v.ok() ? absl::StrCat("vni ", v->dialect) : StatusText(v), ";",
                        n.ok() ? absl::StrCat("nics ", n->size()) : StatusText(n));
  });
  return 0;
}
