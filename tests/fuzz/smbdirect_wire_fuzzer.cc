// [MS-SMBD] message codecs: DecodeSmbDirectNegotiateResponse and ProcessSmbDirectNegotiateResponse
// (3.1.5.7, against a fixed request), DecodeSmbDirectNegotiateRequest (3.1.5.6), and
// DecodeDataTransfer (3.1.5.8) from a span and from a Bvecq, with two MaxFragmentedSize limits.
// Input: 3 layout bytes (tests/fuzz/fuzz_common.h), then the message.
#include <cstddef>
#include <cstdint>
#include <string>

#include "smbdirect/smbdirect_wire.h"
#include "tests/fuzz/fuzz_common.h"

namespace smbd {
namespace fuzz {
namespace {

std::string Text(const absl::StatusOr<DataTransferHeader>& h) {
  if (!h.ok()) return StatusText(h);
  return absl::StrCat("dt ", h->credits_requested, "/", h->credits_granted, "/", h->flags, "/",
                      h->remaining_data_length, "/", h->data_offset, "/", h->data_length);
}

}  // namespace
}  // namespace fuzz
}  // namespace smbd

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace smbd;
  using namespace smbd::fuzz;
  const Input in = ParseInput(data, size);
  const absl::Span<const uint8_t> m = in.message;

  absl::StatusOr<SmbDirectNegotiateResponse> rsp = DecodeSmbDirectNegotiateResponse(m);
  SmbDirectNegotiateRequest sent;
  sent.credits_requested = 255;
  sent.preferred_send_size = 1364;
  sent.max_receive_size = 8192;
  sent.max_fragmented_size = 1 << 20;
  absl::StatusOr<NegotiatedParams> p = ProcessSmbDirectNegotiateResponse(sent, m, 1 << 20);
  if (p.ok()) {
    if (!rsp.ok()) {
      Fail("ProcessSmbDirectNegotiateResponse accepted what DecodeSmbDirectNegotiateResponse "
           "rejects");
    }
    // The negotiated sizes never exceed what this side asked for.
    if (p->max_send_size > sent.preferred_send_size ||
        p->max_receive_size > std::max<uint32_t>(sent.max_receive_size, kSmbDirectMinReceiveSize) ||
        p->max_read_write_size > (1u << 20) || p->send_credits == 0) {
      Fail("ProcessSmbDirectNegotiateResponse: negotiated sizes past the local limits");
    }
  }
  (void)DecodeSmbDirectNegotiateRequest(m);

  SplitMessage split(m, in.layout);
  for (uint32_t max : {uint32_t{1} << 20, kSmbDirectMinFragmentedSize}) {
    absl::StatusOr<DataTransferHeader> a = DecodeDataTransfer(m, max);
    ExpectSame("DecodeDataTransfer", Text(a), Text(DecodeDataTransfer(split.queue(), max)));
    if (a.ok()) {
      const uint64_t end = uint64_t{a->data_offset} + a->data_length;
      if (end > m.size() || uint64_t{a->data_length} + a->remaining_data_length > max) {
        Fail(absl::StrCat("DecodeDataTransfer accepted ", Text(a), " for ", m.size(), " bytes"));
      }
    }
  }
  return 0;
}
