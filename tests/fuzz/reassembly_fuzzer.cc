// [MS-SMBD] 3.1.5.8 reassembly: a Reassembler fed a sequence of received data transfer messages,
// each decoded by DecodeDataTransfer (or, for some, with its header fields taken raw, so that
// the reassembler's own checks are reached with values the decoder would refuse).
// Input: 3 layout bytes (tests/fuzz/fuzz_common.h), then up to 64 records:
//   u8 kind (bit 0: raw header), u16 length (little-endian), that many bytes (one receive).
// Every receive is given to one Reassembler as a one-slot queue and to another as a split queue;
// both must answer the same, and every delivered message must be exactly the concatenation of
// its fragments' data.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "smbdirect/reassembly.h"
#include "smbdirect/smbdirect_wire.h"
#include "tests/fuzz/fuzz_common.h"

namespace smbd {
namespace fuzz {
namespace {

constexpr uint32_t kMaxFragmented = 1 << 20;

// The header fields as they are on the wire, without any check (a decoder that trusted them).
DataTransferHeader RawHeader(absl::Span<const uint8_t> m) {
  uint8_t b[kDataTransferMinSize] = {};
  std::copy(m.begin(), m.begin() + std::min(m.size(), sizeof(b)), b);
  DataTransferHeader h;
  h.credits_requested = LoadLE<uint16_t>(b);
  h.credits_granted = LoadLE<uint16_t>(b + 2);
  h.flags = LoadLE<uint16_t>(b + 4);
  h.remaining_data_length = LoadLE<uint32_t>(b + 8);
  h.data_offset = LoadLE<uint32_t>(b + 12);
  h.data_length = LoadLE<uint32_t>(b + 16);
  return h;
}

struct Side {
  explicit Side(bool split) : split(split), r(kMaxFragmented) {}
  bool split;
  Reassembler r;
  std::vector<std::unique_ptr<SplitMessage>> keep;  // split receives stay alive
  std::vector<std::unique_ptr<std::vector<uint8_t>>> keep_flat;
  std::string log;
  std::vector<uint8_t> expect;  // data of the partial message so far
};

void Feed(Side* s, absl::Span<const uint8_t> m, bool raw, const Input& in) {
  const Bvecq* received;
  Bvecq flat;
  if (s->split) {
    s->keep.push_back(std::make_unique<SplitMessage>(m, in.layout));
    received = &s->keep.back()->queue();
  } else {
    s->keep_flat.push_back(std::make_unique<std::vector<uint8_t>>(m.begin(), m.end()));
    if (!flat.AppendExternal(s->keep_flat.back()->data(), m.size()).ok()) Fail("Append");
    received = &flat;
  }
  DataTransferHeader h;
  if (raw) {
    h = RawHeader(m);
  } else {
    absl::StatusOr<DataTransferHeader> d = DecodeDataTransfer(*received, kMaxFragmented);
    if (!d.ok()) {
      absl::StrAppend(&s->log, StatusText(d), ";");
      return;
    }
    h = *d;
  }
  const bool was_failed = !s->r.status().ok();
  absl::StatusOr<std::optional<Bvecq>> out = s->r.Add(h, *received);
  if (was_failed && out.ok()) Fail("Reassembler: Add succeeded after a sticky error");
  if (!out.ok()) {
    absl::StrAppend(&s->log, StatusText(out), ";");
    return;
  }
  if (h.data_length > 0) {
    s->expect.insert(s->expect.end(), m.begin() + h.data_offset,
                     m.begin() + h.data_offset + h.data_length);
  }
  if (s->r.in_progress() &&
      s->r.partial_bytes() + s->r.expected_remaining() > kMaxFragmented) {
    Fail("Reassembler: partial message grows past MaxFragmentedSize");
  }
  if (out->has_value()) {
    if (Flatten((*out)->begin()) != s->expect) {
      Fail("Reassembler: delivered message is not the concatenation of its fragments");
    }
    absl::StrAppend(&s->log, "msg ", (*out)->size(), " ", Hex(s->expect), ";");
    s->expect.clear();
  } else {
    absl::StrAppend(&s->log, "partial ", s->r.partial_bytes(), " ", s->r.expected_remaining(),
                    ";");
  }
}

}  // namespace
}  // namespace fuzz
}  // namespace smbd

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace smbd::fuzz;
  const Input in = ParseInput(data, size);
  Side flat(false), split(true);
  absl::Span<const uint8_t> rest = in.message;
  for (int n = 0; n < 64 && rest.size() >= 3; ++n) {
    const bool raw = (rest[0] & 1) != 0;
    size_t len = rest[1] | size_t{rest[2]} << 8;
    rest.remove_prefix(3);
    len = std::min(len, rest.size());
    const absl::Span<const uint8_t> m = rest.subspan(0, len);
    rest.remove_prefix(len);
    Feed(&flat, m, raw, in);
    Feed(&split, m, raw, in);
  }
  ExpectSame("reassembly", flat.log, split.log);
  return 0;
}
