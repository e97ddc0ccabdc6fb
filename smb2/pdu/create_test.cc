#include "smb2/pdu/create.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "smb2/pdu/pdu_test_util.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

using testing_util::Corruption;
using testing_util::FromHex;
using testing_util::ToHex;

// CREATE of "existing.txt" (no contexts) and of the share root (empty name), captured from
// Samba 4.17 by tests/golden/capture (run of 2026-11-28): 031-req / 032-rsp and 017-req
// -CREATE-smb311. smbclient sends no create contexts, so the context tests below are built by
// hand from [MS-SMB2] 2.2.13.2 / 2.2.14.2.
constexpr char kFileRequest[] =
    "fe534d4240000100000000000500010010000000000000000e01000000000000000000005000f6c201c2b58600"
    "000000000000000000000000000000000000003900000002000000000000000000000000000000000000008900"
    "1200000000000300000001000000400000007800180000000000000000006500780069007300740069006e0067"
    "002e00740078007400";
constexpr char kFileResponse[] =
    "fe534d4240000100000000000500010011000000000000000e01000000000000000000005000f6c201c2b58600"
    "00000000000000000000000000000000000000590000000100000000006dc64717da0100006dc64717da010000"
    "6dc64717da0100006dc64717da010010000000000000d2000000000000008000000000000000b55164b7000000"
    "0034bb68f9000000000000000000000000";
constexpr char kRootRequest[] =
    "fe534d4240000100000000000500010010000000000000000800000000000000000000005000f6c201c2b58600"
    "000000000000000000000000000000000000003900000002000000000000000000000000000000000000008100"
    "00001000000003000000010000000100000078000000000000000000000000";

// Response contexts appended to kFileResponse at 0x98, built by hand from [MS-SMB2] 2.2.14.2:
// Next, NameOffset 16, NameLength 4, Reserved, DataOffset 24, DataLength, name, pad, data.
const char kResponseContexts[] =
    // MxAc (2.2.14.2.5): 32 bytes, Next 0x20; QueryStatus 0, MaximalAccess 0x001F01FF.
    "20000000" "1000" "0400" "0000" "1800" "08000000" "4d784163" "00000000"
    "00000000" "ff011f00"
    // QFid (2.2.14.2.9): 56 bytes, Next 0x38; DiskFileId 0x1122334455667788, VolumeId 0x99,
    // 16 reserved bytes.
    "38000000" "1000" "0400" "0000" "1800" "20000000" "51466964" "00000000"
    "8877665544332211" "9900000000000000" "00000000000000000000000000000000"
    // RqLs v2 (2.2.14.2.11): 76 bytes + 4 pad, Next 0x50; key 01..10, state RWH (7), flags
    // PARENT_LEASE_KEY_SET (4), duration 0, parent key a0..af, epoch 3.
    "50000000" "1000" "0400" "0000" "1800" "34000000" "52714c73" "00000000"
    "0102030405060708090a0b0c0d0e0f10" "07000000" "04000000" "0000000000000000"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf" "0300" "0000" "00000000"
    // DH2Q (2.2.14.2.12): last, Next 0; Timeout 60000 ms, Flags PERSISTENT (2).
    "00000000" "1000" "0400" "0000" "1800" "08000000" "44483251" "00000000"
    "60ea0000" "02000000";
constexpr uint32_t kContextsOffset = 0x98;
constexpr uint32_t kContextsLength = 32 + 56 + 80 + 32;

std::vector<uint8_t> ResponseWithContexts() {
  std::vector<uint8_t> b = FromHex(kFileResponse);
  const std::vector<uint8_t> ctx = FromHex(kResponseContexts);
  EXPECT_EQ(ctx.size(), kContextsLength);
  b.insert(b.end(), ctx.begin(), ctx.end());
  testing_util::PutU32(&b, 144, kContextsOffset);
  testing_util::PutU32(&b, 148, kContextsLength);
  return b;
}

absl::StatusOr<std::string> Summarize(WireReader m) {
  absl::StatusOr<CreateResponse> r = DecodeCreateResponse(m);
  if (!r.ok()) return r.status();
  std::string s = absl::StrCat(r->oplock_level, "/", r->flags, "/", r->create_action, "/",
                               r->creation_time, "/", r->last_access_time, "/",
                               r->last_write_time, "/", r->change_time, "/", r->allocation_size,
                               "/", r->end_of_file, "/", r->file_attributes, "/",
                               r->file_id.persistent, ":", r->file_id.volatile_id, "/",
                               r->other_contexts);
  if (r->maximal_access) absl::StrAppend(&s, "/MxAc ", r->maximal_access->maximal_access);
  if (r->on_disk_id) absl::StrAppend(&s, "/QFid ", r->on_disk_id->disk_file_id);
  if (r->lease) absl::StrAppend(&s, "/RqLs ", r->lease->version, " ", r->lease->state);
  if (r->durable_v2) absl::StrAppend(&s, "/DH2Q ", r->durable_v2->timeout_ms);
  return s;
}

TEST(CreateTest, EncodesCapturedRequests) {
  CreateRequest req;
  req.impersonation_level = kImpersonationImpersonation;
  req.desired_access = 0x00120089;  // READ_DATA|READ_EA|READ_ATTRIBUTES|READ_CONTROL|SYNCHRONIZE
  req.share_access = kShareRead | kShareWrite;
  req.create_disposition = kFileOpen;
  req.create_options = kFileNonDirectoryFile;
  req.name = "existing.txt";
  const std::vector<uint8_t> file = FromHex(kFileRequest);
  EXPECT_EQ(testing_util::EncodeLikeGolden(
                file, [&](WireWriter* w) { return EncodeCreateRequest(req, w); }),
            ToHex(file));
  req.desired_access = kFileReadAttributes | kFileReadData;
  req.file_attributes = kFileAttributeDirectory;
  req.create_options = kFileDirectoryFile;
  req.name = "";
  const std::vector<uint8_t> root = FromHex(kRootRequest);
  EXPECT_EQ(testing_util::EncodeLikeGolden(
                root, [&](WireWriter* w) { return EncodeCreateRequest(req, w); }),
            ToHex(root));
}

TEST(CreateTest, EncodesContextChain) {
  // Built by hand from [MS-SMB2] 2.2.13 and 2.2.13.2.x.
  uint8_t buf[512];
  WireWriter w(absl::MakeSpan(buf));
  CreateRequest req;
  req.oplock_level = kOplockLevelLease;
  req.desired_access = 0x0012019F;
  req.file_attributes = kFileAttributeNormal;
  req.share_access = kShareRead | kShareWrite | kShareDelete;
  req.create_disposition = kFileOpenIf;
  req.create_options = kFileNonDirectoryFile;
  req.name = "a";
  req.query_maximal_access = true;
  req.query_on_disk_id = true;
  LeaseRequest lease;
  for (int i = 0; i < 16; ++i) lease.key[i] = static_cast<uint8_t>(i + 1);
  lease.state = kLeaseReadCaching | kLeaseHandleCaching | kLeaseWriteCaching;
  lease.epoch = 1;
  req.lease = lease;
  DurableHandleRequestV2 dh;
  dh.timeout_ms = 0;
  dh.flags = 0;
  for (int i = 0; i < 16; ++i) dh.create_guid[i] = static_cast<uint8_t>(0xC0 + i);
  req.durable_v2 = dh;
  ASSERT_TRUE(EncodeCreateRequest(req, &w).ok());
  ASSERT_TRUE(w.Finish().ok());
  const std::string expected = absl::StrCat(
      "3900", "00", "ff", "02000000",          // StructureSize 57, SecurityFlags, lease, Imp.
      "0000000000000000", "0000000000000000",  // SmbCreateFlags, Reserved
      "9f011200", "80000000", "07000000",      // DesiredAccess, FileAttributes, ShareAccess
      "03000000", "40000000",                  // OPEN_IF, NON_DIRECTORY_FILE
      "7800", "0200",                          // NameOffset 0x78, NameLength 2
      "80000000", "b8000000",                  // CreateContextsOffset 0x80, Length 184
      "6100", "000000000000",                  // "a", pad to 0x80
      // MxAc: Next 24, NameOffset 16, NameLength 4, Reserved, DataOffset 0, DataLength 0.
      "18000000", "1000", "0400", "0000", "0000", "00000000", "4d784163", "00000000",
      // QFid: same shape.
      "18000000", "1000", "0400", "0000", "0000", "00000000", "51466964", "00000000",
      // RqLs v2: Next 80, DataOffset 24, DataLength 52; key, state 7, flags 0, duration 0,
      // parent key 0, epoch 1, reserved; 4 bytes of padding.
      "50000000", "1000", "0400", "0000", "1800", "34000000", "52714c73", "00000000",
      "0102030405060708090a0b0c0d0e0f10", "07000000", "00000000", "0000000000000000",
      "00000000000000000000000000000000", "0100", "0000", "00000000",
      // DH2Q, last: Next 0, DataLength 32; Timeout, Flags, Reserved, CreateGuid.
      "00000000", "1000", "0400", "0000", "1800", "20000000", "44483251", "00000000",
      "00000000", "00000000", "0000000000000000", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf");
  EXPECT_EQ(ToHex(w.written()), expected);
}

TEST(CreateTest, EncodesLeaseV1AndRawContexts) {
  uint8_t buf[256];
  WireWriter w(absl::MakeSpan(buf));
  CreateRequest req;
  LeaseRequest lease;
  lease.version = 1;
  lease.state = kLeaseReadCaching;
  req.lease = lease;
  const uint8_t data[3] = {0xAA, 0xBB, 0xCC};
  const CreateContext extra[] = {{"ExtA", data}};
  req.extra_contexts = extra;
  ASSERT_TRUE(EncodeCreateRequest(req, &w).ok());
  ASSERT_TRUE(w.Finish().ok());
  const std::vector<uint8_t> out(w.written().begin(), w.written().end());
  // Empty name: contexts start at 0x78 (body offset 56); RqLs v1 is 24 + 32 = 56 bytes.
  EXPECT_EQ(LoadLE<uint32_t>(&out[48]), 0x78u);
  EXPECT_EQ(LoadLE<uint32_t>(&out[52]), 56u + 24u + 3u);
  EXPECT_EQ(LoadLE<uint32_t>(&out[56]), 56u);  // Next
  EXPECT_EQ(LoadLE<uint32_t>(&out[56 + 12]), 32u);  // DataLength v1
  EXPECT_EQ(LoadLE<uint32_t>(&out[112]), 0u);  // last Next
  EXPECT_EQ(ToHex(absl::MakeConstSpan(out).subspan(112 + 16)), "4578744100000000aabbcc");
  const CreateContext bad[] = {{"", data}};
  req.extra_contexts = bad;
  EXPECT_EQ(EncodeCreateRequest(req, &w).code(), absl::StatusCode::kInvalidArgument);
  req.extra_contexts = {};
  req.name = "\xE2\x82";
  EXPECT_EQ(EncodeCreateRequest(req, &w).code(), absl::StatusCode::kInvalidArgument);
}

TEST(CreateTest, DecodesCapturedResponse) {
  const std::vector<uint8_t> b = FromHex(kFileResponse);
  auto r = DecodeCreateResponse(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->oplock_level, kOplockLevelNone);
  EXPECT_EQ(r->create_action, kFileOpened);
  EXPECT_EQ(r->creation_time, 0x01DA1747C66D0000u);  // 2023-11-14 22:13:20 UTC
  EXPECT_EQ(r->allocation_size, 4096u);
  EXPECT_EQ(r->end_of_file, 210u);
  EXPECT_EQ(r->file_attributes, kFileAttributeNormal);
  EXPECT_EQ(r->file_id, (FileId{0xB76451B5u, 0xF968BB34u}));
  EXPECT_FALSE(r->maximal_access || r->lease || r->on_disk_id || r->durable_v2);
  testing_util::ExpectRobustGolden(b, Summarize);
  const Corruption cases[] = {{64, 2, 88}, {144, 4, 0x98} /* offset ok, length 0: fine */};
  testing_util::ExpectCorruptionsAreDataLoss(b, Summarize, absl::MakeConstSpan(cases, 1),
                                             "CREATE response");
  // A length with no bytes behind it.
  EXPECT_EQ(DecodeCreateResponse(
                WireReader(absl::MakeConstSpan(testing_util::Corrupt(b, {148, 4, 8}))))
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
}

TEST(CreateTest, DecodesResponseContexts) {
  const std::vector<uint8_t> b = ResponseWithContexts();
  auto r = DecodeCreateResponse(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->maximal_access.has_value());
  EXPECT_EQ(r->maximal_access->query_status, 0u);
  EXPECT_EQ(r->maximal_access->maximal_access, 0x001F01FFu);
  ASSERT_TRUE(r->on_disk_id.has_value());
  EXPECT_EQ(r->on_disk_id->disk_file_id, 0x1122334455667788u);
  EXPECT_EQ(r->on_disk_id->volume_id, 0x99u);
  ASSERT_TRUE(r->lease.has_value());
  EXPECT_EQ(r->lease->version, 2);
  EXPECT_EQ(r->lease->key[0], 1);
  EXPECT_EQ(r->lease->key[15], 0x10);
  EXPECT_EQ(r->lease->state, 7u);
  EXPECT_EQ(r->lease->flags, kLeaseFlagParentLeaseKeySet);
  EXPECT_EQ(r->lease->parent_key[0], 0xA0);
  EXPECT_EQ(r->lease->epoch, 3);
  ASSERT_TRUE(r->durable_v2.has_value());
  EXPECT_EQ(r->durable_v2->timeout_ms, 60000u);
  EXPECT_EQ(r->durable_v2->flags, kDurableFlagPersistent);
  EXPECT_EQ(r->other_contexts, 0u);
  testing_util::ExpectRobustGolden(b, Summarize);
}

TEST(CreateTest, HostileContextChainsAreDataLoss) {
  const std::vector<uint8_t> b = ResponseWithContexts();
  const size_t c1 = kContextsOffset, c2 = c1 + 32, c3 = c2 + 56, c4 = c3 + 80;
  std::vector<Corruption> cases = testing_util::OffsetLengthSweep(
      144, 4, 148, 4, kContextsOffset, kContextsLength, b.size());
  const std::vector<Corruption> more = {
      {144, 4, 0x90},        // overlaps the fixed body
      {144, 4, 0x9C},        // not 8-aligned
      {148, 4, 8},           // shorter than one context header
      {c1, 4, 8},            // Next inside the context's own header: would overlap / loop
      {c1, 4, 0x1C},         // Next not 8-aligned
      {c1, 4, kContextsLength},        // Next to the very end: no room for a context
      {c1, 4, 0xFFFFFFF8},   // Next far past the end (no 32-bit wrap)
      {c3, 4, 0x58},         // Next past the end of the chain from context 3
      {c1 + 4, 2, 0},        // NameOffset inside the header
      {c1 + 4, 2, 0xFFFF},   // NameOffset past the context
      {c1 + 6, 2, 0},        // NameLength 0
      {c1 + 6, 2, 0xFFFF},   // NameLength past the context
      {c1 + 10, 2, 0},       // DataOffset 0 with data
      {c1 + 10, 2, 0x1C},    // data runs past Next
      {c1 + 12, 4, 0xFFFFFFFF},  // DataLength all ones
      {c4 + 12, 4, 9},       // last context's data one past the end
      {c1 + 12, 4, 4},       // MxAc data too short for its fields
      {c2 + 12, 4, 8},       // QFid data too short
      {c3 + 12, 4, 20},      // RqLs data too short
      {c4 + 12, 4, 4},       // DH2Q data too short
      {c2 + 16, 4, 0x6341784D},  // QFid renamed MxAc: MxAc twice
      {64, 2, 88},           // StructureSize
  };
  cases.insert(cases.end(), more.begin(), more.end());
  testing_util::ExpectCorruptionsAreDataLoss(b, Summarize, cases, "CREATE response");
}

TEST(CreateTest, SkipsUnknownContextsAndStopsAtNextZero) {
  std::vector<uint8_t> b = ResponseWithContexts();
  // Rename QFid to "Zzzz": counted, skipped.
  testing_util::PutU32(&b, kContextsOffset + 32 + 16, 0x7A7A7A5A);
  auto r = DecodeCreateResponse(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->other_contexts, 1u);
  EXPECT_FALSE(r->on_disk_id.has_value());
  EXPECT_TRUE(r->durable_v2.has_value());
  // Next 0 on the first context ends the chain there (the rest is ignored padding).
  b = ResponseWithContexts();
  testing_util::PutU32(&b, kContextsOffset, 0);
  r = DecodeCreateResponse(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->maximal_access.has_value());
  EXPECT_FALSE(r->lease.has_value());
}

}  // namespace
}  // namespace smbd
