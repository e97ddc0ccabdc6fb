#include "smb2/security/preauth.h"

#include <memory>
#include <vector>

#include "buffers/bvecq.h"
#include "buffers/page_pool.h"
#include "gtest/gtest.h"
#include "smb2/security/test_util.h"
#include "smb2/security/test_vectors.h"

namespace smbd {
namespace {

using testing_util::Hex;
using testing_util::ToBvecq;
using testing_util::ToHex;
namespace a = vectors::anat311;
namespace b = vectors::anat311bind;

std::string Lower(absl::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// vectors.md [anat-311]: every PreauthHash step of the 3.1.1 master session, contiguous input.
TEST(PreauthTest, Anatomy311ChainContiguous) {
  PreauthIntegrity connection;
  EXPECT_EQ(ToHex(connection.value()), Lower(a::kPreauthHash0));
  ASSERT_TRUE(connection.Update(Hex(a::kNegotiateRequest)).ok());
  EXPECT_EQ(ToHex(connection.value()), Lower(a::kPreauthHash1));
  ASSERT_TRUE(connection.Update(Hex(a::kNegotiateResponse)).ok());
  EXPECT_EQ(ToHex(connection.value()), Lower(a::kPreauthHash2Connection));

  PreauthIntegrity session = connection.Fork();
  ASSERT_TRUE(session.Update(Hex(a::kSessionSetupRequest1)).ok());
  EXPECT_EQ(ToHex(session.value()), Lower(a::kPreauthHash3));
  ASSERT_TRUE(session.Update(Hex(a::kSessionSetupResponse1MoreProcessing)).ok());
  EXPECT_EQ(ToHex(session.value()), Lower(a::kPreauthHash4));
  ASSERT_TRUE(session.Update(Hex(a::kSessionSetupRequest2)).ok());
  EXPECT_EQ(ToHex(session.value()), Lower(a::kPreauthHash5SessionFinal));
  // The fork left the connection's value alone.
  EXPECT_EQ(ToHex(connection.value()), Lower(a::kPreauthHash2Connection));
}

// vectors.md [anat-311-bind]: the binding channel's chain, fed from Bvecq chains cut into
// 1-byte, 7-byte and page-sized slots.
TEST(PreauthTest, Anatomy311BindingChainFromBvecq) {
  std::unique_ptr<PagePool> pool = testing_util::MakeTestPool();
  ASSERT_NE(pool, nullptr);
  for (size_t slot : {size_t{1}, size_t{7}, kPageSize}) {
    PreauthIntegrity h;
    const char* messages[] = {b::kNegotiateRequest, b::kNegotiateResponse,
                              b::kSessionSetupRequest1Binding,
                              b::kSessionSetupResponse1MoreProcessing,
                              b::kSessionSetupRequest2Binding};
    const char* expected[] = {b::kPreauthHash1, b::kPreauthHash2Connection, b::kPreauthHash3,
                              b::kPreauthHash4, b::kPreauthHash5Final};
    for (int i = 0; i < 5; ++i) {
      auto q = ToBvecq(Hex(messages[i]), pool.get(), slot);
      ASSERT_TRUE(q.ok());
      ASSERT_TRUE(h.Update(q->begin()).ok());
      EXPECT_EQ(ToHex(h.value()), Lower(expected[i])) << "step " << i << " slot " << slot;
    }
  }
}

// A BvecqIter range hashes only its range: the message inside a larger queue.
TEST(PreauthTest, HashesOnlyTheIteratorRange) {
  std::unique_ptr<PagePool> pool = testing_util::MakeTestPool();
  ASSERT_NE(pool, nullptr);
  std::vector<uint8_t> framed = {0xde, 0xad};
  std::vector<uint8_t> msg = Hex(a::kNegotiateRequest);
  framed.insert(framed.end(), msg.begin(), msg.end());
  framed.push_back(0xbe);
  auto q = ToBvecq(framed, pool.get(), 13);
  ASSERT_TRUE(q.ok());
  auto range = q->Range(2, msg.size());
  ASSERT_TRUE(range.ok());
  PreauthIntegrity h;
  ASSERT_TRUE(h.Update(*range).ok());
  EXPECT_EQ(ToHex(h.value()), Lower(a::kPreauthHash1));
}

}  // namespace
}  // namespace smbd
