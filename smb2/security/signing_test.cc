#include "smb2/security/signing.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <memory>
#include <string>
#include <vector>

#include "buffers/bvecq.h"
#include "buffers/wire.h"
#include "buffers/page_pool.h"
#include "gtest/gtest.h"
#include "smb2/security/openssl_util.h"
#include "smb2/security/test_util.h"
#include "smb2/security/test_vectors.h"

namespace smbd {
namespace {

using testing_util::Flatten;
using testing_util::Hex;
using testing_util::MakeTestPool;
using testing_util::ToBvecq;
using testing_util::ToHex;

std::string Lower(absl::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Signer MustCreate(SigningAlgorithm algorithm, absl::Span<const uint8_t> key) {
  absl::StatusOr<Signer> s = Signer::Create(algorithm, key);
  EXPECT_TRUE(s.ok()) << s.status();
  return std::move(*s);
}

// Raw AES-CMAC through the same OpenSSL EVP_MAC the Signer uses.
std::string RawCmac(absl::Span<const uint8_t> key, absl::Span<const uint8_t> msg) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "CMAC", nullptr);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER,
                                                          const_cast<char*>("AES-128-CBC"), 0),
                         OSSL_PARAM_construct_end()};
  uint8_t out[16];
  size_t len = 0;
  bool ok = EVP_MAC_init(ctx, key.data(), key.size(), params) == 1 &&
            EVP_MAC_update(ctx, msg.data(), msg.size()) == 1 &&
            EVP_MAC_final(ctx, out, &len, sizeof(out)) == 1;
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  return ok ? ToHex(absl::MakeConstSpan(out, len)) : "error";
}

// vectors.md [rfc4493]: RFC 4493 section 4 (= NIST SP 800-38B D.1) AES-CMAC examples.
TEST(SigningPrimitiveTest, Rfc4493Cmac) {
  const std::vector<uint8_t> k = Hex("2b7e151628aed2a6abf7158809cf4f3c");
  EXPECT_EQ(RawCmac(k, {}), "bb1d6929e95937287fa37d129b756746");
  EXPECT_EQ(RawCmac(k, Hex("6bc1bee22e409f96e93d7e117393172a")),
            "070a16b46b4d4144f79bdd9dd04a287c");
  EXPECT_EQ(RawCmac(k, Hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c8"
                           "1c46a35ce411")),
            "dfa66747de9ae63030ca32611497c827");
  EXPECT_EQ(RawCmac(k, Hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c8"
                           "1c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")),
            "51f0bebf7e3b9d92fc49741779363cfe");
}

// vectors.md [misc]: RFC 4231 section 4.3 test case 2, HMAC-SHA256.
TEST(SigningPrimitiveTest, Rfc4231HmacSha256) {
  const std::vector<uint8_t> data = Hex("7768617420646f2079612077616e7420666f72206e6f7468696e673f");
  uint8_t out[32];
  absl::Span<const uint8_t> parts[] = {data};
  ASSERT_TRUE(security_internal::Hmac("SHA256", Hex("4a656665"), parts, absl::MakeSpan(out)).ok());
  EXPECT_EQ(ToHex(out), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

// vectors.md [anat-311]: the final SESSION_SETUP response is signed with AES-128-CMAC under
// Session.SigningKey; its published signature is EBE146DA120BA25FC3376A49DFE31BC1.
TEST(SigningTest, Anatomy311FinalResponseSpan) {
  namespace a = vectors::anat311;
  Signer signer = MustCreate(SigningAlgorithm::kAesCmac, Hex(a::kSigningKey));
  std::vector<uint8_t> msg = Hex(a::kSessionSetupResponse2Success);
  EXPECT_TRUE(signer.Verify(absl::MakeConstSpan(msg)).ok());
  // Re-signing a copy whose signature was wiped reproduces the message byte for byte.
  std::vector<uint8_t> copy = msg;
  std::fill(copy.begin() + 48, copy.begin() + 64, 0);
  ASSERT_TRUE(signer.Sign(absl::MakeSpan(copy)).ok());
  EXPECT_EQ(ToHex(copy), ToHex(msg));
  EXPECT_EQ(ToHex(absl::MakeConstSpan(copy).subspan(48, 16)),
            Lower(a::kSessionSetupResponse2Signature));
}

// The same vector through Bvecq chains whose slots cut the header anywhere (1-byte slots put
// every header field, and the Signature field, across slot boundaries).
TEST(SigningTest, Anatomy311FinalResponseBvecq) {
  namespace a = vectors::anat311;
  std::unique_ptr<PagePool> pool = MakeTestPool();
  ASSERT_NE(pool, nullptr);
  Signer signer = MustCreate(SigningAlgorithm::kAesCmac, Hex(a::kSigningKey));
  const std::vector<uint8_t> msg = Hex(a::kSessionSetupResponse2Success);
  for (size_t slot : {size_t{1}, size_t{3}, size_t{50}, kPageSize}) {
    auto q = ToBvecq(msg, pool.get(), slot);
    ASSERT_TRUE(q.ok());
    EXPECT_TRUE(signer.Verify(q->begin()).ok()) << "slot " << slot;
    auto sig = signer.Compute(q->begin());
    ASSERT_TRUE(sig.ok());
    EXPECT_EQ(ToHex(*sig), Lower(a::kSessionSetupResponse2Signature));
    // Wipe the signature in place and sign again.
    auto at = q->Range(48, 16);
    ASSERT_TRUE(at.ok());
    const uint8_t zeros[16] = {};
    at->CopyIn(zeros);
    EXPECT_EQ(signer.Verify(q->begin()).code(), absl::StatusCode::kUnauthenticated);
    ASSERT_TRUE(signer.Sign(q->begin()).ok());
    EXPECT_EQ(ToHex(Flatten(*q)), ToHex(msg)) << "slot " << slot;
  }
}

// vectors.md [anat-311-bind]: the binding exchange's four signatures; the first three under the
// master session's signing key, the final response under the new channel's signing key.
TEST(SigningTest, Anatomy311Binding) {
  namespace b = vectors::anat311bind;
  Signer master = MustCreate(SigningAlgorithm::kAesCmac, Hex(b::kMasterSigningKey));
  Signer channel = MustCreate(SigningAlgorithm::kAesCmac, Hex(b::kChannelSigningKey));
  struct Case {
    const char* message;
    const char* signature;
    const Signer* signer;
  } cases[] = {
      {b::kSessionSetupRequest1Binding, b::kSigRequest1ByMasterSigningKey, &master},
      {b::kSessionSetupResponse1MoreProcessing, b::kSigResponse1ByMasterSigningKey, &master},
      {b::kSessionSetupRequest2Binding, b::kSigRequest2ByMasterSigningKey, &master},
      {b::kSessionSetupResponse2Success, b::kSigResponse2ByChannelSigningKey, &channel},
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> msg = Hex(c.message);
    ASSERT_GE(msg.size(), 64u);
    EXPECT_EQ(ToHex(absl::MakeConstSpan(msg).subspan(48, 16)), Lower(c.signature));
    EXPECT_TRUE(c.signer->Verify(absl::MakeConstSpan(msg)).ok());
    // The other key must not verify it.
    const Signer* other = c.signer == &master ? &channel : &master;
    EXPECT_EQ(other->Verify(absl::MakeConstSpan(msg)).code(), absl::StatusCode::kUnauthenticated);
  }
}

// vectors.md [enc-311-gcm] and [enc-311-ccm]: the final SESSION_SETUP responses of the 3.1.1
// encryption blog, AES-128-CMAC.
TEST(SigningTest, Encryption311BlogFinalResponses) {
  {
    namespace g = vectors::enc311gcm;
    Signer s = MustCreate(SigningAlgorithm::kAesCmac, Hex(g::kSigningKey));
    std::vector<uint8_t> msg = Hex(g::kFinalSessionSetupResponse);
    EXPECT_TRUE(s.Verify(absl::MakeConstSpan(msg)).ok());
    EXPECT_EQ(ToHex(absl::MakeConstSpan(msg).subspan(48, 16)),
              Lower(g::kFinalSessionSetupResponseSignature));
  }
  {
    namespace c = vectors::enc311ccm;
    Signer s = MustCreate(SigningAlgorithm::kAesCmac, Hex(c::kSigningKey));
    std::vector<uint8_t> msg = Hex(c::kFinalSessionSetupResponse);
    EXPECT_TRUE(s.Verify(absl::MakeConstSpan(msg)).ok());
  }
}

// A synthetic 3.1.1 message: header + body of `body` bytes.
std::vector<uint8_t> MakeMessage(uint16_t command, uint32_t flags, uint64_t message_id,
                                 size_t body) {
  std::vector<uint8_t> m(64 + body);
  m[0] = 0xFE;
  m[1] = 'S';
  m[2] = 'M';
  m[3] = 'B';
  m[4] = 64;
  StoreLE<uint16_t>(m.data() + 12, command);
  StoreLE<uint32_t>(m.data() + 16, flags);
  StoreLE<uint64_t>(m.data() + 24, message_id);
  StoreLE<uint64_t>(m.data() + 40, 0x0000100000000019ull);
  for (size_t i = 64; i < m.size(); ++i) m[i] = static_cast<uint8_t>(i * 7 + 3);
  return m;
}

// HMAC-SHA256 (2.0.2/2.1): no published SMB vector exists (vectors.md section 23). The
// signature must be the first 16 bytes of HMAC-SHA256(key, message with Signature zeroed and
// SIGNED set), computed independently here, and must round-trip.
TEST(SigningTest, HmacSha256MatchesPrimitiveAndRoundTrips) {
  const std::vector<uint8_t> key = Hex("270E1BA896585EEB7AF3472D3B4C75A7");
  Signer s = MustCreate(SigningAlgorithm::kHmacSha256, key);
  std::vector<uint8_t> msg = MakeMessage(0x0008, 0, 42, 1000);
  ASSERT_TRUE(s.Sign(absl::MakeSpan(msg)).ok());
  EXPECT_EQ(LoadLE<uint32_t>(msg.data() + 16) & kFlagSigned, kFlagSigned);
  std::vector<uint8_t> zeroed = msg;
  std::fill(zeroed.begin() + 48, zeroed.begin() + 64, 0);
  uint8_t expected[16];
  absl::Span<const uint8_t> parts[] = {zeroed};
  ASSERT_TRUE(security_internal::Hmac("SHA256", key, parts, absl::MakeSpan(expected)).ok());
  EXPECT_EQ(ToHex(absl::MakeConstSpan(msg).subspan(48, 16)), ToHex(expected));
  EXPECT_TRUE(s.Verify(absl::MakeConstSpan(msg)).ok());
}

// AES-GCM with `nonce`, the message as AAD and no plaintext: the tag is the GMAC.
std::string GcmTagOverAad(absl::Span<const uint8_t> key, absl::Span<const uint8_t> nonce,
                          absl::Span<const uint8_t> aad) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  uint8_t tag[16];
  int len = 0;
  bool ok = EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()),
                                nullptr) == 1 &&
            EVP_EncryptInit_ex(ctx, nullptr, nullptr, key.data(), nonce.data()) == 1 &&
            EVP_EncryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1 &&
            EVP_EncryptFinal_ex(ctx, tag, &len) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
  EVP_CIPHER_CTX_free(ctx);
  return ok ? ToHex(tag) : "error";
}

// vectors.md [gcm] test case 4 (McGrew/Viega GCM spec), to pin the AES-GCM primitive used as the
// GMAC reference below.
TEST(SigningPrimitiveTest, GcmTestCase4) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  const std::vector<uint8_t> key = Hex("feffe9928665731c6d6a8f9467308308");
  const std::vector<uint8_t> iv = Hex("cafebabefacedbaddecaf888");
  const std::vector<uint8_t> p = Hex(
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449"
      "a6b525b16aedf5aa0de657ba637b39");
  const std::vector<uint8_t> aad = Hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  std::vector<uint8_t> c(p.size());
  uint8_t tag[16];
  int len = 0;
  ASSERT_EQ(EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), nullptr, key.data(), iv.data()), 1);
  ASSERT_EQ(EVP_EncryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())), 1);
  ASSERT_EQ(EVP_EncryptUpdate(ctx, c.data(), &len, p.data(), static_cast<int>(p.size())), 1);
  ASSERT_EQ(EVP_EncryptFinal_ex(ctx, tag, &len), 1);
  ASSERT_EQ(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag), 1);
  EVP_CIPHER_CTX_free(ctx);
  EXPECT_EQ(ToHex(c),
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a"
            "5aac84aa051ba30b396a0aac973d58e091");
  EXPECT_EQ(ToHex(tag), "5bc94fbc3221a5db94fae95ae7121a47");
}

// AES-128-GMAC (3.1.1): no published SMB vector (vectors.md section 23). Cross-check against
// AES-GCM with an empty plaintext and the message as AAD, with the nonce built as [MS-SMB2]
// 3.1.4.1 says: MessageId, then bit 0 = sent by the server, bit 1 = CANCEL request.
TEST(SigningTest, GmacEqualsGcmTagWithSpecNonce) {
  const std::vector<uint8_t> key = Hex("8765949DFEAEE105CE9118B45BE988F0");
  Signer s = MustCreate(SigningAlgorithm::kAesGmac, key);
  struct Case {
    uint16_t command;
    uint32_t flags;
    uint8_t nonce_word;  // expected low byte of the nonce's last 4 bytes
  } cases[] = {
      {0x0008, 0, 0x00},                        // client READ request
      {0x0008, kFlagServerToRedir, 0x01},  // server READ response
      {static_cast<uint16_t>(Command::kCancel), 0, 0x02},            // client CANCEL request
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> msg = MakeMessage(c.command, c.flags, 0x0102030405060708ull, 333);
    ASSERT_TRUE(s.Sign(absl::MakeSpan(msg)).ok());
    std::vector<uint8_t> aad = msg;
    std::fill(aad.begin() + 48, aad.begin() + 64, 0);
    std::vector<uint8_t> nonce = Hex("080706050403020100000000");
    nonce[8] = c.nonce_word;
    EXPECT_EQ(ToHex(absl::MakeConstSpan(msg).subspan(48, 16)), GcmTagOverAad(key, nonce, aad))
        << "command " << c.command << " flags " << c.flags;
    EXPECT_TRUE(s.Verify(absl::MakeConstSpan(msg)).ok());
  }
}

TEST(SigningTest, RoundTripsEveryAlgorithmOverScatteredChains) {
  std::unique_ptr<PagePool> pool = MakeTestPool();
  ASSERT_NE(pool, nullptr);
  const std::vector<uint8_t> key = Hex("00112233445566778899aabbccddeeff");
  for (SigningAlgorithm alg :
       {SigningAlgorithm::kHmacSha256, SigningAlgorithm::kAesCmac, SigningAlgorithm::kAesGmac}) {
    Signer s = MustCreate(alg, key);
    std::vector<uint8_t> msg = MakeMessage(0x0009, kFlagServerToRedir, 77, 3 * kPageSize + 5);
    std::vector<uint8_t> contiguous = msg;
    ASSERT_TRUE(s.Sign(absl::MakeSpan(contiguous)).ok());
    for (size_t slot : {size_t{1}, size_t{61}, kPageSize}) {
      auto q = ToBvecq(msg, pool.get(), slot);
      ASSERT_TRUE(q.ok());
      ASSERT_TRUE(s.Sign(q->begin()).ok());
      EXPECT_EQ(ToHex(Flatten(*q)), ToHex(contiguous)) << SigningAlgorithmName(alg);
      EXPECT_TRUE(s.Verify(q->begin()).ok());
    }
  }
}

// One member of a compound: the iterator covers only it, bytes around it are untouched.
TEST(SigningTest, SignsOnlyTheCompoundMember) {
  std::unique_ptr<PagePool> pool = MakeTestPool();
  ASSERT_NE(pool, nullptr);
  Signer s = MustCreate(SigningAlgorithm::kAesCmac, Hex("00112233445566778899aabbccddeeff"));
  std::vector<uint8_t> first = MakeMessage(0x0005, 0, 1, 56);   // 120 bytes, 8-aligned
  std::vector<uint8_t> second = MakeMessage(0x0008, kFlagRelatedOperations, 2, 49);
  std::vector<uint8_t> chain = first;
  chain.insert(chain.end(), second.begin(), second.end());
  auto q = ToBvecq(chain, pool.get(), 17);
  ASSERT_TRUE(q.ok());
  auto member = q->Range(first.size(), second.size());
  ASSERT_TRUE(member.ok());
  ASSERT_TRUE(s.Sign(*member).ok());
  std::vector<uint8_t> out = Flatten(*q);
  EXPECT_EQ(ToHex(absl::MakeConstSpan(out).first(first.size())), ToHex(first));
  std::vector<uint8_t> expected = second;
  ASSERT_TRUE(s.Sign(absl::MakeSpan(expected)).ok());
  EXPECT_EQ(ToHex(absl::MakeConstSpan(out).subspan(first.size())), ToHex(expected));
}

TEST(SigningTest, RejectsTamperedAndMalformedMessages) {
  namespace a = vectors::anat311;
  Signer s = MustCreate(SigningAlgorithm::kAesCmac, Hex(a::kSigningKey));
  const std::vector<uint8_t> good = Hex(a::kSessionSetupResponse2Success);

  std::vector<uint8_t> bad_sig = good;
  bad_sig[50] ^= 0x01;
  absl::Status st = s.Verify(absl::MakeConstSpan(bad_sig));
  EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(st.message().find("signature mismatch"), absl::string_view::npos);

  std::vector<uint8_t> bad_body = good;
  bad_body.back() ^= 0x80;
  EXPECT_EQ(s.Verify(absl::MakeConstSpan(bad_body)).code(), absl::StatusCode::kUnauthenticated);

  std::vector<uint8_t> bad_header = good;
  bad_header[40] ^= 0x01;  // SessionId
  EXPECT_EQ(s.Verify(absl::MakeConstSpan(bad_header)).code(),
            absl::StatusCode::kUnauthenticated);

  std::vector<uint8_t> unsigned_msg = good;
  unsigned_msg[16] &= ~kFlagSigned;
  st = s.Verify(absl::MakeConstSpan(unsigned_msg));
  EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(st.message().find("not signed"), absl::string_view::npos);

  EXPECT_EQ(s.Verify(absl::MakeConstSpan(good).first(63)).code(), absl::StatusCode::kDataLoss);
  std::vector<uint8_t> not_smb2 = good;
  not_smb2[0] = 0xFD;
  EXPECT_EQ(s.Verify(absl::MakeConstSpan(not_smb2)).code(), absl::StatusCode::kDataLoss);

  std::vector<uint8_t> small(10);
  EXPECT_EQ(s.Sign(absl::MakeSpan(small)).code(), absl::StatusCode::kInvalidArgument);
}

TEST(SigningTest, CreateRejectsBadKeys) {
  EXPECT_EQ(Signer::Create(SigningAlgorithm::kAesCmac, Hex("0011")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Signer::Create(SigningAlgorithm::kAesGmac, std::vector<uint8_t>(32)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Signer::Create(SigningAlgorithm::kHmacSha256, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Signer::Create(static_cast<SigningAlgorithm>(7), std::vector<uint8_t>(16))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace smbd
