#include "smb2/pdu/negotiate.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "smb2/compound.h"
#include "smb2/message.h"
#include "smb2/pdu/pdu_test_util.h"
#include "smb2/test_util.h"

namespace smbd {
namespace {

using testing_util::Corruption;
using testing_util::FromHex;
using testing_util::ToHex;

// SMB 3.1.1 NEGOTIATE request and response of the master session in Microsoft Open
// Specifications blog, "SMB 2 and SMB 3 security in Windows 10: the anatomy of signing and
// cryptographic keys" (2017), appendix, via shared/vectors.md section 9 [anat-311]
// NEGOTIATE_request / NEGOTIATE_response.
constexpr char kNegotiateRequest[] =
    "FE534D4240000100000000000000800000000000000000000100000000000000FFFE0000000000000000000000"
    "0000000000000000000000000000000000000024000500000000003F000000ECD86F326276024F9F7752B89BB3"
    "3F3A70000000020000000202100200030203110300000100260000000000010020000100FA49E6578F1F3A9F4C"
    "D3E9CC14A67AA884B3D05844E0E5A118225C15887F32FF00000200060000000000020002000100";

constexpr char kNegotiateResponse[] =
    "FE534D4240000100000000000000010001000000000000000100000000000000FFFE0000000000000000000000"
    "00000000000000000000000000000000000000410001001103020039CBCAF329714942BDCE5D60F09AB3FB2F00"
    "0000000080000000800000008000D8DAE5ADCBAED00109094AB095AED00180004001C00100006082013C06062B"
    "0601050502A08201303082012CA01A3018060A2B06010401823702021E060A2B06010401823702020AA282010C"
    "048201084E45474F45585453010000000000000060000000700000007C7CC0FD06D6362D02DDE1CF343BFE2929"
    "00F49750B4AA97934D9C4296B26E51FD370471B235E15A50DAE15BD5489C870000000000000000600000000100"
    "000000000000000000005C33530DEAF90D4DB2EC4AE3786EC3084E45474F455854530300000001000000400000"
    "00980000007C7CC0FD06D6362D02DDE1CF343BFE295C33530DEAF90D4DB2EC4AE3786EC3084000000058000000"
    "3056A05430523027802530233121301F06035504031318546F6B656E205369676E696E67205075626C6963204B"
    "65793027802530233121301F06035504031318546F6B656E205369676E696E67205075626C6963204B65790100"
    "26000000000001002000010060A3C3B95C3C7CCD51EC536648D9B3AC74C483CA5B65385A251117BEB30712E500"
    "00020004000000000001000200";

constexpr uint8_t kClientGuid[16] = {0xEC, 0xD8, 0x6F, 0x32, 0x62, 0x76, 0x02, 0x4F,
                                     0x9F, 0x77, 0x52, 0xB8, 0x9B, 0xB3, 0x3F, 0x3A};

std::string Summary(const NegotiateResponse& r) {
  std::string s = absl::StrCat(r.security_mode, "/", r.dialect, "/", ToHex(r.server_guid), "/",
                               r.capabilities, "/", r.max_transact_size, "/", r.max_read_size,
                               "/", r.max_write_size, "/", r.system_time, "/",
                               r.server_start_time, "/", r.security_buffer_offset, "+",
                               r.security_buffer_length);
  if (r.preauth) {
    absl::StrAppend(&s, "/preauth ", absl::StrJoin(r.preauth->hash_algorithms, ","), " ",
                    ToHex(r.preauth->salt));
  }
  if (r.ciphers) absl::StrAppend(&s, "/ciphers ", absl::StrJoin(*r.ciphers, ","));
  if (r.signing_algorithms) {
    absl::StrAppend(&s, "/signing ", absl::StrJoin(*r.signing_algorithms, ","));
  }
  if (r.rdma_transforms) absl::StrAppend(&s, "/rdma ", absl::StrJoin(*r.rdma_transforms, ","));
  if (r.netname) absl::StrAppend(&s, "/netname ", *r.netname);
  absl::StrAppend(&s, "/other ", absl::StrJoin(r.other_context_types, ","));
  return s;
}

absl::StatusOr<std::string> Summarize(WireReader m) {
  absl::StatusOr<NegotiateResponse> r = DecodeNegotiateResponse(m);
  if (!r.ok()) return r.status();
  return Summary(*r);
}

absl::Status Decode(const std::vector<uint8_t>& b) {
  return DecodeNegotiateResponse(WireReader(absl::MakeConstSpan(b))).status();
}

TEST(NegotiateTest, EncodesPublishedRequest) {
  auto pool = testing_util::TestPool();
  SmbMessageRef m = SmbMessage::New();
  m->header.credit_charge = 1;
  m->header.command = Command::kNegotiate;
  m->header.credits = 128;
  m->header.message_id = 1;
  m->header.process_id = 0xFEFF;
  const uint16_t dialects[] = {kDialect202, kDialect210, kDialect300, kDialect302, kDialect311};
  const std::vector<uint8_t> salt =
      FromHex("FA49E6578F1F3A9F4CD3E9CC14A67AA884B3D05844E0E5A118225C15887F32FF");
  const uint16_t ciphers[] = {kCipherAes128Gcm, kCipherAes128Ccm};
  NegotiateRequest req;
  req.dialects = dialects;
  req.security_mode = 0;
  req.capabilities = 0x3F;
  std::copy(std::begin(kClientGuid), std::end(kClientGuid), req.client_guid);
  req.preauth_salt = salt;
  req.ciphers = ciphers;
  CompoundWriter cw(&m->request, pool.get());
  ASSERT_TRUE(EncodeNegotiateRequest(req, cw.Begin(m.get(), false)).ok());
  cw.End();
  ASSERT_TRUE(cw.Finish().ok());
  EXPECT_EQ(ToHex(testing_util::Flatten(m->request)), ToHex(FromHex(kNegotiateRequest)));
}

TEST(NegotiateTest, EncodesEveryContextAligned) {
  // Expected bytes built by hand from [MS-SMB2] 2.2.3 and 2.2.3.1.x (no published message
  // carries these contexts). Body offsets below are from the start of the body; the header
  // (64 bytes) precedes it, so NegotiateContextOffset = 64 + offset.
  uint8_t buf[512];
  WireWriter w(absl::MakeSpan(buf));
  const uint16_t dialects[] = {kDialect300, kDialect311};  // 4 bytes: 36 + 4 = 40, aligned
  const uint8_t salt[4] = {1, 2, 3, 4};
  const uint16_t ciphers[] = {kCipherAes256Gcm, kCipherAes128Gcm};
  const uint16_t signing[] = {kSigningAesGmac, kSigningAesCmac, kSigningHmacSha256};
  const uint16_t rdma[] = {kRdmaTransformEncryption, kRdmaTransformSigning};
  NegotiateRequest req;
  req.dialects = dialects;
  req.capabilities = kCapEncryption;
  req.preauth_salt = salt;
  req.ciphers = ciphers;
  req.netname = "srv";
  req.rdma_transforms = rdma;
  req.signing_algorithms = signing;
  ASSERT_TRUE(EncodeNegotiateRequest(req, &w).ok());
  ASSERT_TRUE(w.Finish().ok());
  const std::string expected = absl::StrCat(
      "2400", "0200", "0100", "0000", "40000000",       // StructureSize 36, 2 dialects, signing
      "00000000000000000000000000000000",                // ClientGuid
      "68000000", "0500", "0000",                        // NegotiateContextOffset 64+40, 5 ctxs
      "0003", "1103",                                    // dialects (body ends at 40, aligned)
      "0100", "0a00", "00000000", "0100", "0400", "0100", "01020304",  // PREAUTH, 10 bytes
      "000000000000",                                    // pad 58 -> 64
      "0200", "0600", "00000000", "0200", "0400", "0200",  // ENCRYPTION: 2 ciphers
      "0000",                                            // pad 78 -> 80
      "0500", "0600", "00000000", "730072007600",        // NETNAME "srv" UTF-16LE
      "0000",                                            // pad 94 -> 96
      "0700", "0c00", "00000000", "0200", "0000", "00000000", "0100", "0200",  // RDMA
      "00000000",                                        // pad 116 -> 120
      "0800", "0800", "00000000", "0300", "0200", "0100", "0000");  // SIGNING, last: no pad
  EXPECT_EQ(ToHex(w.written()), expected);
}

TEST(NegotiateTest, EncodesWithoutContextsBelow311) {
  uint8_t buf[128];
  WireWriter w(absl::MakeSpan(buf));
  const uint16_t dialects[] = {kDialect202, kDialect210};
  NegotiateRequest req;
  req.dialects = dialects;
  req.security_mode = kSigningRequired;
  ASSERT_TRUE(EncodeNegotiateRequest(req, &w).ok());
  ASSERT_TRUE(w.Finish().ok());
  // StructureSize 36, DialectCount 2, SecurityMode 2, Reserved, Capabilities 0, ClientGuid 0,
  // ClientStartTime 0 (8 bytes), dialects 0202 0210; no padding, no contexts.
  EXPECT_EQ(ToHex(w.written()),
            "2400020002000000000000000000000000000000000000000000000000000000000000000202"
            "1002");
}

TEST(NegotiateTest, RejectsBadRequests) {
  uint8_t buf[256];
  WireWriter w(absl::MakeSpan(buf));
  NegotiateRequest req;
  EXPECT_EQ(EncodeNegotiateRequest(req, &w).code(), absl::StatusCode::kInvalidArgument);
  const uint16_t dialects[] = {kDialect311};
  req.dialects = dialects;
  EXPECT_EQ(EncodeNegotiateRequest(req, &w).code(), absl::StatusCode::kInvalidArgument);
  const uint8_t salt[32] = {};
  req.preauth_salt = salt;
  req.netname = "\xFF";
  EXPECT_EQ(EncodeNegotiateRequest(req, &w).code(), absl::StatusCode::kInvalidArgument);
}

TEST(NegotiateTest, DecodesPublishedResponse) {
  const std::vector<uint8_t> bytes = FromHex(kNegotiateResponse);
  auto r = DecodeNegotiateResponse(WireReader(absl::MakeConstSpan(bytes)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->security_mode, kSigningEnabled);
  EXPECT_EQ(r->dialect, kDialect311);
  EXPECT_EQ(ToHex(r->server_guid), "39cbcaf329714942bdce5d60f09ab3fb");
  EXPECT_EQ(r->capabilities, 0x2Fu);
  EXPECT_EQ(r->max_transact_size, 0x800000u);
  EXPECT_EQ(r->max_read_size, 0x800000u);
  EXPECT_EQ(r->max_write_size, 0x800000u);
  EXPECT_EQ(r->system_time, 0x01D0AECBADE5DAD8u);
  EXPECT_EQ(r->server_start_time, 0x01D0AE95B04A0909u);
  EXPECT_EQ(r->security_buffer_offset, 0x80);
  EXPECT_EQ(r->security_buffer_length, 0x140);
  EXPECT_EQ(bytes[0x80], 0x60);  // the SPNEGO NegTokenInit2 starts there
  ASSERT_TRUE(r->preauth.has_value());
  EXPECT_EQ(r->preauth->hash_algorithms, std::vector<uint16_t>{kHashSha512});
  EXPECT_EQ(ToHex(r->preauth->salt),
            "60a3c3b95c3c7ccd51ec536648d9b3ac74c483ca5b65385a251117beb30712e5");
  ASSERT_TRUE(r->ciphers.has_value());
  EXPECT_EQ(*r->ciphers, std::vector<uint16_t>{kCipherAes128Gcm});
  EXPECT_FALSE(r->signing_algorithms.has_value());
  EXPECT_TRUE(r->other_context_types.empty());
}

TEST(NegotiateTest, PublishedResponseSurvivesSplitsAndTruncation) {
  testing_util::ExpectRobustGolden(FromHex(kNegotiateResponse), Summarize);
}

// Field positions in the published response (508 bytes): SecurityBufferOffset at 120,
// SecurityBufferLength 122, NegotiateContextOffset 124 (0x1C0), NegotiateContextCount 70;
// context 1 (PREAUTH) at 0x1C0: DataLength 0x1C2, HashAlgorithmCount 0x1C8, SaltLength 0x1CA;
// context 2 (ENCRYPTION) at 0x1F0: type 0x1F0, DataLength 0x1F2, CipherCount 0x1F8.
TEST(NegotiateTest, HostileOffsetsAndLengthsAreDataLoss) {
  const std::vector<uint8_t> good = FromHex(kNegotiateResponse);
  ASSERT_EQ(good.size(), 508u);
  std::vector<Corruption> cases =
      testing_util::OffsetLengthSweep(120, 2, 122, 2, 0x80, 0x140, good.size());
  const std::vector<Corruption> more = {
      {64, 2, 64},            // StructureSize
      {124, 4, 0},            // NegotiateContextOffset 0
      {124, 4, 0x20},         // inside the header
      {124, 4, 0x78},         // inside the fixed body
      {124, 4, 0x1C4},        // not 8-aligned
      {124, 4, 0x1F8},        // 8-aligned, inside, but the contexts then run past the end
      {124, 4, 0x200},        // one past the end (aligned)
      {124, 4, 0xFFFFFFFF},   // all ones
      {70, 2, 0},             // no contexts for 3.1.1
      {70, 2, 3},             // a third context past the end
      {70, 2, 0xFFFF},        // all ones
      {0x1C2, 2, 0},          // PREAUTH DataLength too short for its fields
      {0x1C2, 2, 0xFFFF},     // past the end
      {0x1C8, 2, 0},          // HashAlgorithmCount 0
      {0x1C8, 2, 0xFFFF},     // hash ids past DataLength
      {0x1CA, 2, 33},         // SaltLength one past DataLength
      {0x1CA, 2, 0xFFFF},
      {0x1F2, 2, 5},          // ENCRYPTION DataLength one past the end
      {0x1F2, 2, 0xFFFF},
      {0x1F8, 2, 2},          // CipherCount: ids past DataLength
      {0x1F8, 2, 0xFFFF},
      {0x1F0, 2, kCtxPreauthIntegrity},  // the PREAUTH context twice
  };
  cases.insert(cases.end(), more.begin(), more.end());
  testing_util::ExpectCorruptionsAreDataLoss(good, Summarize, cases, "NEGOTIATE response");
}

TEST(NegotiateTest, SkipsUnknownContextsAndIgnoresThemBelow311) {
  const std::vector<uint8_t> good = FromHex(kNegotiateResponse);
  // Context 2 relabelled as COMPRESSION (type 3): skipped, not an error.
  std::vector<uint8_t> b = testing_util::Corrupt(good, {0x1F0, 2, kCtxCompression});
  auto r = DecodeNegotiateResponse(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->other_context_types, std::vector<uint16_t>{kCtxCompression});
  EXPECT_FALSE(r->ciphers.has_value());
  // Dialect 3.0.2: NegotiateContextOffset/Count are Reserved and not read, even if garbage.
  b = testing_util::Corrupt(good, {68, 2, kDialect302});
  b = testing_util::Corrupt(b, {124, 4, 0xFFFFFFFF});
  r = DecodeNegotiateResponse(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->dialect, kDialect302);
  EXPECT_FALSE(r->preauth.has_value());
  // A response without the PREAUTH context (relabel context 1 as unknown type 0x77).
  b = testing_util::Corrupt(good, {0x1C0, 2, 0x77});
  EXPECT_EQ(Decode(b).code(), absl::StatusCode::kDataLoss);
}

TEST(NegotiateTest, DecodesSigningRdmaAndNetnameContexts) {
  // Built by hand from [MS-SMB2] 2.2.4 and 2.2.3.1.x: the published response with its
  // ENCRYPTION context replaced by SIGNING (AES-GMAC), RDMA_TRANSFORM (encryption) and
  // NETNAME ("ab") contexts; NegotiateContextCount 4.
  std::vector<uint8_t> b = FromHex(kNegotiateResponse);
  b.resize(0x1F0);
  const std::vector<uint8_t> tail = FromHex(
      "0800" "0400" "00000000" "0100" "0200" "00000000"  // SIGNING + pad to 8
      "0700" "0a00" "00000000" "0100" "0000" "00000000" "0100" "000000000000"  // RDMA + pad
      "0500" "0400" "00000000" "61006200");                    // NETNAME, last
  b.insert(b.end(), tail.begin(), tail.end());
  testing_util::PutU16(&b, 70, 4);
  auto r = DecodeNegotiateResponse(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->ciphers.has_value());
  EXPECT_EQ(*r->signing_algorithms, std::vector<uint16_t>{kSigningAesGmac});
  EXPECT_EQ(*r->rdma_transforms, std::vector<uint16_t>{kRdmaTransformEncryption});
  EXPECT_EQ(*r->netname, "ab");
  testing_util::ExpectRobustGolden(b, Summarize);
  // RDMA TransformCount 2 does not fit its DataLength; netname of odd length.
  EXPECT_EQ(Decode(testing_util::Corrupt(b, {0x1F0 + 16 + 8, 2, 2})).code(),
            absl::StatusCode::kDataLoss);
  std::vector<uint8_t> odd = b;
  odd.pop_back();
  testing_util::PutU16(&odd, 0x1F0 + 16 + 24 + 2, 3);
  EXPECT_EQ(Decode(odd).code(), absl::StatusCode::kDataLoss);
}

// Samba's 3.1.1 NEGOTIATE response (PREAUTH, ENCRYPTION AES-128-GCM, SIGNING AES-GMAC
// contexts), captured from Samba 4.17 by tests/golden/capture (run of 2026-11-28):
// 002-rsp-NEGOTIATE-smb311.
constexpr char kSambaResponse[] =
    "fe534d424000000000000000000001000100000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000004100010011030300736d62746573740000000000000000000f00"
    "00000000800000008000000080006697b745567fdd01000000000000000080004a00d0000000604806062b0601"
    "050502a03e303ca00e300c060a2b06010401823702020aa32a3028a0261b246e6f745f646566696e65645f696e"
    "5f5246433431373840706c656173655f69676e6f72650000000000000100260000000000010020000100c18e61"
    "cc26b5b2daccd9fc9a66c957eed7e1a13932bca58d274ad50416aaaad900000200040000000000010002000000"
    "0000080004000000000001000200";

TEST(NegotiateTest, DecodesCapturedSambaResponse) {
  const std::vector<uint8_t> b = FromHex(kSambaResponse);
  auto r = DecodeNegotiateResponse(WireReader(absl::MakeConstSpan(b)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->dialect, kDialect311);
  EXPECT_EQ(r->security_mode, kSigningEnabled);
  EXPECT_EQ(r->max_read_size, 0x800000u);
  EXPECT_EQ(r->security_buffer_offset, 0x80);
  EXPECT_EQ(r->security_buffer_length, 0x4A);
  ASSERT_TRUE(r->preauth.has_value());
  EXPECT_EQ(r->preauth->salt.size(), 32u);
  EXPECT_EQ(*r->ciphers, std::vector<uint16_t>{kCipherAes128Gcm});
  EXPECT_EQ(*r->signing_algorithms, std::vector<uint16_t>{kSigningAesGmac});
  testing_util::ExpectRobustGolden(b, Summarize);
  std::vector<Corruption> cases =
      testing_util::OffsetLengthSweep(120, 2, 122, 2, 0x80, 0x4A, b.size());
  cases.push_back({124, 4, 0xD4});  // NegotiateContextOffset not 8-aligned
  cases.push_back({70, 2, 4});      // one context too many
  testing_util::ExpectCorruptionsAreDataLoss(b, Summarize, cases, "NEGOTIATE response");
}

}  // namespace
}  // namespace smbd
