// CompoundReader over a whole received frame ([MS-SMB2] 3.2.5.1.9): every NextCommand is
// validated, and each member is decoded (header, then the decoder of its command and the error
// decoders) from its own range of the frame, as the client does.
// Input: tests/fuzz/fuzz_common.h (3 layout bytes, then the frame). The frame is read from a
// one-slot queue over the flat bytes and from the split queue; both walks must agree.
#include <cstddef>
#include <cstdint>
#include <string>

#include "smb2/compound.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/pdu_summaries.h"

namespace smbd {
namespace fuzz {
namespace {

std::string Walk(const Bvecq& frame) {
  CompoundReader reader(frame);
  std::string s;
  uint64_t last_end = 0;
  for (int n = 0;; ++n) {
    if (n > CompoundReader::kMaxMembers + 1) Fail("CompoundReader: more members than kMaxMembers");
    absl::StatusOr<std::optional<CompoundMember>> m = reader.Next();
    if (!m.ok()) return absl::StrCat(s, StatusText(m));
    if (!m->has_value()) break;
    const CompoundMember& c = **m;
    // Members follow each other and stay inside the frame.
    if (c.offset < last_end || c.length < 64 || c.offset > frame.size() ||
        c.length > frame.size() - c.offset) {
      Fail(absl::StrCat("CompoundReader: member [", c.offset, ", +", c.length,
                        ") outside the frame of ", frame.size(), " or overlapping (", last_end,
                        ")"));
    }
    last_end = c.offset + c.length;
    absl::StatusOr<BvecqIter> range = frame.Range(c.offset, c.length);
    if (!range.ok()) Fail(StatusText(range));
    absl::StrAppend(&s, "[", c.offset, "+", c.length, " ", SummarizeHeader(WireReader(*range)),
                    " ", SummarizeByCommand(c.header, WireReader(*range)), "]");
  }
  // After the last member, Next keeps returning nullopt.
  absl::StatusOr<std::optional<CompoundMember>> again = reader.Next();
  if (!again.ok() || again->has_value()) Fail("CompoundReader: Next after the end");
  return s;
}

}  // namespace
}  // namespace fuzz
}  // namespace smbd

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace smbd::fuzz;
  const Input in = ParseInput(data, size);
  smbd::Bvecq flat;
  if (!flat.AppendExternal(const_cast<uint8_t*>(in.message.data()), in.message.size()).ok()) {
    Fail("AppendExternal");
  }
  const std::string a = Walk(flat);
  SplitMessage split(in.message, in.layout);
  ExpectSame("compound", a, Walk(split.queue()));
  return 0;
}
