#include "smbdirect/reassembly.h"

#include <cstring>
#include <memory>
#include <vector>

#include "buffers/fake_registrar.h"
#include "buffers/page_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smbd {
namespace {

using ::testing::HasSubstr;

class ReassemblyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PagePoolOptions o;
    o.slab_bytes = 64 * kPageSize;
    o.max_bytes = 8 * o.slab_bytes;
    o.huge_pages = false;
    o.registrar = &registrar_;
    pool_ = PagePool::Create(o).value();
  }
  void TearDown() override { EXPECT_EQ(pool_->stats().pages_in_use, 0u) << "leaked pages"; }

  // A receive buffer (one pool page) holding a data transfer message with `payload` and
  // `remaining`; `h` gets the decoded header, as the transport would have it.
  Bvecq Received(absl::Span<const uint8_t> payload, uint32_t remaining, DataTransferHeader* h) {
    PageRef page = pool_->TryAlloc().value();
    const DataTransferHeader out = MakeDataTransferHeader(
        10, 1, 0, remaining, static_cast<uint32_t>(payload.size()));
    const size_t hdr =
        EncodeDataTransferHeader(out, absl::MakeSpan(page.data(), kPageSize)).value();
    if (!payload.empty()) std::memcpy(page.data() + hdr, payload.data(), payload.size());
    Bvecq q;
    EXPECT_TRUE(q.Append(std::move(page), 0, static_cast<uint32_t>(hdr + payload.size())).ok());
    absl::StatusOr<DataTransferHeader> d = DecodeDataTransfer(q, 1u << 30);
    EXPECT_TRUE(d.ok()) << d.status();
    *h = *d;
    return q;
  }

  static std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
    return v;
  }
  static std::vector<uint8_t> Contents(const Bvecq& q) {
    std::vector<uint8_t> out(q.size());
    BvecqIter it = q.begin();
    EXPECT_EQ(it.CopyOut(absl::MakeSpan(out)), out.size());
    return out;
  }

  // Feeds `data` in fragments of `chunk` bytes; returns the delivered message.
  absl::StatusOr<std::optional<Bvecq>> Feed(Reassembler* r, const std::vector<uint8_t>& data,
                                            size_t chunk) {
    size_t off = 0;
    absl::StatusOr<std::optional<Bvecq>> last = std::optional<Bvecq>();
    while (off < data.size()) {
      const size_t n = std::min(chunk, data.size() - off);
      DataTransferHeader h;
      Bvecq rx = Received(absl::MakeConstSpan(data.data() + off, n),
                          static_cast<uint32_t>(data.size() - off - n), &h);
      off += n;
      last = r->Add(h, rx);
      if (!last.ok()) return last;
      if (off < data.size() && last->has_value()) {
        return absl::InternalError("delivered before the last fragment");
      }
    }
    return last;
  }

  FakeRegistrar registrar_;
  std::unique_ptr<PagePool> pool_;
};

TEST_F(ReassemblyTest, SingleFragmentWithoutCopy) {
  Reassembler r(131072);
  const std::vector<uint8_t> data = Pattern(100, 1);
  DataTransferHeader h;
  absl::StatusOr<std::optional<Bvecq>> m;
  const uint8_t* page_payload;
  {
    Bvecq rx = Received(data, 0, &h);
    page_payload = rx.begin().Peek().data() + 24;
    m = r.Add(h, rx);
  }  // the receive buffer is dropped; the message keeps the page
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE(m->has_value());
  Bvecq msg = std::move(**m);
  EXPECT_EQ(msg.size(), 100u);
  EXPECT_EQ(msg.begin().Peek().data(), page_payload);  // points into the receive page
  EXPECT_EQ(Contents(msg), data);
  EXPECT_EQ(pool_->stats().pages_in_use, 1u);
  EXPECT_FALSE(r.in_progress());
  EXPECT_EQ(r.messages_delivered(), 1u);
}

TEST_F(ReassemblyTest, ManyFragments) {
  Reassembler r(200000);
  const std::vector<uint8_t> data = Pattern(150001, 3);
  absl::StatusOr<std::optional<Bvecq>> m = Feed(&r, data, 1340);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE(m->has_value());
  EXPECT_EQ((*m)->size(), data.size());
  EXPECT_EQ(Contents(**m), data);
  EXPECT_EQ(r.messages_delivered(), 1u);
  EXPECT_FALSE(r.in_progress());
  EXPECT_EQ(r.partial_bytes(), 0u);
}

TEST_F(ReassemblyTest, ExactlyMaxFragmentedSize) {
  Reassembler r(131072);
  const std::vector<uint8_t> data = Pattern(131072, 9);
  absl::StatusOr<std::optional<Bvecq>> m = Feed(&r, data, 4000);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE(m->has_value());
  EXPECT_EQ(Contents(**m), data);
}

TEST_F(ReassemblyTest, BackToBackMessages) {
  Reassembler r(131072);
  const std::vector<uint8_t> a = Pattern(3000, 1), b = Pattern(10, 2), c = Pattern(5000, 3);
  for (const auto* d : {&a, &b, &c}) {
    absl::StatusOr<std::optional<Bvecq>> m = Feed(&r, *d, 1000);
    ASSERT_TRUE(m.ok()) << m.status();
    ASSERT_TRUE(m->has_value());
    EXPECT_EQ(Contents(**m), *d);
  }
  EXPECT_EQ(r.messages_delivered(), 3u);
}

TEST_F(ReassemblyTest, CreditOnlyMessagesInterleaved) {
  Reassembler r(131072);
  const std::vector<uint8_t> data = Pattern(2500, 5);
  DataTransferHeader h;
  auto empty = [&] {
    DataTransferHeader e;
    Bvecq rx = Received({}, 0, &e);
    absl::StatusOr<std::optional<Bvecq>> m = r.Add(e, rx);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_FALSE(m->has_value());
  };
  empty();  // before any message
  Bvecq rx1 = Received(absl::MakeConstSpan(data.data(), 1000), 1500, &h);
  ASSERT_FALSE(r.Add(h, rx1).value().has_value());
  empty();  // between fragments: ignored, the message is still in progress
  EXPECT_TRUE(r.in_progress());
  EXPECT_EQ(r.expected_remaining(), 1500u);
  Bvecq rx2 = Received(absl::MakeConstSpan(data.data() + 1000, 1000), 500, &h);
  ASSERT_FALSE(r.Add(h, rx2).value().has_value());
  empty();
  empty();
  Bvecq rx3 = Received(absl::MakeConstSpan(data.data() + 2000, 500), 0, &h);
  absl::StatusOr<std::optional<Bvecq>> m = r.Add(h, rx3);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE(m->has_value());
  EXPECT_EQ(Contents(**m), data);
  empty();
  EXPECT_EQ(r.messages_delivered(), 1u);
}

TEST_F(ReassemblyTest, TooLargeIsRejectedAndSticky) {
  Reassembler r(131072);
  const std::vector<uint8_t> data = Pattern(1000, 1);
  DataTransferHeader h;
  Bvecq rx = Received(data, 131072 - 1000 + 1, &h);
  absl::StatusOr<std::optional<Bvecq>> m = r.Add(h, rx);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(m.status().message(), HasSubstr("MaxFragmentedSize"));
  // Sticky: a valid message afterwards gets the same error.
  Bvecq ok = Received(data, 0, &h);
  EXPECT_EQ(r.Add(h, ok).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(ReassemblyTest, RemainingMustShrinkByExactlyDataLength) {
  const std::vector<uint8_t> data = Pattern(100, 1);
  struct Case {
    const char* name;
    uint32_t len;
    uint32_t remaining;
  };
  // After a first fragment of 100 bytes with 300 still to come:
  const Case cases[] = {
      {"shrinks too little", 100, 250},
      {"shrinks too much", 100, 100},
      {"ends early", 100, 0},
      {"overruns the message", 400, 0},
      {"a new message starts mid-message", 100, 5000},
  };
  for (const Case& c : cases) {
    Reassembler r(131072);
    DataTransferHeader h;
    Bvecq first = Received(data, 300, &h);
    ASSERT_TRUE(r.Add(h, first).ok());
    const std::vector<uint8_t> next = Pattern(c.len, 2);
    Bvecq rx = Received(next, c.remaining, &h);
    absl::StatusOr<std::optional<Bvecq>> m = r.Add(h, rx);
    EXPECT_EQ(m.status().code(), absl::StatusCode::kDataLoss) << c.name;
    EXPECT_THAT(m.status().message(), HasSubstr("RemainingDataLength")) << c.name;
    EXPECT_FALSE(r.in_progress()) << c.name;
    EXPECT_EQ(r.partial_bytes(), 0u) << c.name;  // partial pages released
  }
}

TEST_F(ReassemblyTest, BadOffsetsAreRejected) {
  const std::vector<uint8_t> data = Pattern(64, 1);
  struct Case {
    const char* name;
    uint32_t offset;
    uint32_t length;
  };
  const Case cases[] = {
      {"length past the end", 24, 65},
      {"offset past the end", 96, 8},
      {"offset near 2^32", 0xFFFFFFF8u, 16},
      {"length 2^32-1", 24, 0xFFFFFFFFu},
  };
  for (const Case& c : cases) {
    Reassembler r(1u << 30);
    DataTransferHeader h;
    Bvecq rx = Received(data, 0, &h);
    h.data_offset = c.offset;  // as if the decoder had been skipped
    h.data_length = c.length;
    absl::StatusOr<std::optional<Bvecq>> m = r.Add(h, rx);
    EXPECT_EQ(m.status().code(), absl::StatusCode::kDataLoss) << c.name;
    EXPECT_THAT(m.status().message(), HasSubstr("DataOffset")) << c.name;
  }
}

TEST_F(ReassemblyTest, PayloadAtALaterOffset) {
  // A peer may pad beyond 24; the slice starts at DataOffset.
  Reassembler r(131072);
  PageRef page = pool_->TryAlloc().value();
  DataTransferHeader h = MakeDataTransferHeader(1, 0, 0, 0, 4);
  h.data_offset = 40;
  std::memset(page.data(), 0, 64);
  const uint8_t bytes[4] = {0xDE, 0xAD, 0xBE, 0xEF};
  std::memcpy(page.data() + 40, bytes, 4);
  Bvecq rx;
  ASSERT_TRUE(rx.Append(std::move(page), 0, 44).ok());
  absl::StatusOr<std::optional<Bvecq>> m = r.Add(h, rx);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_TRUE(m->has_value());
  EXPECT_EQ(Contents(**m), std::vector<uint8_t>(bytes, bytes + 4));
}

}  // namespace
}  // namespace smbd
