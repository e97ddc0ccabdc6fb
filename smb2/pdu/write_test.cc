#include "smb2/pdu/write.h"

#include "gtest/gtest.h"
#include "smb2/compound.h"
#include "smb2/message.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

using testing_util::FromHex;
using testing_util::ToHex;

// WRITE request and response of the SMB 3.0 encryption test vector: Microsoft Open
// Specifications blog, "Encryption in SMB 3.0: A protocol perspective" (2012), via
// shared/vectors.md [enc-30] WriteReq_Plaintext / WriteRsp_Plaintext.
constexpr char kWriteRequest[] =
    "FE534D4240000100000000000900400008000000000000000400000000000000FFFE0000010000001100001400E4"
    "080000000000000000000000000000000000310070001700000000000000000000001501000039000002010000"
    "003902000000000000000000007000000000000000536D623320656E6372797074696F6E2074657374696E67";
constexpr char kWriteResponse[] =
    "FE534D4240000100000000000900210009000000000000000400000000000000FFFE0000010000001100001400E4"
    "08000000000000000000000000000000000011000000170000000000000000000000";

TEST(WriteTest, EncodesPublishedRequestWithSplicedPayload) {
  auto pool = testing_util::TestPool();
  SmbMessageRef m = SmbMessage::New();
  m->header.credit_charge = 1;
  m->header.command = Command::kWrite;
  m->header.credits = 64;
  m->header.flags = kFlagSigned;
  m->header.message_id = 4;
  m->header.process_id = 0xFEFF;
  m->header.tree_id = 1;
  m->header.session_id = 0x0008E40014000011ull;
  const std::string data = "Smb3 encryption testing";
  Bvecq payload = testing_util::SplitQueue(
      pool.get(), absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(data.data()), data.size()),
      {5, 18});
  const uint8_t* payload_first = payload.begin().Peek().data();
  WriteRequest req;
  req.length = 23;
  req.file_id = FileId{0x0200003900000115ull, 0x0000023900000001ull};
  CompoundWriter cw(&m->request, pool.get());
  ASSERT_TRUE(EncodeWriteRequest(req, &payload, cw.Begin(m.get(), false)).ok());
  cw.End();
  ASSERT_TRUE(cw.Finish().ok());
  EXPECT_EQ(ToHex(testing_util::Flatten(m->request)), ToHex(FromHex(kWriteRequest)));
  // The payload was spliced, not copied: its first byte is the same memory.
  auto it = m->request.Range(0x70, 1);
  ASSERT_TRUE(it.ok());
  EXPECT_EQ(it->Peek().data(), payload_first);
  EXPECT_TRUE(payload.empty());
}

TEST(WriteTest, RdmaWriteSendsLengthZeroAndSizeInRemainingBytes) {
  uint8_t buf[128];
  WireWriter w(absl::MakeSpan(buf));
  BufferDescriptorV1 d{0xABC000, 0x77, 1 << 20};
  WriteRequest req;
  req.length = 1 << 20;
  req.offset = 4096;
  req.channel = kChannelRdmaV1;
  req.channel_info = absl::MakeConstSpan(&d, 1);
  ASSERT_TRUE(EncodeWriteRequest(req, nullptr, &w).ok());
  ASSERT_TRUE(w.Finish().ok());
  ASSERT_EQ(w.position(), 48u + 16u);
  EXPECT_EQ(LoadLE<uint16_t>(buf + 2), 0u);        // DataOffset
  EXPECT_EQ(LoadLE<uint32_t>(buf + 4), 0u);        // Length
  EXPECT_EQ(LoadLE<uint64_t>(buf + 8), 4096u);     // Offset
  EXPECT_EQ(LoadLE<uint32_t>(buf + 32), kChannelRdmaV1);
  EXPECT_EQ(LoadLE<uint32_t>(buf + 36), 1u << 20);  // RemainingBytes
  EXPECT_EQ(LoadLE<uint16_t>(buf + 40), 0x70);      // WriteChannelInfoOffset
  EXPECT_EQ(LoadLE<uint16_t>(buf + 42), 16);
  EXPECT_EQ(LoadLE<uint64_t>(buf + 48), 0xABC000u);
  EXPECT_EQ(LoadLE<uint32_t>(buf + 56), 0x77u);
}

TEST(WriteTest, RejectsInconsistentRequests) {
  auto pool = testing_util::TestPool();
  uint8_t buf[128];
  WireWriter w(absl::MakeSpan(buf));
  WriteRequest req;
  req.length = 10;
  Bvecq payload;
  EXPECT_EQ(EncodeWriteRequest(req, &payload, &w).code(), absl::StatusCode::kInvalidArgument);
  req.channel = kChannelRdmaV1;
  EXPECT_EQ(EncodeWriteRequest(req, nullptr, &w).code(), absl::StatusCode::kInvalidArgument);
}

TEST(WriteTest, DecodesPublishedResponse) {
  std::vector<uint8_t> bytes = FromHex(kWriteResponse);
  auto resp = DecodeWriteResponse(WireReader(absl::MakeConstSpan(bytes)));
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(resp->count, 23u);
  EXPECT_EQ(resp->remaining, 0u);
  EXPECT_EQ(testing_util::FirstAcceptedTruncation(
                bytes,
                [](absl::Span<const uint8_t> b) {
                  return DecodeWriteResponse(WireReader(b)).status();
                }),
            "");
  bytes[64] = 0x10;
  EXPECT_EQ(DecodeWriteResponse(WireReader(absl::MakeConstSpan(bytes))).status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace smbd
