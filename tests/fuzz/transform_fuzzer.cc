// The decryption path: ParseTransformHeader and Unsealer::Unseal ([MS-SMB2] 2.2.41, 3.2.5.1.1)
// with fixed keys, and a Seal/Unseal round trip with one flipped bit.
// Input: 3 layout bytes (tests/fuzz/fuzz_common.h), then
//   byte 0  mode and key: bits 0-2 pick the cipher, key and SessionId (kKeys); bit 7 set =
//           round trip, clear = decrypt the rest as a received transform message
//   decrypt:     bytes 1..  TRANSFORM_HEADER + ciphertext, decrypted from a one-slot queue and
//                from the split queue (same status, same plaintext); garbage never passes the
//                tag check, and accepted plaintext is exactly OriginalMessageSize bytes
//   round trip:  bytes 1-2  which bit to flip (little-endian, modulo the sealed size in bits);
//                bytes 3..  the plaintext, sealed from the split queue, which must unseal back
//                to itself, and must not unseal once one bit of the sealed message is flipped
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "smb2/security/sealing.h"
#include "smb2/security/test_vectors.h"
#include "tests/fuzz/fuzz_common.h"

namespace smbd {
namespace fuzz {
namespace {

struct Key {
  Cipher cipher;
  const char* hex;
  uint64_t session_id;
};

// The published vectors' keys (so that the seeds, the vectors' transform messages, decrypt),
// then two AES-256 keys.
const Key kKeys[8] = {
    {Cipher::kAes128Ccm, vectors::enc30seal::kEncryptionKey, vectors::enc30seal::kSessionId},
    {Cipher::kAes128Ccm, vectors::enc30seal::kDecryptionKey, vectors::enc30seal::kSessionId},
    {Cipher::kAes128Gcm, vectors::enc311gcmseal::kEncryptionKey,
     vectors::enc311gcmseal::kSessionId},
    {Cipher::kAes128Gcm, vectors::enc311gcmseal::kDecryptionKey,
     vectors::enc311gcmseal::kSessionId},
    {Cipher::kAes128Ccm, vectors::enc311ccmseal::kEncryptionKey,
     vectors::enc311ccmseal::kSessionId},
    {Cipher::kAes128Ccm, vectors::enc311ccmseal::kDecryptionKey,
     vectors::enc311ccmseal::kSessionId},
    {Cipher::kAes256Gcm, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
     0x1122334455667788},
    {Cipher::kAes256Ccm, "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100",
     0x0000000000000001},
};

struct Keyed {
  std::unique_ptr<Sealer> sealer;
  std::unique_ptr<Unsealer> unsealer;
};

const Keyed& KeyedFor(int i) {
  static Keyed* keyed = [] {
    Keyed* k = new Keyed[8];
    for (int j = 0; j < 8; ++j) {
      const std::vector<uint8_t> key = FromHex(kKeys[j].hex);
      auto s = Sealer::Create(kKeys[j].cipher, key, kKeys[j].session_id);
      auto u = Unsealer::Create(kKeys[j].cipher, key);
      if (!s.ok() || !u.ok()) Fail("Sealer/Unsealer::Create");
      k[j].sealer = std::move(*s);
      k[j].unsealer = std::move(*u);
    }
    return k;
  }();
  return keyed[i];
}

std::string DecryptText(const Unsealer& u, BvecqIter it, uint64_t session_id) {
  std::string s;
  absl::StatusOr<TransformHeader> h = ParseTransformHeader(it);
  if (h.ok()) {
    absl::StrAppend(&s, "th ", Hex(h->signature), " ", Hex(h->nonce), " ",
                    h->original_message_size, " ", h->flags, " ", h->session_id, ";");
  } else {
    absl::StrAppend(&s, StatusText(h), ";");
  }
  absl::StatusOr<Bvecq> plain = u.Unseal(it, Pool(), session_id);
  if (!plain.ok()) return absl::StrCat(s, StatusText(plain));
  if (!h.ok() || plain->size() != h->original_message_size) {
    Fail(absl::StrCat("Unseal accepted a message its header parse rejects or of the wrong size: ",
                      s, " plaintext ", plain->size()));
  }
  return absl::StrCat(s, "plain ", Hex(Flatten(plain->begin())));
}

void Decrypt(const Input& in, int key) {
  const Keyed& k = KeyedFor(key);
  const absl::Span<const uint8_t> msg = in.message.subspan(1);
  Bvecq flat;
  if (!flat.AppendExternal(const_cast<uint8_t*>(msg.data()), msg.size()).ok()) Fail("Append");
  const std::string a = DecryptText(*k.unsealer, flat.begin(), kKeys[key].session_id);
  SplitMessage split(msg, in.layout);
  ExpectSame("unseal", a, DecryptText(*k.unsealer, split.begin(), kKeys[key].session_id));
}

void RoundTrip(const Input& in, int key) {
  if (in.message.size() < 4) return;
  const Keyed& k = KeyedFor(key);
  const uint32_t flip = in.message[1] | uint32_t{in.message[2]} << 8;
  const absl::Span<const uint8_t> plain = in.message.subspan(3);
  SplitMessage split(plain, in.layout);
  absl::StatusOr<Bvecq> sealed = k.sealer->Seal(split.queue(), Pool());
  if (!sealed.ok()) Fail(absl::StrCat("Seal: ", StatusText(sealed)));
  absl::StatusOr<Bvecq> back = k.unsealer->Unseal(sealed->begin(), Pool(), kKeys[key].session_id);
  if (!back.ok()) Fail(absl::StrCat("Unseal of a fresh Seal: ", StatusText(back)));
  if (Flatten(back->begin()) != std::vector<uint8_t>(plain.begin(), plain.end())) {
    Fail("Unseal(Seal(x)) != x");
  }
  std::vector<uint8_t> bad = Flatten(sealed->begin());
  const size_t bit = flip % (bad.size() * 8);
  bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  SplitMessage bad_split(bad, in.layout);
  absl::StatusOr<Bvecq> forged =
      k.unsealer->Unseal(bad_split.begin(), Pool(), kKeys[key].session_id);
  if (forged.ok()) Fail(absl::StrCat("Unseal accepted a message with bit ", bit, " flipped"));
}

}  // namespace
}  // namespace fuzz
}  // namespace smbd

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace smbd::fuzz;
  const Input in = ParseInput(data, size);
  if (in.message.empty()) return 0;
  const int key = in.message[0] & 7;
  if (in.message[0] & 0x80) {
    RoundTrip(in, key);
  } else {
    Decrypt(in, key);
  }
  return 0;
}
