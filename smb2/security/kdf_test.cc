#include "smb2/security/kdf.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "smb2/security/test_util.h"

namespace smbd {
namespace {

using testing_util::Hex;
using testing_util::ToHex;

std::string Lower(const std::string& s) {
  std::string out = s;
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// vectors.md [kbkdf]: NIST CAVP SP 800-108 KDFCTR_gen.rsp, [PRF=HMAC_SHA256]
// [CTRLOCATION=BEFORE_FIXED] [RLEN=32_BITS] (via pyca/cryptography's copy), COUNT=0, L=128.
TEST(KbkdfTest, CavpCount0) {
  auto out = Sp800108HmacSha256Opaque(
      Hex("dd1d91b7d90b2bd3138533ce92b272fbf8a369316aefe242e659cc0ae238afe0"),
      Hex("01322b96b30acd197979444e468e1c5c6859bf1b1cf951b7e725303e237e46b864a145fab25e517b08f8"
          "683d0315bb2911d80a0e8aba17f3b413faac"),
      16);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(ToHex(out->span()), "10621342bfb0fd40046c0e29f2cfdbf0");
}

// vectors.md [kbkdf], COUNT=10, L=256.
TEST(KbkdfTest, CavpCount10) {
  auto out = Sp800108HmacSha256Opaque(
      Hex("e204d6d466aad507ffaf6d6dab0a5b26152c9e21e764370464e360c8fbc765c6"),
      Hex("7b03b98d9f94b899e591f3ef264b71b193fba7043c7e953cde23bc5384bc1a6293580115fae3495fd845"
          "dadbd02bd6455cf48d0f62b33e62364a3a80"),
      32);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(ToHex(out->span()),
            "770dfab6a6a4a4bee0257ff335213f78d8287b4fd537d5c1fffa956910e7c779");
}

// vectors.md [smb-kdf]: the SMB fixed input is Label || 0x00 || Context || [L]32; its example
// for the 3.0 signing key is 534d4232414553434d41430000536d625369676e0000000080. Deriving with
// the opaque form of that fixed input must equal the SMB form.
TEST(KbkdfTest, SmbFixedInputLayout) {
  const std::vector<uint8_t> key = Hex("B4546771B515F766A86735532DD6C4F0");
  auto opaque = Sp800108HmacSha256Opaque(
      key, Hex("534d4232414553434d41430000536d625369676e0000000080"), 16);
  const char label[] = "SMB2AESCMAC";
  const char context[] = "SmbSign";
  auto smb = Sp800108HmacSha256(
      key, absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(label), sizeof(label)),
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(context), sizeof(context)), 16);
  ASSERT_TRUE(opaque.ok() && smb.ok());
  EXPECT_EQ(ToHex(opaque->span()), ToHex(smb->span()));
  // ... and both are the published 3.0 signing key of vectors.md [enc-30].
  EXPECT_EQ(ToHex(smb->span()), Lower("F773CD23C18FD1E08EE510CADA7CF852"));
}

TEST(KbkdfTest, RejectsBadLengths) {
  const std::vector<uint8_t> key = Hex("00112233445566778899aabbccddeeff");
  EXPECT_EQ(Sp800108HmacSha256(key, {}, {}, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Sp800108HmacSha256(key, {}, {}, 65).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Sp800108HmacSha256({}, {}, {}, 16).status().code(),
            absl::StatusCode::kInvalidArgument);
}

void ExpectKeys(const SmbSessionKeys& keys, const char* signing, const char* encryption,
                const char* decryption, const char* application) {
  EXPECT_EQ(ToHex(keys.signing.span()), Lower(signing));
  EXPECT_EQ(ToHex(keys.encryption.span()), Lower(encryption));
  EXPECT_EQ(ToHex(keys.decryption.span()), Lower(decryption));
  EXPECT_EQ(ToHex(keys.application.span()), Lower(application));
}

// vectors.md [anat-30]: Microsoft Open Specifications blog "SMB 2 and SMB 3 security in
// Windows 10: the anatomy of signing and cryptographic keys" (2017), 3.0 example.
TEST(DeriveSmbKeysTest, Smb300Anatomy) {
  auto keys = DeriveSmbKeys(kDialect300, Hex("7CD451825D0450D235424E44BA6E78CC"), {},
                            Cipher::kAes128Ccm);
  ASSERT_TRUE(keys.ok()) << keys.status();
  ExpectKeys(*keys, "0B7E9C5CAC36C0F6EA9AB275298CEDCE", "FAD27796665B313EBB578F388632B4F7",
             "B0F0427F7CEB416D1D9DCC0CD4F99447", "BB23A4575AA26C721AF525AF15A87B4F");
  // The bound second channel derives only its signing key ([anat-30] Channel2_*).
  auto ch2 = DeriveSmbKeys(kDialect300, Hex("4E01A2B313BCF660CC250BEF021AEDE6"), {},
                           Cipher::kAes128Ccm);
  ASSERT_TRUE(ch2.ok());
  EXPECT_EQ(ToHex(ch2->signing.span()), Lower("BA1A17DBBFEC349BCA105563D598952F"));
}

// vectors.md [enc-30]: blog "Encryption in SMB 3.0: A protocol perspective" (2012).
TEST(DeriveSmbKeysTest, Smb300Encryption) {
  auto keys = DeriveSmbKeys(kDialect300, Hex("B4546771B515F766A86735532DD6C4F0"), {},
                            Cipher::kAes128Ccm);
  ASSERT_TRUE(keys.ok()) << keys.status();
  ExpectKeys(*keys, "F773CD23C18FD1E08EE510CADA7CF852", "261B72350558F2E9DCF613070383EDBF",
             "8FE2B57EC34D2DB5B1A9727F526BBDB5", "77432F808CE99156B5BC6A3676D730D1");
}

// vectors.md [anat-311]: 3.1.1 master session, context = PreauthHash5_session_final.
TEST(DeriveSmbKeysTest, Smb311Anatomy) {
  auto keys = DeriveSmbKeys(
      kDialect311, Hex("270E1BA896585EEB7AF3472D3B4C75A7"),
      Hex("0DD13628CC3ED218EF9DF9772D436D0887AB9814BFAE63A80AA845F36909DB7928622DDDAD522D9751640A"
          "459762C5A9D6BB084CBB3CE6BDADEF5D5BCE3C6C01"),
      Cipher::kAes128Gcm);
  ASSERT_TRUE(keys.ok()) << keys.status();
  ExpectKeys(*keys, "73FE7A9A77BEF0BDE49C650D8CCB5F76", "629BCBC54422A0F572B97F45989B6073",
             "E2AF0DCEFAC68DA71A0DFBD0D1350D74", "6D7AD7954E9EC61E907B4D473DC178FF");
}

// vectors.md [anat-311-bind]: the bound channel's signing key from its own session key and
// its own preauth chain.
TEST(DeriveSmbKeysTest, Smb311BindingChannel) {
  auto keys = DeriveSmbKeys(
      kDialect311, Hex("84B9DBB730116A8FA6E9889555C265F9"),
      Hex("EA3BF912B11CBFEC5B1889E8209614218687F82FA5294521AD3063425E49E88A10BD022124CE25123BC911"
          "1F52D9566BA88BF46344E6063DC5E3FF0389026F6C"),
      Cipher::kAes128Gcm);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(ToHex(keys->signing.span()), Lower("C962BCA1A9DD1697B030644199705431"));
}

// vectors.md [enc-311-gcm]: blog "SMB 3.1.1 Encryption in Windows 10" (2015), Appendix A.1.
TEST(DeriveSmbKeysTest, Smb311Gcm) {
  auto keys = DeriveSmbKeys(
      kDialect311, Hex("419FDDF34C1E001909D362AE7FB6AF79"),
      Hex("B23F3CBFD69487D9832B79B1594A367CDD950909B774C3A4C412B4FCEA9EDDDBA7DB256BA2EA30E977F11F"
          "9B113247578E0E915C6D2A513B8F2FCA5707DC8770"),
      Cipher::kAes128Gcm);
  ASSERT_TRUE(keys.ok()) << keys.status();
  ExpectKeys(*keys, "8765949DFEAEE105CE9118B45BE988F0", "A2F5E80E5D59103034F32E52F698E5EC",
             "748C50868C90F302962A5C35F5F9A8BF", "099D610789FBE82055B313601C3E8CC4");
}

// vectors.md [enc-311-ccm]: same blog, Appendix A.2.
TEST(DeriveSmbKeysTest, Smb311Ccm) {
  auto keys = DeriveSmbKeys(
      kDialect311, Hex("07B7F69C1E2581662DF6987E88F9E891"),
      Hex("DECF98A420718718F22090D3580FCC5E484BD310FA1268210C6E86335A8891E767F5BCD99FA5A7859D665A"
          "D07A73EA94E1BCDB7CFA69A6962A28A244138340B1"),
      Cipher::kAes128Ccm);
  ASSERT_TRUE(keys.ok()) << keys.status();
  ExpectKeys(*keys, "3DCC82C5795AE27F383242761078C59B", "DFAAA31AAE40A2485D47AC4DF09FDA1D",
             "95C544AEF6072680DA1CE49A68A97FA6", "7A2F0F73EC2D530879B2913BBFCE242F");
}

// vectors.md [local-l256]: L = 256 outputs for the [enc-311-gcm] inputs. Computed, not
// published: a regression value only. The signing key stays the L = 128 one (see kdf.h).
TEST(DeriveSmbKeysTest, Smb311Aes256RegressionL256) {
  for (Cipher c : {Cipher::kAes256Gcm, Cipher::kAes256Ccm}) {
    auto keys = DeriveSmbKeys(
        kDialect311, Hex("419FDDF34C1E001909D362AE7FB6AF79"),
        Hex("B23F3CBFD69487D9832B79B1594A367CDD950909B774C3A4C412B4FCEA9EDDDBA7DB256BA2EA30E977F1"
            "1F9B113247578E0E915C6D2A513B8F2FCA5707DC8770"),
        c);
    ASSERT_TRUE(keys.ok()) << keys.status();
    ExpectKeys(*keys, "8765949DFEAEE105CE9118B45BE988F0",
               "CB61EB110446FBCAEB6A83BEEDB92779130B833A706E5B3495879D52195B90ED",
               "F8CAE3069FFCDC7662E2941207AF463614D520A1A204AAF6B9EAD136DE931111",
               "099D610789FBE82055B313601C3E8CC4");
  }
}

// With a 32-byte (Kerberos) session key, AES-256 cipher keys come from the full key while the
// signing key comes from its first 16 bytes ([MS-SMB2] 3.2.5.3.1).
TEST(DeriveSmbKeysTest, FullSessionKeyOnlyForAes256CipherKeys) {
  const std::vector<uint8_t> full =
      Hex("419FDDF34C1E001909D362AE7FB6AF790102030405060708090a0b0c0d0e0f10");
  const std::vector<uint8_t> preauth(64, 0x5a);
  auto k256 = DeriveSmbKeys(kDialect311, full, preauth, Cipher::kAes256Gcm);
  auto k256_short = DeriveSmbKeys(kDialect311, absl::MakeConstSpan(full).first(16), preauth,
                                  Cipher::kAes256Gcm);
  auto k128 = DeriveSmbKeys(kDialect311, full, preauth, Cipher::kAes128Gcm);
  auto k128_short = DeriveSmbKeys(kDialect311, absl::MakeConstSpan(full).first(16), preauth,
                                  Cipher::kAes128Gcm);
  ASSERT_TRUE(k256.ok() && k256_short.ok() && k128.ok() && k128_short.ok());
  EXPECT_EQ(k256->encryption.size(), 32u);
  EXPECT_NE(ToHex(k256->encryption.span()), ToHex(k256_short->encryption.span()));
  EXPECT_EQ(ToHex(k256->signing.span()), ToHex(k256_short->signing.span()));
  EXPECT_EQ(ToHex(k128->encryption.span()), ToHex(k128_short->encryption.span()));
}

TEST(DeriveSmbKeysTest, Smb2xSigningKeyIsSessionKey) {
  auto keys = DeriveSmbKeys(kDialect210, Hex("00112233445566778899aabbccddeeff0011"), {},
                            Cipher::kAes128Ccm);
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(ToHex(keys->signing.span()), "00112233445566778899aabbccddeeff");
  EXPECT_TRUE(keys->encryption.empty());
  // A short key is right-padded with zeros ([MS-SMB2] 3.2.1.3).
  auto short_keys = DeriveSmbKeys(kDialect202, Hex("0102"), {}, Cipher::kAes128Ccm);
  ASSERT_TRUE(short_keys.ok());
  EXPECT_EQ(ToHex(short_keys->signing.span()), "01020000000000000000000000000000");
}

TEST(DeriveSmbKeysTest, Errors) {
  const std::vector<uint8_t> key(16, 1);
  EXPECT_EQ(DeriveSmbKeys(kDialect311, key, std::vector<uint8_t>(32), Cipher::kAes128Gcm)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DeriveSmbKeys(0x0222, key, {}, Cipher::kAes128Gcm).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DeriveSmbKeys(kDialect300, key, {}, Cipher::kAes256Gcm).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DeriveSmbKeys(kDialect311, key, std::vector<uint8_t>(64), static_cast<Cipher>(9))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DeriveSmbKeys(kDialect311, {}, std::vector<uint8_t>(64), Cipher::kAes128Gcm)
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace smbd
