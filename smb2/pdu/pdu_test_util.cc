#include "smb2/pdu/pdu_test_util.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "smb2/compound.h"
#include "smb2/header.h"
#include "smb2/message.h"
#include "smb2/test_util.h"

namespace smbd {
namespace testing_util {

void ExpectRobustGolden(absl::Span<const uint8_t> golden, const Summarize& summarize,
                        size_t min_length) {
  absl::StatusOr<std::string> flat = summarize(WireReader(golden));
  ASSERT_TRUE(flat.ok()) << flat.status();
  auto pool = TestPool();
  const std::vector<std::vector<uint32_t>> patterns = {{1, 3, 7, 64, 5}, {2}, {13, 1, 30}};
  for (const auto& pattern : patterns) {
    Bvecq q = SplitQueue(pool.get(), golden, pattern);
    absl::StatusOr<std::string> split = summarize(WireReader(q.begin()));
    ASSERT_TRUE(split.ok()) << split.status();
    EXPECT_EQ(*split, *flat);
  }
  EXPECT_EQ(FirstAcceptedTruncation(
                golden,
                [&summarize](absl::Span<const uint8_t> b) {
                  return summarize(WireReader(b)).status();
                },
                min_length),
            "");
}

std::string EncodeLikeGolden(absl::Span<const uint8_t> golden,
                             const std::function<absl::Status(WireWriter*)>& encode_body) {
  WireReader r(golden);
  absl::StatusOr<Smb2Header> header = DecodeHeader(&r);
  EXPECT_TRUE(header.ok()) << header.status();
  if (!header.ok()) return "";
  auto pool = TestPool();
  SmbMessageRef m = SmbMessage::New();
  m->header = *header;
  CompoundWriter cw(&m->request, pool.get());
  absl::Status s = encode_body(cw.Begin(m.get(), header->is_related()));
  EXPECT_TRUE(s.ok()) << s;
  cw.End();
  s = cw.Finish();
  EXPECT_TRUE(s.ok()) << s;
  return ToHex(Flatten(m->request));
}

std::vector<uint8_t> Corrupt(absl::Span<const uint8_t> golden, const Corruption& c) {
  std::vector<uint8_t> b(golden.begin(), golden.end());
  for (int i = 0; i < c.width; ++i) {
    b.at(c.offset + i) = static_cast<uint8_t>(c.value >> (8 * i));
  }
  return b;
}

void ExpectCorruptionsAreDataLoss(absl::Span<const uint8_t> golden, const Summarize& summarize,
                                  absl::Span<const Corruption> cases, absl::string_view what) {
  for (const Corruption& c : cases) {
    std::vector<uint8_t> b = Corrupt(golden, c);
    absl::Status s = summarize(WireReader(absl::MakeConstSpan(b))).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss)
        << "field at " << c.offset << " (" << c.width << " bytes) = " << c.value << ": " << s;
    EXPECT_NE(s.message().find(std::string(what)), absl::string_view::npos) << s;
  }
}

std::vector<Corruption> OffsetLengthSweep(size_t offset_field, int offset_width,
                                          size_t length_field, int length_width,
                                          uint64_t golden_offset, uint64_t golden_length,
                                          uint64_t message_size) {
  const uint64_t off_max = offset_width == 2 ? 0xFFFF : 0xFFFFFFFF;
  const uint64_t len_max = length_width == 2 ? 0xFFFF : 0xFFFFFFFF;
  std::vector<Corruption> v = {
      {offset_field, offset_width, 0},                                      // zero
      {offset_field, offset_width, 0x20},                                   // inside the header
      {offset_field, offset_width, message_size - golden_length + 1},       // one past the end
      {offset_field, offset_width, off_max},                                // all ones
      {length_field, length_width, message_size - golden_offset + 1},       // one past the end
      {length_field, length_width, len_max},                                // all ones
  };
  return v;
}

}  // namespace testing_util
}  // namespace smbd
