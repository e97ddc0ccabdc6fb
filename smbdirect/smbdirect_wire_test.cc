#include "smbdirect/smbdirect_wire.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "buffers/page_pool.h"
#include "buffers/wire.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace smbd {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> Hex(absl::string_view hex) {
  const std::string bytes = absl::HexStringToBytes(hex);
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

std::string ToHex(absl::Span<const uint8_t> bytes) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

void Put16(std::vector<uint8_t>* b, size_t at, uint16_t v) { StoreLE<uint16_t>(b->data() + at, v); }
void Put32(std::vector<uint8_t>* b, size_t at, uint32_t v) { StoreLE<uint32_t>(b->data() + at, v); }

// [MS-SMBD] 4.1 negotiate example (bytes derived from the field values).
constexpr absl::string_view kRequestHex = "0001000100000a00000400000004000000000200";
constexpr absl::string_view kResponseHex =
    "00010001000100000a000a000000000000001000000400000004000000000200";

SmbDirectNegotiateRequest ExampleRequest() {
  SmbDirectNegotiateRequest req;
  req.min_version = 0x0100;
  req.max_version = 0x0100;
  req.credits_requested = 0x000A;
  req.preferred_send_size = 0x400;
  req.max_receive_size = 0x400;
  req.max_fragmented_size = 0x20000;
  return req;
}

// ---------------------------------------------------------------- negotiate request (2.2.1)

TEST(NegotiateRequestTest, EncodesSpecExample) {
  uint8_t buf[64];
  WireWriter w(absl::MakeSpan(buf));
  ASSERT_TRUE(EncodeSmbDirectNegotiateRequest(ExampleRequest(), &w).ok());
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(w.position(), kNegotiateRequestSize);
  EXPECT_EQ(ToHex(w.written()), kRequestHex);
}

TEST(NegotiateRequestTest, EncodeRejectsOwnBadValues) {
  uint8_t buf[64];
  auto encode = [&](const SmbDirectNegotiateRequest& r) {
    WireWriter w(absl::MakeSpan(buf));
    return EncodeSmbDirectNegotiateRequest(r, &w);
  };
  SmbDirectNegotiateRequest r = ExampleRequest();
  r.credits_requested = 0;
  EXPECT_EQ(encode(r).code(), absl::StatusCode::kInvalidArgument);
  r = ExampleRequest();
  r.max_receive_size = 127;
  EXPECT_EQ(encode(r).code(), absl::StatusCode::kInvalidArgument);
  r = ExampleRequest();
  r.preferred_send_size = 100;
  EXPECT_EQ(encode(r).code(), absl::StatusCode::kInvalidArgument);
  r = ExampleRequest();
  r.max_fragmented_size = 131071;
  EXPECT_EQ(encode(r).code(), absl::StatusCode::kInvalidArgument);
  r = ExampleRequest();
  r.min_version = 0x0200;
  r.max_version = 0x0200;
  EXPECT_EQ(encode(r).code(), absl::StatusCode::kInvalidArgument);
}

TEST(NegotiateRequestTest, EncodeIntoTooSmallBufferFails) {
  uint8_t buf[19];
  WireWriter w(absl::MakeSpan(buf));
  EXPECT_EQ(EncodeSmbDirectNegotiateRequest(ExampleRequest(), &w).code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(NegotiateRequestTest, DecodesSpecExample) {
  const std::vector<uint8_t> b = Hex(kRequestHex);
  absl::StatusOr<SmbDirectNegotiateRequest> r = DecodeSmbDirectNegotiateRequest(b);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->min_version, 0x0100);
  EXPECT_EQ(r->max_version, 0x0100);
  EXPECT_EQ(r->credits_requested, 10);
  EXPECT_EQ(r->preferred_send_size, 1024u);
  EXPECT_EQ(r->max_receive_size, 1024u);
  EXPECT_EQ(r->max_fragmented_size, 131072u);
}

TEST(NegotiateRequestTest, DecodeTruncatedAtEveryByte) {
  const std::vector<uint8_t> b = Hex(kRequestHex);
  for (size_t n = 0; n < b.size(); ++n) {
    absl::StatusOr<SmbDirectNegotiateRequest> r =
        DecodeSmbDirectNegotiateRequest(absl::MakeConstSpan(b.data(), n));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << n;
  }
}

TEST(NegotiateRequestTest, DecodeChecksEachField) {
  std::vector<uint8_t> b = Hex(kRequestHex);
  Put16(&b, 0, 0x0200);  // MinVersion above 0x0100
  Put16(&b, 2, 0x0200);
  EXPECT_EQ(DecodeSmbDirectNegotiateRequest(b).status().code(),
            absl::StatusCode::kFailedPrecondition);
  b = Hex(kRequestHex);
  Put16(&b, 0, 0x0000);  // a range [0x0000, 0x0200] that includes 0x0100 is fine
  Put16(&b, 2, 0x0200);
  EXPECT_TRUE(DecodeSmbDirectNegotiateRequest(b).ok());
  b = Hex(kRequestHex);
  Put16(&b, 6, 0);
  EXPECT_THAT(DecodeSmbDirectNegotiateRequest(b).status().message(), HasSubstr("CreditsRequested"));
  b = Hex(kRequestHex);
  Put32(&b, 12, 127);
  EXPECT_EQ(DecodeSmbDirectNegotiateRequest(b).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(DecodeSmbDirectNegotiateRequest(b).status().message(), HasSubstr("MaxReceiveSize"));
  b = Hex(kRequestHex);
  Put32(&b, 16, 131071);
  EXPECT_EQ(DecodeSmbDirectNegotiateRequest(b).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(DecodeSmbDirectNegotiateRequest(b).status().message(),
              HasSubstr("MaxFragmentedSize"));
}

// --------------------------------------------------------------- negotiate response (2.2.2)

TEST(NegotiateResponseTest, DecodesSpecExample) {
  const std::vector<uint8_t> b = Hex(kResponseHex);
  absl::StatusOr<SmbDirectNegotiateResponse> r = DecodeSmbDirectNegotiateResponse(b);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->min_version, 0x0100);
  EXPECT_EQ(r->max_version, 0x0100);
  EXPECT_EQ(r->negotiated_version, 0x0100);
  EXPECT_EQ(r->credits_requested, 10);
  EXPECT_EQ(r->credits_granted, 10);
  EXPECT_EQ(r->status, 0u);
  EXPECT_EQ(r->max_read_write_size, 0x100000u);
  EXPECT_EQ(r->preferred_send_size, 1024u);
  EXPECT_EQ(r->max_receive_size, 1024u);
  EXPECT_EQ(r->max_fragmented_size, 131072u);
}

TEST(NegotiateResponseTest, EncodeRoundTripsSpecExample) {
  const std::vector<uint8_t> b = Hex(kResponseHex);
  SmbDirectNegotiateResponse rsp = DecodeSmbDirectNegotiateResponse(b).value();
  uint8_t out[32];
  WireWriter w(absl::MakeSpan(out));
  EncodeSmbDirectNegotiateResponse(rsp, &w);
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(ToHex(w.written()), kResponseHex);
}

TEST(NegotiateResponseTest, ValidatesSpecExample) {
  absl::StatusOr<NegotiatedParams> p =
      ProcessSmbDirectNegotiateResponse(ExampleRequest(), Hex(kResponseHex), 8 << 20);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->send_credits, 10);
  EXPECT_EQ(p->send_credit_target, 10);
  EXPECT_EQ(p->receive_credit_target, 10);
  EXPECT_EQ(p->max_send_size, 1024u);
  EXPECT_EQ(p->max_receive_size, 1024u);
  EXPECT_EQ(p->max_read_write_size, 0x100000u);  // the peer's, smaller than 8 MiB
  EXPECT_EQ(p->max_fragmented_send_size, 131072u);
  EXPECT_EQ(p->max_fragmented_receive_size, 131072u);
}

TEST(NegotiateResponseTest, DerivedSizesTakeTheSmaller) {
  SmbDirectNegotiateRequest req = ExampleRequest();
  req.preferred_send_size = 1364;
  req.max_receive_size = 1364;
  req.max_fragmented_size = 1 << 20;
  std::vector<uint8_t> b = Hex(kResponseHex);
  Put32(&b, 16, 16 << 20);  // MaxReadWriteSize above our local limit
  Put32(&b, 20, 200);       // PreferredSendSize: we receive at most 200
  Put32(&b, 24, 1000);      // MaxReceiveSize: we send at most 1000
  Put32(&b, 28, 300000);
  absl::StatusOr<NegotiatedParams> p = ProcessSmbDirectNegotiateResponse(req, b, 4 << 20);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->max_receive_size, 200u);
  EXPECT_EQ(p->max_send_size, 1000u);
  EXPECT_EQ(p->max_read_write_size, 4u << 20);
  EXPECT_EQ(p->max_fragmented_send_size, 300000u);
  EXPECT_EQ(p->max_fragmented_receive_size, 1u << 20);

  // A PreferredSendSize below 128 still leaves MaxReceiveSize at 128 (3.1.5.7).
  Put32(&b, 20, 64);
  p = ProcessSmbDirectNegotiateResponse(req, b, 4 << 20);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->max_receive_size, 128u);
}

TEST(NegotiateResponseTest, TruncatedAtEveryByteIsDataLoss) {
  const std::vector<uint8_t> b = Hex(kResponseHex);
  for (size_t n = 0; n < b.size(); ++n) {
    absl::StatusOr<NegotiatedParams> p = ProcessSmbDirectNegotiateResponse(
        ExampleRequest(), absl::MakeConstSpan(b.data(), n), 1 << 20);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kDataLoss) << n;
  }
  // Trailing bytes after the 32 are ignored.
  std::vector<uint8_t> longer = b;
  longer.resize(40, 0xEE);
  EXPECT_TRUE(ProcessSmbDirectNegotiateResponse(ExampleRequest(), longer, 1 << 20).ok());
}

struct Corruption {
  const char* name;
  size_t offset;
  int width;  // 2 or 4
  uint32_t value;
  absl::StatusCode code;
  const char* field;  // substring of the error
};

TEST(NegotiateResponseTest, EachFieldCorrupted) {
  const Corruption cases[] = {
      {"status", 12, 4, 0xC00000BB, absl::StatusCode::kFailedPrecondition, "0xc00000bb"},
      {"negotiated version", 4, 2, 0x0200, absl::StatusCode::kFailedPrecondition,
       "NegotiatedVersion"},
      {"min version above negotiated", 0, 2, 0x0101, absl::StatusCode::kFailedPrecondition,
       "MinVersion"},
      {"max version below negotiated", 2, 2, 0x00FF, absl::StatusCode::kFailedPrecondition,
       "MaxVersion"},
      {"credits requested 0", 8, 2, 0, absl::StatusCode::kDataLoss, "CreditsRequested"},
      {"credits granted 0", 10, 2, 0, absl::StatusCode::kDataLoss, "CreditsGranted"},
      {"max receive 127", 24, 4, 127, absl::StatusCode::kDataLoss, "MaxReceiveSize"},
      {"max receive 0", 24, 4, 0, absl::StatusCode::kDataLoss, "MaxReceiveSize"},
      {"max fragmented 131071", 28, 4, 131071, absl::StatusCode::kDataLoss,
       "MaxFragmentedSize"},
      {"preferred send above our max receive", 20, 4, 1025, absl::StatusCode::kDataLoss,
       "PreferredSendSize"},
      {"preferred send huge", 20, 4, 0xFFFFFFFF, absl::StatusCode::kDataLoss,
       "PreferredSendSize"},
  };
  for (const Corruption& c : cases) {
    std::vector<uint8_t> b = Hex(kResponseHex);
    if (c.width == 2) {
      Put16(&b, c.offset, static_cast<uint16_t>(c.value));
    } else {
      Put32(&b, c.offset, c.value);
    }
    absl::StatusOr<NegotiatedParams> p =
        ProcessSmbDirectNegotiateResponse(ExampleRequest(), b, 1 << 20);
    EXPECT_EQ(p.status().code(), c.code) << c.name << ": " << p.status();
    EXPECT_THAT(p.status().message(), HasSubstr(c.field)) << c.name;
  }
}

TEST(NegotiateResponseTest, BoundaryValuesAccepted) {
  std::vector<uint8_t> b = Hex(kResponseHex);
  Put32(&b, 24, 128);     // MaxReceiveSize exactly 128
  Put32(&b, 28, 131072);  // MaxFragmentedSize exactly 131072
  Put32(&b, 20, 1024);    // PreferredSendSize == our MaxReceiveSize
  Put16(&b, 10, 1);       // one credit
  Put16(&b, 6, 0xBEEF);   // Reserved is ignored
  absl::StatusOr<NegotiatedParams> p =
      ProcessSmbDirectNegotiateResponse(ExampleRequest(), b, 1 << 20);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->max_send_size, 128u);
  EXPECT_EQ(p->send_credits, 1);
}

TEST(NegotiateResponseTest, FailureStatusWinsOverGarbageFields) {
  // A refusal (STATUS_NOT_SUPPORTED) need not carry valid sizes: the status is reported.
  SmbDirectNegotiateResponse rsp;
  rsp.status = 0xC00000BB;
  rsp.credits_granted = 0;
  rsp.max_receive_size = 0;
  absl::StatusOr<NegotiatedParams> p = ValidateSmbDirectNegotiateResponse(ExampleRequest(), rsp, 0);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(p.status().message(), HasSubstr("Status"));
}

// ------------------------------------------------------------------- data transfer (2.2.3)

// Hand-built header, [MS-SMBD] 2.2.3 layout: CreditsRequested 255, CreditsGranted 3,
// Flags RESPONSE_REQUESTED, Reserved 0, RemainingDataLength 1000, DataOffset 24, DataLength 8,
// Padding 0.
constexpr absl::string_view kDataHeaderHex =
    "ff00"        // CreditsRequested
    "0300"        // CreditsGranted
    "0100"        // Flags
    "0000"        // Reserved
    "e8030000"    // RemainingDataLength
    "18000000"    // DataOffset
    "08000000"    // DataLength
    "00000000";   // Padding
constexpr absl::string_view kPayloadHex = "0102030405060708";
// An empty (credit-only) message: CreditsRequested 10, CreditsGranted 5, no flags, 20 bytes.
constexpr absl::string_view kEmptyHex = "0a000500000000000000000000000000" "00000000";

TEST(DataTransferTest, EncodesHeaderWithData) {
  uint8_t buf[32];
  absl::StatusOr<size_t> n = EncodeDataTransferHeader(
      MakeDataTransferHeader(255, 3, kSmbDirectResponseRequested, 1000, 8), absl::MakeSpan(buf));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 24u);
  EXPECT_EQ(*n % 8, 0u);
  EXPECT_EQ(ToHex(absl::MakeConstSpan(buf, *n)), kDataHeaderHex);
}

TEST(DataTransferTest, EncodesEmptyMessageAs20Bytes) {
  uint8_t buf[32];
  absl::StatusOr<size_t> n =
      EncodeDataTransferHeader(MakeDataTransferHeader(10, 5, 0, 0, 0), absl::MakeSpan(buf));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 20u);
  EXPECT_EQ(DataTransferHeaderSize(0), 20u);
  EXPECT_EQ(DataTransferHeaderSize(1), 24u);
  EXPECT_EQ(ToHex(absl::MakeConstSpan(buf, *n)), kEmptyHex);
}

TEST(DataTransferTest, EncodeRejectsInconsistentHeader) {
  uint8_t buf[32];
  DataTransferHeader h = MakeDataTransferHeader(1, 0, 0, 0, 8);
  h.data_offset = 32;
  EXPECT_EQ(EncodeDataTransferHeader(h, absl::MakeSpan(buf)).status().code(),
            absl::StatusCode::kInvalidArgument);
  h = MakeDataTransferHeader(1, 0, 0, 0, 0);
  h.data_offset = 24;
  EXPECT_EQ(EncodeDataTransferHeader(h, absl::MakeSpan(buf)).status().code(),
            absl::StatusCode::kInvalidArgument);
  h = MakeDataTransferHeader(1, 0, 0, 5, 0);  // remaining data without data
  EXPECT_EQ(EncodeDataTransferHeader(h, absl::MakeSpan(buf)).status().code(),
            absl::StatusCode::kInvalidArgument);
  uint8_t small[23];
  EXPECT_EQ(EncodeDataTransferHeader(MakeDataTransferHeader(1, 0, 0, 0, 8), absl::MakeSpan(small))
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
}

std::vector<uint8_t> DataMessage() { return Hex(absl::StrCat(kDataHeaderHex, kPayloadHex)); }

TEST(DataTransferTest, DecodesHandBuiltMessage) {
  const std::vector<uint8_t> b = DataMessage();
  absl::StatusOr<DataTransferHeader> h = DecodeDataTransfer(b, 1 << 20);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->credits_requested, 255);
  EXPECT_EQ(h->credits_granted, 3);
  EXPECT_EQ(h->flags, kSmbDirectResponseRequested);
  EXPECT_TRUE(h->response_requested());
  EXPECT_EQ(h->remaining_data_length, 1000u);
  EXPECT_EQ(h->data_offset, 24u);
  EXPECT_EQ(h->data_length, 8u);
}

TEST(DataTransferTest, DecodesEmptyMessage) {
  absl::StatusOr<DataTransferHeader> h = DecodeDataTransfer(Hex(kEmptyHex), 131072);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->credits_granted, 5);
  EXPECT_EQ(h->data_length, 0u);
  EXPECT_FALSE(h->response_requested());
}

TEST(DataTransferTest, TruncatedAtEveryByteIsDataLoss) {
  const std::vector<uint8_t> b = DataMessage();
  for (size_t n = 0; n < b.size(); ++n) {
    absl::StatusOr<DataTransferHeader> h =
        DecodeDataTransfer(absl::MakeConstSpan(b.data(), n), 1 << 20);
    EXPECT_EQ(h.status().code(), absl::StatusCode::kDataLoss) << n;
    if (n >= 20) {
      EXPECT_THAT(h.status().message(), HasSubstr("DataOffset+DataLength")) << n;
    }
  }
  EXPECT_TRUE(DecodeDataTransfer(b, 1 << 20).ok());
}

TEST(DataTransferTest, EachFieldCorrupted) {
  const Corruption cases[] = {
      {"credits requested 0", 0, 2, 0, absl::StatusCode::kDataLoss, "CreditsRequested"},
      {"offset unaligned", 12, 4, 25, absl::StatusCode::kDataLoss, "8-byte aligned"},
      {"offset inside header", 12, 4, 16, absl::StatusCode::kDataLoss, "overlaps the header"},
      {"offset 0 with data", 12, 4, 0, absl::StatusCode::kDataLoss, "overlaps the header"},
      {"offset past end", 12, 4, 32, absl::StatusCode::kDataLoss, "DataOffset+DataLength"},
      {"offset near 2^32", 12, 4, 0xFFFFFFF8, absl::StatusCode::kDataLoss,
       "DataOffset+DataLength"},
      {"length past end", 16, 4, 9, absl::StatusCode::kDataLoss, "DataOffset+DataLength"},
      {"length 2^32-1", 16, 4, 0xFFFFFFFF, absl::StatusCode::kDataLoss,
       "DataOffset+DataLength"},
      {"remaining above max", 8, 4, 131072 - 8 + 1, absl::StatusCode::kDataLoss,
       "MaxFragmentedSize"},
      {"remaining 2^32-1 (no wrap)", 8, 4, 0xFFFFFFFF, absl::StatusCode::kDataLoss,
       "MaxFragmentedSize"},
  };
  for (const Corruption& c : cases) {
    std::vector<uint8_t> b = DataMessage();
    if (c.width == 2) {
      Put16(&b, c.offset, static_cast<uint16_t>(c.value));
    } else {
      Put32(&b, c.offset, c.value);
    }
    absl::StatusOr<DataTransferHeader> h = DecodeDataTransfer(b, 131072);
    EXPECT_EQ(h.status().code(), c.code) << c.name << ": " << h.status();
    EXPECT_THAT(h.status().message(), HasSubstr(c.field)) << c.name;
  }
}

TEST(DataTransferTest, ToleratedFields) {
  std::vector<uint8_t> b = DataMessage();
  Put16(&b, 4, 0xFFFE);  // unknown flag bits only: ignored, RESPONSE_REQUESTED clear
  Put16(&b, 6, 0x1234);  // Reserved: ignored
  Put16(&b, 2, 0xFFFF);  // any CreditsGranted decodes (credit limits are smbdirect_credits' job)
  absl::StatusOr<DataTransferHeader> h = DecodeDataTransfer(b, 131072);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_FALSE(h->response_requested());
  EXPECT_EQ(h->credits_granted, 0xFFFF);

  // DataLength + RemainingDataLength exactly MaxFragmentedSize is allowed.
  b = DataMessage();
  Put32(&b, 8, 131072 - 8);
  EXPECT_TRUE(DecodeDataTransfer(b, 131072).ok());

  // Data at a later 8-aligned offset (padding beyond 24) is accepted.
  b = Hex(absl::StrCat(kDataHeaderHex, "0000000000000000", kPayloadHex));
  Put32(&b, 12, 32);
  h = DecodeDataTransfer(b, 131072);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->data_offset, 32u);

  // An empty message whose DataOffset points past the 20 bytes received is rejected (3.1.5.8).
  b = Hex(kEmptyHex);
  Put32(&b, 12, 24);
  EXPECT_EQ(DecodeDataTransfer(b, 131072).status().code(), absl::StatusCode::kDataLoss);
}

TEST(DataTransferTest, DecodesFromBvecqAcrossPages) {
  PagePoolOptions o;
  o.slab_bytes = 16 * kPageSize;
  o.max_bytes = o.slab_bytes;
  o.huge_pages = false;
  std::unique_ptr<PagePool> pool = PagePool::Create(o).value();
  {
    const std::vector<uint8_t> b = DataMessage();
    // Split the 32 bytes 10 / 22 over two pages, the header straddling the boundary.
    Bvecq q;
    PageRef p1 = pool->TryAlloc().value();
    PageRef p2 = pool->TryAlloc().value();
    std::memcpy(p1.data() + kPageSize - 10, b.data(), 10);
    std::memcpy(p2.data(), b.data() + 10, b.size() - 10);
    ASSERT_TRUE(q.Append(std::move(p1), kPageSize - 10, 10).ok());
    ASSERT_TRUE(q.Append(std::move(p2), 0, static_cast<uint32_t>(b.size() - 10)).ok());
    absl::StatusOr<DataTransferHeader> h = DecodeDataTransfer(q, 1 << 20);
    ASSERT_TRUE(h.ok()) << h.status();
    EXPECT_EQ(h->remaining_data_length, 1000u);
    EXPECT_EQ(h->data_length, 8u);

    absl::StatusOr<Bvecq> shorter = q.Slice(0, 31);
    ASSERT_TRUE(shorter.ok());
    EXPECT_EQ(DecodeDataTransfer(*shorter, 1 << 20).status().code(),
              absl::StatusCode::kDataLoss);
  }
  EXPECT_EQ(pool->stats().pages_in_use, 0u);
}

}  // namespace
}  // namespace smbd
