// SMB 3.x message encryption ([MS-SMB2] 3.1.4.3 encrypting, 3.2.5.1.1 decrypting): the SMB2
// TRANSFORM_HEADER ([MS-SMB2] 2.2.41) around an AES-128/256-CCM or -GCM ciphertext.
//
//   0  ProtocolId 0xFD 'S' 'M' 'B'     20  Nonce (16)                 40  Reserved u16
//   4  Signature (16): the AEAD tag    36  OriginalMessageSize u32    42  Flags u16 = 0x0001
//                                                                     44  SessionId u64
// The additional authenticated data is the 32 bytes from Nonce to SessionId. CCM uses the first
// 11 bytes of Nonce, GCM the first 12; all 16 are authenticated.
//
// Sealing follows the seed's "encrypt one buffer": the whole assembled message chain (one message
// or a compound) is encrypted once, read slot by slot from its Bvecq and written straight into
// pool pages, with no linear staging copy. The result's first slot is the 52-byte transform
// header (optionally after reserved empty slots for the transport's framing).
//
// GCM is OpenSSL's streaming AES-GCM. OpenSSL's CCM only accepts the whole message in one
// contiguous EVP_EncryptUpdate call, so CCM is composed here from OpenSSL's streaming AES-CBC
// (the CBC-MAC) and AES-CTR exactly as SP 800-38C section 6.1 defines it (B0 flags 0x7B for an
// 11-byte nonce, 16-byte tag and associated data; counter blocks 0x03 || nonce || i); the tests
// check it against NIST's CCM vectors, the SMB CCM vectors and OpenSSL's one-shot CCM.
//
// Errors from Unseal: kDataLoss for a malformed transform (truncated header, wrong ProtocolId,
// Flags other than 0x0001, OriginalMessageSize that does not match the bytes that follow);
// kPermissionDenied for a SessionId other than the expected one; kUnauthenticated when the AEAD
// tag does not verify (nothing is returned and the pages are freed); kResourceExhausted when the
// pool has no pages.
#ifndef SMBD_SMB2_SECURITY_SEALING_H_
#define SMBD_SMB2_SECURITY_SEALING_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "buffers/bvecq.h"
#include "buffers/page_pool.h"
#include "smb2/security/algorithms.h"
#include "smb2/security/secret.h"
#include "smb2/security/unseal_placement.h"

namespace smbd {

inline constexpr size_t kTransformHeaderSize = 52;
inline constexpr size_t kTransformSignatureOffset = 4;
inline constexpr size_t kTransformNonceOffset = 20;
inline constexpr size_t kTransformAadSize = 32;
inline constexpr uint16_t kTransformFlagEncrypted = 0x0001;

struct TransformHeader {
  std::array<uint8_t, 16> signature{};
  std::array<uint8_t, 16> nonce{};
  uint32_t original_message_size = 0;
  uint16_t flags = 0;
  uint64_t session_id = 0;
};

// Reads and checks a TRANSFORM_HEADER (ProtocolId, Flags, OriginalMessageSize equal to the bytes
// that follow the header in `message`), e.g. to find the session before decrypting.
absl::StatusOr<TransformHeader> ParseTransformHeader(BvecqIter message);

// Encrypts outgoing messages of one session with Session.EncryptionKey. One Sealer per session,
// shared by all its channels (they share the key, so they must share the nonce sequence).
// Thread-safe.
// The AEAD states a Sealer or Unsealer keeps between messages (defined in sealing.cc), so
// that steady-state sealing allocates no OpenSSL contexts.
class AeadStreamCache;

class Sealer {
 public:
  ~Sealer();
  static absl::StatusOr<std::unique_ptr<Sealer>> Create(Cipher cipher,
                                                        absl::Span<const uint8_t> key,
                                                        uint64_t session_id);

  // Returns TRANSFORM_HEADER || ciphertext of `plaintext` (1 .. 2^32-1 bytes) in new pool pages.
  // `reserve_head` empty slots precede the header (Bvecq::ReserveHead) for transport framing
  // (no transport asks for any today).
  // With `frags`, the output starts in the rest of that allocator's current page and unused
  // room goes back to it (one owner at a time); without, in whole pool pages.
  absl::StatusOr<Bvecq> Seal(const Bvecq& plaintext, PagePool* pool, int reserve_head = 0,
                             FragAllocator* frags = nullptr);
  absl::StatusOr<Bvecq> Seal(BvecqIter plaintext, PagePool* pool, int reserve_head = 0,
                             FragAllocator* frags = nullptr);

  // Nonces never repeat within a Sealer: a 64-bit message counter in the first 8 bytes, then a
  // random per-Sealer salt (4 bytes for GCM, 3 for CCM), the rest of the 16-byte field zero.
  // Test hook: the next Seal uses exactly these 16 Nonce bytes (to reproduce published vectors).
  void SetNextNonceForTesting(absl::Span<const uint8_t> nonce16);
  // Test hook: the message counter of the next Seal (to reach the end of the nonce space).
  void SetCounterForTesting(uint64_t next) { counter_.store(next); }

  Cipher cipher() const { return cipher_; }
  uint64_t session_id() const { return session_id_; }

 private:
  Sealer(Cipher cipher, SecretBytes key, uint64_t session_id);
  absl::StatusOr<std::array<uint8_t, 16>> NextNonce();

  const Cipher cipher_;
  const SecretBytes key_;
  const uint64_t session_id_;
  std::array<uint8_t, 4> salt_{};
  std::atomic<uint64_t> counter_{0};
  std::mutex test_mu_;
  std::atomic<bool> has_test_nonce_{false};
  std::optional<std::array<uint8_t, 16>> test_nonce_;
  const std::unique_ptr<AeadStreamCache> streams_;
};

// Decrypts incoming messages of one session with Session.DecryptionKey. Thread-safe.
class Unsealer {
 public:
  ~Unsealer();
  static absl::StatusOr<std::unique_ptr<Unsealer>> Create(Cipher cipher,
                                                          absl::Span<const uint8_t> key);

  // Checks the transform header, decrypts into new pool pages and verifies the tag before
  // returning the plaintext (one message or a compound chain). `transformed` covers exactly one
  // transform message; its ciphertext may be split across any number of slots.
  //
  // With `placement`, the plaintext range it chooses is decrypted straight into the caller's
  // buffer and the returned queue refers to that buffer for it (no copy). Those bytes land
  // there before the tag is checked; when the check fails they are wiped (zeroed) before Unseal
  // returns its error, so no unverified plaintext is left behind.
  // `frags` as for Sealer::Seal.
  absl::StatusOr<Bvecq> Unseal(BvecqIter transformed, PagePool* pool,
                               uint64_t expected_session_id,
                               const UnsealPlacement* placement = nullptr,
                               FragAllocator* frags = nullptr) const;

  Cipher cipher() const { return cipher_; }

 private:
  Unsealer(Cipher cipher, SecretBytes key);

  const Cipher cipher_;
  const SecretBytes key_;
  const std::unique_ptr<AeadStreamCache> streams_;
};

namespace security_internal {

// The AEAD Seal and Unseal use, over contiguous buffers (CCM: 11-byte nonce; GCM: 12-byte; tag
// 16 bytes; any AAD length below 0xFF00). Exposed for the known-answer tests of the primitive.
absl::Status AeadEncrypt(Cipher cipher, absl::Span<const uint8_t> key,
                         absl::Span<const uint8_t> nonce, absl::Span<const uint8_t> aad,
                         absl::Span<const uint8_t> plaintext, absl::Span<uint8_t> ciphertext,
                         absl::Span<uint8_t> tag);
absl::Status AeadDecrypt(Cipher cipher, absl::Span<const uint8_t> key,
                         absl::Span<const uint8_t> nonce, absl::Span<const uint8_t> aad,
                         absl::Span<const uint8_t> ciphertext, absl::Span<const uint8_t> tag,
                         absl::Span<uint8_t> plaintext);

}  // namespace security_internal
}  // namespace smbd

#endif  // SMBD_SMB2_SECURITY_SEALING_H_
