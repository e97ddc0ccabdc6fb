#include "smb2/security/spnego.h"

#include <string>
#include <vector>

#include "buffers/wire.h"
#include "gtest/gtest.h"
#include "smb2/security/test_util.h"
#include "smb2/security/test_vectors.h"

namespace smbd {
namespace {

using testing_util::Hex;
using testing_util::ToHex;
namespace a = vectors::anat311;

// The security buffer of an SMB2 message: its offset and length fields sit at `field_at` bytes
// into the body, which starts after the 64-byte header ([MS-SMB2] 2.2.4 NEGOTIATE response:
// +56; 2.2.5 SESSION_SETUP request: +12; 2.2.6 SESSION_SETUP response: +4). The offset counts
// from the start of the SMB2 header.
std::vector<uint8_t> SecurityBuffer(const char* hex, size_t field_at) {
  const std::vector<uint8_t> msg = Hex(hex);
  WireReader r(msg);
  uint16_t offset = 0, length = 0;
  if (!r.Skip(64 + field_at) || !r.U16(&offset) || !r.U16(&length)) return {};
  if (size_t{offset} + length > msg.size()) return {};
  return std::vector<uint8_t>(msg.begin() + offset, msg.begin() + offset + length);
}

std::vector<std::vector<uint8_t>> AllTokens() {
  return {SecurityBuffer(a::kNegotiateResponse, 56), SecurityBuffer(a::kSessionSetupRequest1, 12),
          SecurityBuffer(a::kSessionSetupResponse1MoreProcessing, 4),
          SecurityBuffer(a::kSessionSetupRequest2, 12),
          SecurityBuffer(a::kSessionSetupResponse2Success, 4)};
}

// vectors.md [anat-311]: the server's NegTokenInit2 in the NEGOTIATE response offers NEGOEX
// and NTLMSSP and carries a NEGOEX mechToken.
TEST(SpnegoTest, ParsesWindowsNegotiateHint) {
  const std::vector<uint8_t> token = SecurityBuffer(a::kNegotiateResponse, 56);
  ASSERT_EQ(token.size(), 0x140u);
  auto init = ParseNegTokenInit(token);
  ASSERT_TRUE(init.ok()) << init.status();
  ASSERT_EQ(init->mech_types.size(), 2u);
  EXPECT_EQ(init->mech_types[0], NegoexOid());
  EXPECT_EQ(init->mech_types[1], NtlmsspOid());
  ASSERT_TRUE(init->mech_token.has_value());
  EXPECT_EQ(init->mech_token->size(), 0x108u);
  EXPECT_EQ(ToHex(absl::MakeConstSpan(*init->mech_token).first(8)), "4e45474f45585453");  // NEGOEXTS
}

// vectors.md [anat-311]: the client's first SESSION_SETUP token, re-encoded byte for byte.
TEST(SpnegoTest, ClientNegTokenInitRoundTrip) {
  const std::vector<uint8_t> token = SecurityBuffer(a::kSessionSetupRequest1, 12);
  ASSERT_EQ(token.size(), 0x4Au);
  auto init = ParseNegTokenInit(token);
  ASSERT_TRUE(init.ok()) << init.status();
  ASSERT_EQ(init->mech_types.size(), 1u);
  EXPECT_EQ(init->mech_types[0], NtlmsspOid());
  ASSERT_TRUE(init->mech_token.has_value());
  EXPECT_EQ(init->mech_token->size(), 40u);
  EXPECT_EQ(ToHex(EncodeNegTokenInit(init->mech_types, init->mech_token)), ToHex(token));
}

// vectors.md [anat-311]: the three NegTokenResp tokens, parsed and re-encoded byte for byte.
TEST(SpnegoTest, NegTokenRespRoundTrips) {
  const std::vector<uint8_t> challenge = SecurityBuffer(a::kSessionSetupResponse1MoreProcessing, 4);
  auto r1 = ParseNegTokenResp(challenge);
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_EQ(r1->neg_state, NegState::kAcceptIncomplete);
  EXPECT_EQ(r1->supported_mech, NtlmsspOid());
  ASSERT_TRUE(r1->response_token.has_value());
  EXPECT_EQ(r1->response_token->size(), 148u);
  EXPECT_FALSE(r1->mech_list_mic.has_value());
  EXPECT_EQ(ToHex(EncodeNegTokenResp(*r1)), ToHex(challenge));

  const std::vector<uint8_t> auth = SecurityBuffer(a::kSessionSetupRequest2, 12);
  auto r2 = ParseNegTokenResp(auth);
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(r2->neg_state, NegState::kAcceptIncomplete);
  ASSERT_TRUE(r2->response_token.has_value());
  EXPECT_EQ(r2->response_token->size(), 422u);
  ASSERT_TRUE(r2->mech_list_mic.has_value());
  EXPECT_EQ(ToHex(*r2->mech_list_mic), "0100000063775a9a5fd97f0600000000");
  EXPECT_EQ(ToHex(EncodeNegTokenResp(*r2)), ToHex(auth));

  const std::vector<uint8_t> done = SecurityBuffer(a::kSessionSetupResponse2Success, 4);
  auto r3 = ParseNegTokenResp(done);
  ASSERT_TRUE(r3.ok()) << r3.status();
  EXPECT_EQ(r3->neg_state, NegState::kAcceptCompleted);
  EXPECT_FALSE(r3->response_token.has_value());
  EXPECT_EQ(ToHex(*r3->mech_list_mic), "010000003b453cdc3524164200000000");
  EXPECT_EQ(ToHex(EncodeNegTokenResp(*r3)), ToHex(done));
}

TEST(SpnegoTest, MechTypeListEncoding) {
  EXPECT_EQ(ToHex(EncodeMechTypeList({NtlmsspOid()})), "300c060a2b06010401823702020a");
  // An empty mech list encodes and parses back as empty.
  auto init = ParseNegTokenInit(EncodeNegTokenInit({}, std::nullopt));
  ASSERT_TRUE(init.ok()) << init.status();
  EXPECT_TRUE(init->mech_types.empty());
  EXPECT_FALSE(init->mech_token.has_value());
}

// Long-form lengths (0x81, 0x82, 0x83) round-trip.
TEST(SpnegoTest, LongLengths) {
  for (size_t n : {size_t{127}, size_t{128}, size_t{255}, size_t{256}, size_t{70000}}) {
    NegTokenResp resp;
    resp.response_token = std::vector<uint8_t>(n, 0x5A);
    auto back = ParseNegTokenResp(EncodeNegTokenResp(resp));
    ASSERT_TRUE(back.ok()) << n << ": " << back.status();
    EXPECT_EQ(back->response_token->size(), n);
  }
}

TEST(SpnegoTest, EveryTruncationIsRejected) {
  for (const std::vector<uint8_t>& token : AllTokens()) {
    ASSERT_FALSE(token.empty());
    const bool init = token[0] == 0x60;
    for (size_t n = 0; n < token.size(); ++n) {
      auto cut = absl::MakeConstSpan(token).first(n);
      absl::Status s = init ? ParseNegTokenInit(cut).status() : ParseNegTokenResp(cut).status();
      EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << "length " << n;
    }
  }
}

// Every single-byte corruption of every token parses or fails cleanly (no crash, no overread
// under ASan); corruptions of structural bytes must fail.
TEST(SpnegoTest, CorruptionSweepNeverCrashes) {
  for (const std::vector<uint8_t>& token : AllTokens()) {
    const bool init = token[0] == 0x60;
    for (size_t i = 0; i < token.size(); ++i) {
      for (uint8_t x : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xFF}}) {
        std::vector<uint8_t> bad = token;
        bad[i] ^= x;
        absl::Status s = init ? ParseNegTokenInit(bad).status() : ParseNegTokenResp(bad).status();
        EXPECT_TRUE(s.ok() || s.code() == absl::StatusCode::kDataLoss) << s;
        if (i == 0) {
          EXPECT_FALSE(s.ok());  // the outer tag
        }
      }
    }
  }
}

TEST(SpnegoTest, RejectsMalformedDer) {
  struct Case {
    const char* hex;
    const char* what;
  } cases[] = {
      {"a180", "indefinite"},                    // indefinite length
      {"a185010000000000", "overflows"},         // 5 length bytes
      {"a1840fffffff30", "runs past"},           // length past the end
      {"a10530030a0101", "runs past"},           // inner length past the outer one
      {"a1053003a0010000", "trailing"},          // trailing bytes after the token
      {"a10630040a0101ff", "tag"},               // a field that is not context-tagged
      {"a107300530030a0109", "negState"},        // negState out of range
      {"bf1f00", "high tag"},                    // high tag number form
      {"a1053003a30100", "tag"},                 // mechListMIC not an OCTET STRING
      {"a10a3008a3030401aaa0030a0100", "unexpected field"},  // fields out of order
  };
  for (const Case& c : cases) {
    absl::Status s = ParseNegTokenResp(Hex(c.hex)).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << c.hex;
  }
  EXPECT_NE(ParseNegTokenResp(Hex("a180")).status().message().find("indefinite"),
            absl::string_view::npos);
  EXPECT_NE(ParseNegTokenResp(Hex("a185010000000000")).status().message().find("overflows"),
            absl::string_view::npos);
  EXPECT_NE(ParseNegTokenResp(Hex("a1840fffffff30")).status().message().find("runs past"),
            absl::string_view::npos);
  // Trailing garbage after a valid token.
  std::vector<uint8_t> token = SecurityBuffer(a::kSessionSetupRequest1, 12);
  token.push_back(0);
  absl::Status s = ParseNegTokenInit(token).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("trailing"), absl::string_view::npos);
  // A Kerberos InitialContextToken (thisMech not SPNEGO).
  std::vector<uint8_t> krb = {0x60, 0x0B, 0x06, 0x09};
  krb.insert(krb.end(), KerberosOid().begin(), KerberosOid().end());
  s = ParseNegTokenInit(krb).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("not SPNEGO"), absl::string_view::npos);
}

}  // namespace
}  // namespace smbd
