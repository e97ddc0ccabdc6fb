#include "smb2/pdu/read.h"

#include "gtest/gtest.h"
#include "smb2/compound.h"
#include "smb2/header.h"
#include "smb2/message.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

using testing_util::FromHex;
using testing_util::ToHex;

// READ request and response of the SMB 3.0 encryption test vector: Microsoft Open
// Specifications blog, "Encryption in SMB 3.0: A protocol perspective" (2012), via
// shared/vectors.md [enc-30] ReadReq_Plaintext / ReadRsp_Plaintext.
constexpr char kReadRequest[] =
    "FE534D4240000100000000000800400008000000000000000500000000000000FFFE0000010000001100001400E4"
    "08000000000000000000000000000000000031000000170000000000000000000000150100003900000201000000"
    "390200000000000000000000000000000000000000";
constexpr char kReadResponse[] =
    "FE534D4240000100000000000800210009000000000000000500000000000000FFFE0000010000001100001400E4"
    "08000000000000000000000000000000000011005000170000000000000000000000536D623320656E6372797074"
    "696F6E2074657374696E67";

TEST(ReadTest, EncodesPublishedRequest) {
  auto pool = testing_util::TestPool();
  SmbMessageRef m = SmbMessage::New();
  m->header.credit_charge = 1;
  m->header.command = Command::kRead;
  m->header.credits = 64;
  m->header.flags = kFlagSigned;
  m->header.message_id = 5;
  m->header.process_id = 0xFEFF;
  m->header.tree_id = 1;
  m->header.session_id = 0x0008E40014000011ull;
  ReadRequest req;
  req.padding = 0;  // Windows sent 0 in this trace
  req.length = 23;
  req.offset = 0;
  req.file_id = FileId{0x0200003900000115ull, 0x0000023900000001ull};
  CompoundWriter cw(&m->request, pool.get());
  EncodeReadRequest(req, cw.Begin(m.get(), false));
  cw.End();
  ASSERT_TRUE(cw.Finish().ok());
  EXPECT_EQ(ToHex(testing_util::Flatten(m->request)), ToHex(FromHex(kReadRequest)));
}

TEST(ReadTest, EncodesRdmaChannelDescriptors) {
  uint8_t buf[256];
  WireWriter w(absl::MakeSpan(buf));
  BufferDescriptorV1 d[2] = {{0x1000, 0xAB, 4096}, {0x20000, 0xCD, 8192}};
  ReadRequest req;
  req.length = 12288;
  req.channel = kChannelRdmaV1;
  req.channel_info = d;
  EncodeReadRequest(req, &w);
  ASSERT_TRUE(w.Finish().ok());
  ASSERT_EQ(w.position(), 48u + 32u);
  EXPECT_EQ(buf[0], 49);                    // StructureSize
  EXPECT_EQ(LoadLE<uint32_t>(buf + 4), 12288u);  // Length stays the read size
  EXPECT_EQ(LoadLE<uint32_t>(buf + 36), kChannelRdmaV1);
  EXPECT_EQ(LoadLE<uint16_t>(buf + 44), 0x70);   // ReadChannelInfoOffset from the header
  EXPECT_EQ(LoadLE<uint16_t>(buf + 46), 32);     // two descriptors
  EXPECT_EQ(LoadLE<uint64_t>(buf + 48), 0x1000u);
  EXPECT_EQ(LoadLE<uint32_t>(buf + 56), 0xABu);
  EXPECT_EQ(LoadLE<uint32_t>(buf + 60), 4096u);
  EXPECT_EQ(LoadLE<uint64_t>(buf + 64), 0x20000u);
  EXPECT_EQ(LoadLE<uint32_t>(buf + 76), 8192u);
}

TEST(ReadTest, DecodesPublishedResponse) {
  std::vector<uint8_t> bytes = FromHex(kReadResponse);
  auto resp = DecodeReadResponse(WireReader(absl::MakeConstSpan(bytes)));
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(resp->data_offset, 0x50);
  EXPECT_EQ(resp->data_length, 23u);
  EXPECT_EQ(resp->data_remaining, 0u);
  EXPECT_EQ(std::string(bytes.begin() + 0x50, bytes.end()), "Smb3 encryption testing");
}

TEST(ReadTest, DecodesFromASplitQueue) {
  auto pool = testing_util::TestPool();
  std::vector<uint8_t> bytes = FromHex(kReadResponse);
  Bvecq q = testing_util::SplitQueue(pool.get(), bytes);
  auto resp = DecodeReadResponse(WireReader(q.begin()));
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(resp->data_length, 23u);
}

TEST(ReadTest, EveryTruncationIsAnError) {
  std::vector<uint8_t> bytes = FromHex(kReadResponse);
  EXPECT_EQ(testing_util::FirstAcceptedTruncation(
                bytes,
                [](absl::Span<const uint8_t> b) {
                  return DecodeReadResponse(WireReader(b)).status();
                }),
            "");
}

TEST(ReadTest, HostileOffsetsAndLengthsAreErrors) {
  const std::vector<uint8_t> good = FromHex(kReadResponse);
  auto decode = [](const std::vector<uint8_t>& b) {
    return DecodeReadResponse(WireReader(absl::MakeConstSpan(b))).status();
  };
  struct Case {
    size_t offset;
    int width;
    uint32_t value;
  } cases[] = {
      {66, 1, 0x00},        // DataOffset 0 with data
      {66, 1, 0x40},        // DataOffset inside the header
      {66, 1, 0x51},        // data would run one byte past the end
      {66, 1, 0xFF},        // past the end
      {68, 4, 24},          // DataLength one too many
      {68, 4, 0xFFFFFFFF},  // wraps 32 bits
      {64, 2, 16},          // StructureSize
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> b = good;
    if (c.width == 1) b[c.offset] = static_cast<uint8_t>(c.value);
    if (c.width == 2) testing_util::PutU16(&b, c.offset, static_cast<uint16_t>(c.value));
    if (c.width == 4) testing_util::PutU32(&b, c.offset, c.value);
    absl::Status s = decode(b);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << c.offset << " = " << c.value;
    EXPECT_NE(s.message().find("READ response"), absl::string_view::npos) << s;
  }
  // An RDMA response: no inline data, DataRemaining = bytes placed.
  std::vector<uint8_t> rdma(good.begin(), good.begin() + 80);
  rdma[66] = 0;
  testing_util::PutU32(&rdma, 68, 0);
  testing_util::PutU32(&rdma, 72, 1 << 20);
  auto resp = DecodeReadResponse(WireReader(absl::MakeConstSpan(rdma)));
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(resp->data_remaining, 1u << 20);
}

}  // namespace
}  // namespace smbd
