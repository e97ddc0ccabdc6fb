#include "smb2/security/sealing.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "buffers/wire.h"
#include "smb2/security/openssl_util.h"

namespace smbd {
namespace {

using security_internal::EvpCipherCtxPtr;
using security_internal::OpenSslError;

constexpr uint8_t kTransformProtocolId[4] = {0xFD, 'S', 'M', 'B'};
constexpr size_t kTagSize = 16;
constexpr size_t kCcmNonceSize = 11;
constexpr size_t kGcmNonceSize = 12;

size_t NonceSize(Cipher c) { return IsGcm(c) ? kGcmNonceSize : kCcmNonceSize; }

// The ciphers are fetched once per process; EVP_CIPHER objects are immutable and shareable.
const EVP_CIPHER* FetchedCipher(const char* name) {
  // A small fixed table keyed by name pointer identity is enough for the six names used here.
  static EVP_CIPHER* const gcm128 = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
  static EVP_CIPHER* const gcm256 = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  static EVP_CIPHER* const cbc128 = EVP_CIPHER_fetch(nullptr, "AES-128-CBC", nullptr);
  static EVP_CIPHER* const cbc256 = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
  static EVP_CIPHER* const ctr128 = EVP_CIPHER_fetch(nullptr, "AES-128-CTR", nullptr);
  static EVP_CIPHER* const ctr256 = EVP_CIPHER_fetch(nullptr, "AES-256-CTR", nullptr);
  const absl::string_view n(name);
  if (n == "AES-128-GCM") return gcm128;
  if (n == "AES-256-GCM") return gcm256;
  if (n == "AES-128-CBC") return cbc128;
  if (n == "AES-256-CBC") return cbc256;
  if (n == "AES-128-CTR") return ctr128;
  if (n == "AES-256-CTR") return ctr256;
  return nullptr;
}

// One AEAD computation over a message fed in pieces: Init, any number of Update calls whose
// lengths add up to the length given to Init, then FinishEncrypt or FinishDecrypt.
class AeadStream {
 public:
  absl::Status Init(Cipher cipher, absl::Span<const uint8_t> key, bool encrypt,
                    absl::Span<const uint8_t> nonce, absl::Span<const uint8_t> aad,
                    uint64_t length) {
    cipher_ = cipher;
    encrypt_ = encrypt;
    if (IsGcm(cipher)) return InitGcm(key, nonce, aad);
    return InitCcm(key, nonce, aad, length);
  }

  // Encrypts or decrypts `n` (<= kPageSize) bytes from `in` to `out`.
  absl::Status Update(const uint8_t* in, uint8_t* out, size_t n) {
    if (IsGcm(cipher_)) {
      int outl = 0;
      if (EVP_CipherUpdate(main_.get(), out, &outl, in, static_cast<int>(n)) != 1 ||
          static_cast<size_t>(outl) != n) {
        return OpenSslError("EVP_CipherUpdate(GCM)");
      }
      return absl::OkStatus();
    }
    if (encrypt_) {
      SMBD_RETURN_IF_ERROR(CbcMac(in, n));
      return Ctr(in, out, n);
    }
    SMBD_RETURN_IF_ERROR(Ctr(in, out, n));
    return CbcMac(out, n);
  }

  absl::Status FinishEncrypt(uint8_t tag[kTagSize]) {
    if (IsGcm(cipher_)) {
      uint8_t unused[16];
      int outl = 0;
      if (EVP_EncryptFinal_ex(main_.get(), unused, &outl) != 1 ||
          EVP_CIPHER_CTX_ctrl(main_.get(), EVP_CTRL_AEAD_GET_TAG, kTagSize, tag) != 1) {
        return OpenSslError("EVP_EncryptFinal_ex(GCM)");
      }
      return absl::OkStatus();
    }
    return CcmTag(tag);
  }

  // kUnauthenticated when the tag does not match.
  absl::Status FinishDecrypt(const uint8_t expected[kTagSize]) {
    if (IsGcm(cipher_)) {
      uint8_t tag[kTagSize];
      std::memcpy(tag, expected, kTagSize);
      if (EVP_CIPHER_CTX_ctrl(main_.get(), EVP_CTRL_AEAD_SET_TAG, kTagSize, tag) != 1) {
        return OpenSslError("EVP_CTRL_AEAD_SET_TAG");
      }
      uint8_t unused[16];
      int outl = 0;
      if (EVP_DecryptFinal_ex(main_.get(), unused, &outl) != 1) {
        // OpenSSL reports a GCM tag mismatch as a plain failure with nothing queued worth
        // showing; clear the queue so it does not leak into later errors.
        ERR_clear_error();
        return TagMismatch();
      }
      return absl::OkStatus();
    }
    uint8_t tag[kTagSize];
    SMBD_RETURN_IF_ERROR(CcmTag(tag));
    const bool ok = CRYPTO_memcmp(tag, expected, kTagSize) == 0;
    OPENSSL_cleanse(tag, sizeof(tag));
    return ok ? absl::OkStatus() : TagMismatch();
  }

 private:
  absl::Status TagMismatch() const {
    return absl::UnauthenticatedError(absl::StrCat(
        "SMB2 TRANSFORM_HEADER signature (", CipherName(cipher_),
        " tag) does not verify: the message was altered or sealed under another key"));
  }

  absl::Status InitGcm(absl::Span<const uint8_t> key, absl::Span<const uint8_t> nonce,
                       absl::Span<const uint8_t> aad) {
    const EVP_CIPHER* c = FetchedCipher(IsAes256(cipher_) ? "AES-256-GCM" : "AES-128-GCM");
    if (c == nullptr) return OpenSslError("EVP_CIPHER_fetch(AES-GCM)");
    // A stream used before (Sealer and Unsealer keep theirs) keeps its context: initialising it
    // with no cipher only sets the key and IV, where naming the cipher would free and
    // reallocate the provider's context (OpenSSL 3 EVP_CipherInit_ex2).
    const bool reuse = main_ != nullptr && initialized_ == cipher_;
    if (!reuse) main_.reset(EVP_CIPHER_CTX_new());
    initialized_ = cipher_;
    size_t ivlen = nonce.size();
    OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivlen),
                           OSSL_PARAM_construct_end()};
    int outl = 0;
    if (main_ == nullptr ||
        EVP_CipherInit_ex2(main_.get(), reuse ? nullptr : c, key.data(), nonce.data(),
                           encrypt_ ? 1 : 0, params) != 1 ||
        EVP_CipherUpdate(main_.get(), nullptr, &outl, aad.data(), static_cast<int>(aad.size())) !=
            1) {
      return OpenSslError("EVP_CipherInit_ex2(AES-GCM)");
    }
    return absl::OkStatus();
  }

  // SP 800-38C A.2 formatting for n = 11 (q = 4), t = 16 and 32 bytes of associated data.
  absl::Status InitCcm(absl::Span<const uint8_t> key, absl::Span<const uint8_t> nonce,
                       absl::Span<const uint8_t> aad, uint64_t length) {
    if (nonce.size() != kCcmNonceSize || length > UINT32_MAX || aad.size() >= 0xFF00) {
      return absl::InvalidArgumentError("CCM nonce or message length out of range");
    }
    const bool aes256 = IsAes256(cipher_);
    const EVP_CIPHER* cbc = FetchedCipher(aes256 ? "AES-256-CBC" : "AES-128-CBC");
    const EVP_CIPHER* ctr = FetchedCipher(aes256 ? "AES-256-CTR" : "AES-128-CTR");
    if (cbc == nullptr || ctr == nullptr) return OpenSslError("EVP_CIPHER_fetch(AES-CBC/CTR)");
    const bool reuse = main_ != nullptr && mac_ != nullptr && initialized_ == cipher_;
    if (!reuse) {
      main_.reset(EVP_CIPHER_CTX_new());
      mac_.reset(EVP_CIPHER_CTX_new());
    }
    initialized_ = cipher_;
    const uint8_t zero_iv[16] = {};
    // Counter block A0 = [q-1] || N || [0]_q; the CTR mode's big-endian increment then yields
    // A1, A2, ... (the message is < 2^32 blocks, so the 4-byte counter field never wraps).
    uint8_t a0[16] = {};
    a0[0] = static_cast<uint8_t>(15 - kCcmNonceSize - 1);
    std::memcpy(a0 + 1, nonce.data(), kCcmNonceSize);
    if (main_ == nullptr || mac_ == nullptr ||
        EVP_EncryptInit_ex2(main_.get(), reuse ? nullptr : ctr, key.data(), a0, nullptr) != 1 ||
        EVP_EncryptInit_ex2(mac_.get(), reuse ? nullptr : cbc, key.data(), zero_iv, nullptr) !=
            1 ||
        EVP_CIPHER_CTX_set_padding(mac_.get(), 0) != 1) {
      return OpenSslError("EVP_EncryptInit_ex2(AES-CTR/CBC for CCM)");
    }
    // S0 = E(K, A0) masks the tag; it is the first CTR block.
    const uint8_t zeros[16] = {};
    SMBD_RETURN_IF_ERROR(Ctr(zeros, s0_, sizeof(s0_)));
    // B0: flags = Adata (0x40) | ((t-2)/2) << 3 | (q-1), then N, then Q = message length.
    uint8_t b0[16];
    b0[0] = static_cast<uint8_t>(0x40 | (((kTagSize - 2) / 2) << 3) | (15 - kCcmNonceSize - 1));
    std::memcpy(b0 + 1, nonce.data(), kCcmNonceSize);
    StoreBE32(b0 + 12, static_cast<uint32_t>(length));
    SMBD_RETURN_IF_ERROR(CbcMac(b0, sizeof(b0)));
    // Associated data: its 2-byte big-endian length, the data, zero padding to a block.
    uint8_t alen[2] = {static_cast<uint8_t>(aad.size() >> 8), static_cast<uint8_t>(aad.size())};
    SMBD_RETURN_IF_ERROR(CbcMac(alen, 2));
    SMBD_RETURN_IF_ERROR(CbcMac(aad.data(), aad.size()));
    SMBD_RETURN_IF_ERROR(PadMac());
    mac_fed_ = 0;
    return absl::OkStatus();
  }

  absl::Status Ctr(const uint8_t* in, uint8_t* out, size_t n) {
    int outl = 0;
    if (EVP_EncryptUpdate(main_.get(), out, &outl, in, static_cast<int>(n)) != 1 ||
        static_cast<size_t>(outl) != n) {
      return OpenSslError("EVP_EncryptUpdate(AES-CTR)");
    }
    return absl::OkStatus();
  }

  // Feeds CBC-MAC input; only the last ciphertext block matters, so output goes to scratch.
  absl::Status CbcMac(const uint8_t* in, size_t n) {
    while (n > 0) {
      const size_t chunk = std::min(n, kScratch);
      int outl = 0;
      if (EVP_EncryptUpdate(mac_.get(), scratch_, &outl, in, static_cast<int>(chunk)) != 1) {
        return OpenSslError("EVP_EncryptUpdate(AES-CBC for CCM)");
      }
      if (outl >= 16) std::memcpy(last_, scratch_ + outl - 16, 16);
      mac_fed_ += chunk;
      in += chunk;
      n -= chunk;
    }
    return absl::OkStatus();
  }

  absl::Status PadMac() {
    const size_t pad = (16 - mac_fed_ % 16) % 16;
    const uint8_t zeros[16] = {};
    return CbcMac(zeros, pad);
  }

  absl::Status CcmTag(uint8_t tag[kTagSize]) {
    SMBD_RETURN_IF_ERROR(PadMac());
    for (size_t i = 0; i < kTagSize; ++i) tag[i] = last_[i] ^ s0_[i];
    return absl::OkStatus();
  }

  static constexpr size_t kScratch = 4096;
  Cipher cipher_ = Cipher::kAes128Gcm;
  std::optional<Cipher> initialized_;  // the cipher main_ (and mac_) were set up for
  bool encrypt_ = true;
  EvpCipherCtxPtr main_;  // GCM, or CCM's CTR
  EvpCipherCtxPtr mac_;   // CCM's CBC-MAC
  uint64_t mac_fed_ = 0;
  uint8_t s0_[16] = {};
  uint8_t last_[16] = {};
  uint8_t scratch_[kScratch + 16];
};

void BuildAad(const TransformHeader& h, uint8_t aad[kTransformAadSize]) {
  std::memcpy(aad, h.nonce.data(), 16);
  StoreLE<uint32_t>(aad + 16, h.original_message_size);
  StoreLE<uint16_t>(aad + 20, 0);  // Reserved
  StoreLE<uint16_t>(aad + 22, h.flags);
  StoreLE<uint64_t>(aad + 24, h.session_id);
}

absl::Status CheckKey(Cipher cipher, absl::Span<const uint8_t> key) {
  if (!IsValidCipher(cipher)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown cipher id ", static_cast<int>(cipher)));
  }
  if (key.size() != CipherKeySize(cipher)) {
    return absl::InvalidArgumentError(absl::StrCat(CipherName(cipher), " needs a ",
                                                   CipherKeySize(cipher), "-byte key, got ",
                                                   key.size()));
  }
  return absl::OkStatus();
}

// Appends ciphertext/plaintext to `out` as it is produced: into whole pool pages, or, with a
// FragAllocator, into the rest of its current page (unused room goes back at each Flush), so
// that a small message does not take a page of its own.
class PageSink {
 public:
  PageSink(Bvecq* out, PagePool* pool, FragAllocator* frags)
      : out_(out), pool_(pool), frags_(frags) {}

  // Starts in an already-allocated piece at `offset` (the piece holding the transform header).
  void StartIn(Fragment piece, size_t offset) {
    piece_ = std::move(piece);
    start_ = used_ = offset;
  }

  // Room for at least one byte at the current position.
  absl::StatusOr<absl::Span<uint8_t>> Room() {
    if (!piece_.page || used_ == piece_.len) {
      SMBD_RETURN_IF_ERROR(Flush());
      SMBD_ASSIGN_OR_RETURN(piece_, NewPiece(frags_, pool_, kMinPiece));
      start_ = used_ = 0;
    }
    return absl::Span<uint8_t>(piece_.data + used_, piece_.len - used_);
  }
  void Produced(size_t n) { used_ += n; }

  absl::Status Flush() {
    if (piece_.page) {
      // The room not used goes back (8-byte aligned: the next piece starts aligned).
      if (frags_ != nullptr) {
        frags_->Trim(piece_, std::min<size_t>((used_ + 7) & ~size_t{7}, piece_.len));
      }
      if (used_ > start_) {
        const size_t offset = static_cast<size_t>(piece_.data - piece_.page.data()) + start_;
        SMBD_RETURN_IF_ERROR(out_->Append(std::move(piece_.page), static_cast<uint32_t>(offset),
                                          static_cast<uint32_t>(used_ - start_)));
      }
    }
    piece_ = Fragment();
    start_ = used_ = 0;
    return absl::OkStatus();
  }

  // At least `min_len` bytes: the rest of `frags`' page, or a whole pool page.
  static absl::StatusOr<Fragment> NewPiece(FragAllocator* frags, PagePool* pool, size_t min_len) {
    if (frags != nullptr) return frags->AllocRest(min_len);
    SMBD_ASSIGN_OR_RETURN(PageRef page, pool->TryAlloc());
    Fragment whole;
    whole.data = page.data();
    whole.len = kPageSize;
    whole.page = std::move(page);
    return whole;
  }

 private:
  // A piece smaller than this is not worth a slot of its own.
  static constexpr size_t kMinPiece = 512;
  Bvecq* out_;
  PagePool* pool_;
  FragAllocator* frags_;
  Fragment piece_;
  size_t start_ = 0;  // of the bytes not yet appended, from piece_.data
  size_t used_ = 0;
};

// Runs `stream` over the next `n` bytes of `in` (advancing it), writing to `sink`.
absl::Status TransformSome(AeadStream* stream, BvecqIter* in, uint64_t n, PageSink* sink) {
  while (n > 0) {
    absl::Span<uint8_t> piece = in->Peek();
    if (piece.empty()) return absl::DataLossError("SMB2 TRANSFORM message shorter than its size");
    piece = piece.subspan(0, std::min<uint64_t>(piece.size(), n));
    size_t done = 0;
    while (done < piece.size()) {
      SMBD_ASSIGN_OR_RETURN(absl::Span<uint8_t> room, sink->Room());
      const size_t k = std::min(room.size(), piece.size() - done);
      SMBD_RETURN_IF_ERROR(stream->Update(piece.data() + done, room.data(), k));
      sink->Produced(k);
      done += k;
    }
    SMBD_RETURN_IF_ERROR(in->Advance(piece.size()));
    n -= piece.size();
  }
  return sink->Flush();
}

// Runs `stream` over the next dst.size() bytes of `in` (advancing it), writing to dst.
absl::Status TransformInto(AeadStream* stream, BvecqIter* in, absl::Span<uint8_t> dst) {
  size_t done = 0;
  while (done < dst.size()) {
    absl::Span<uint8_t> piece = in->Peek();
    if (piece.empty()) return absl::DataLossError("SMB2 TRANSFORM message shorter than its size");
    const size_t k = std::min({piece.size(), dst.size() - done, kPageSize});
    SMBD_RETURN_IF_ERROR(stream->Update(piece.data(), dst.data() + done, k));
    SMBD_RETURN_IF_ERROR(in->Advance(k));
    done += k;
  }
  return absl::OkStatus();
}

}  // namespace

class AeadStreamCache {
 public:
  // A stream of this cache's own (a new one only when every kept one is in use).
  std::unique_ptr<AeadStream> Take() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        std::unique_ptr<AeadStream> s = std::move(free_.back());
        free_.pop_back();
        return s;
      }
    }
    return std::make_unique<AeadStream>();
  }
  void Give(std::unique_ptr<AeadStream> s) {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() < kKeep) free_.push_back(std::move(s));
  }

 private:
  static constexpr size_t kKeep = 4;  // one per thread sealing or unsealing at once
  std::mutex mu_;
  std::vector<std::unique_ptr<AeadStream>> free_;
};

namespace {

// A stream borrowed from a cache for one message.
class BorrowedStream {
 public:
  explicit BorrowedStream(AeadStreamCache* cache) : cache_(cache), stream_(cache->Take()) {}
  ~BorrowedStream() { cache_->Give(std::move(stream_)); }
  AeadStream* operator->() const { return stream_.get(); }
  AeadStream* get() const { return stream_.get(); }

 private:
  AeadStreamCache* const cache_;
  std::unique_ptr<AeadStream> stream_;
};

}  // namespace

absl::StatusOr<TransformHeader> ParseTransformHeader(BvecqIter message) {
  if (message.remaining() < kTransformHeaderSize) {
    return absl::DataLossError(absl::StrCat("truncated SMB2 TRANSFORM_HEADER: ",
                                            message.remaining(), " of ", kTransformHeaderSize,
                                            " bytes"));
  }
  WireReader r(message);
  uint8_t protocol[4];
  uint16_t reserved = 0;
  TransformHeader h;
  if (!r.Bytes(absl::MakeSpan(protocol)) || !r.Bytes(absl::MakeSpan(h.signature)) ||
      !r.Bytes(absl::MakeSpan(h.nonce)) || !r.U32(&h.original_message_size) ||
      !r.U16(&reserved) || !r.U16(&h.flags) || !r.U64(&h.session_id)) {
    return r.Error("SMB2 TRANSFORM_HEADER");
  }
  if (std::memcmp(protocol, kTransformProtocolId, 4) != 0) {
    if (std::memcmp(protocol, kSmb2ProtocolId, 4) == 0) {
      return absl::DataLossError(
          "expected an SMB2 TRANSFORM_HEADER (0xFD 'S' 'M' 'B') but got an unencrypted SMB2 "
          "message");
    }
    return absl::DataLossError("not an SMB2 TRANSFORM_HEADER (ProtocolId is not 0xFD 'S' 'M' 'B')");
  }
  // 3.1.1 calls the field Flags (0x0001 = Encrypted), 3.0/3.0.2 EncryptionAlgorithm (0x0001 =
  // AES-128-CCM); either way 0x0001 is the only valid value ([MS-SMB2] 2.2.41).
  if (h.flags != kTransformFlagEncrypted) {
    return absl::DataLossError(absl::StrCat("SMB2 TRANSFORM_HEADER Flags/EncryptionAlgorithm is 0x",
                                            absl::Hex(h.flags), ", not 0x0001"));
  }
  // Peer-supplied size: compare in 64 bits against what actually follows.
  const uint64_t payload = message.remaining() - kTransformHeaderSize;
  if (h.original_message_size == 0 || uint64_t{h.original_message_size} != payload) {
    return absl::DataLossError(absl::StrCat("SMB2 TRANSFORM_HEADER OriginalMessageSize ",
                                            h.original_message_size, " does not match the ",
                                            payload, " encrypted bytes that follow"));
  }
  return h;
}

Sealer::Sealer(Cipher cipher, SecretBytes key, uint64_t session_id)
    : cipher_(cipher),
      key_(std::move(key)),
      session_id_(session_id),
      streams_(std::make_unique<AeadStreamCache>()) {}

Sealer::~Sealer() = default;

Unsealer::Unsealer(Cipher cipher, SecretBytes key)
    : cipher_(cipher), key_(std::move(key)), streams_(std::make_unique<AeadStreamCache>()) {}

Unsealer::~Unsealer() = default;

absl::StatusOr<std::unique_ptr<Sealer>> Sealer::Create(Cipher cipher,
                                                       absl::Span<const uint8_t> key,
                                                       uint64_t session_id) {
  SMBD_RETURN_IF_ERROR(CheckKey(cipher, key));
  std::unique_ptr<Sealer> sealer(new Sealer(cipher, SecretBytes(key), session_id));
  if (RAND_bytes(sealer->salt_.data(), static_cast<int>(sealer->salt_.size())) != 1) {
    return OpenSslError("RAND_bytes");
  }
  return sealer;
}

void Sealer::SetNextNonceForTesting(absl::Span<const uint8_t> nonce16) {
  std::lock_guard<std::mutex> lock(test_mu_);
  std::array<uint8_t, 16> n{};
  std::memcpy(n.data(), nonce16.data(), std::min<size_t>(nonce16.size(), 16));
  test_nonce_ = n;
  has_test_nonce_.store(true, std::memory_order_release);
}

absl::StatusOr<std::array<uint8_t, 16>> Sealer::NextNonce() {
  if (has_test_nonce_.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(test_mu_);
    if (test_nonce_.has_value()) {
      std::array<uint8_t, 16> n = *test_nonce_;
      test_nonce_.reset();
      has_test_nonce_.store(false, std::memory_order_release);
      return n;
    }
  }
  // Never wraps: once the last counter value is used, every later Seal is refused (a plain
  // fetch_add would wrap to 0 after one refusal and repeat nonces, fatal for GCM).
  uint64_t count = counter_.load(std::memory_order_relaxed);
  do {
    if (count == UINT64_MAX) {
      return absl::ResourceExhaustedError(
          "SMB2 encryption nonce space exhausted: re-key the session");
    }
  } while (!counter_.compare_exchange_weak(count, count + 1, std::memory_order_relaxed));
  std::array<uint8_t, 16> n{};
  StoreLE<uint64_t>(n.data(), count);
  const size_t salt_bytes = NonceSize(cipher_) - 8;
  std::memcpy(n.data() + 8, salt_.data(), salt_bytes);
  return n;
}

absl::StatusOr<Bvecq> Sealer::Seal(const Bvecq& plaintext, PagePool* pool, int reserve_head,
                                   FragAllocator* frags) {
  return Seal(plaintext.begin(), pool, reserve_head, frags);
}

absl::StatusOr<Bvecq> Sealer::Seal(BvecqIter plaintext, PagePool* pool, int reserve_head,
                                   FragAllocator* frags) {
  const uint64_t size = plaintext.remaining();
  if (size == 0 || size > UINT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot seal a message of ", size, " bytes (1 .. 2^32-1)"));
  }
  TransformHeader h;
  SMBD_ASSIGN_OR_RETURN(h.nonce, NextNonce());
  h.original_message_size = static_cast<uint32_t>(size);
  h.flags = kTransformFlagEncrypted;
  h.session_id = session_id_;

  Bvecq out;
  if (reserve_head > 0) SMBD_RETURN_IF_ERROR(out.ReserveHead(reserve_head));
  // The header and the start of the ciphertext share the first piece: one slot each.
  SMBD_ASSIGN_OR_RETURN(Fragment first,
                        PageSink::NewPiece(frags, pool, kTransformHeaderSize + 512));
  uint8_t* header = first.data;
  std::memcpy(header, kTransformProtocolId, 4);
  std::memset(header + kTransformSignatureOffset, 0, 16);
  BuildAad(h, header + kTransformNonceOffset);
  SMBD_RETURN_IF_ERROR(out.Append(first.page, static_cast<uint32_t>(header - first.page.data()),
                                  kTransformHeaderSize));

  BorrowedStream stream(streams_.get());
  SMBD_RETURN_IF_ERROR(stream->Init(cipher_, key_.span(), /*encrypt=*/true,
                                   absl::MakeConstSpan(h.nonce.data(), NonceSize(cipher_)),
                                   absl::MakeConstSpan(header + kTransformNonceOffset,
                                                       kTransformAadSize),
                                   size));
  PageSink sink(&out, pool, frags);
  sink.StartIn(std::move(first), kTransformHeaderSize);
  SMBD_RETURN_IF_ERROR(TransformSome(stream.get(), &plaintext, plaintext.remaining(), &sink));
  SMBD_RETURN_IF_ERROR(stream->FinishEncrypt(header + kTransformSignatureOffset));
  return out;
}

absl::StatusOr<std::unique_ptr<Unsealer>> Unsealer::Create(Cipher cipher,
                                                           absl::Span<const uint8_t> key) {
  SMBD_RETURN_IF_ERROR(CheckKey(cipher, key));
  return std::unique_ptr<Unsealer>(new Unsealer(cipher, SecretBytes(key)));
}

absl::StatusOr<Bvecq> Unsealer::Unseal(BvecqIter transformed, PagePool* pool,
                                       uint64_t expected_session_id,
                                       const UnsealPlacement* placement,
                                       FragAllocator* frags) const {
  SMBD_ASSIGN_OR_RETURN(TransformHeader h, ParseTransformHeader(transformed));
  if (h.session_id != expected_session_id) {
    return absl::PermissionDeniedError(absl::StrCat(
        "SMB2 TRANSFORM_HEADER is for SessionId 0x", absl::Hex(h.session_id, absl::kZeroPad16),
        ", expected 0x", absl::Hex(expected_session_id, absl::kZeroPad16)));
  }
  // The AAD is the header from Nonce to SessionId exactly as received ([MS-SMB2] 3.1.4.3), not
  // rebuilt from the parsed fields: Reserved is ignored on receipt but still authenticated, so
  // a Reserved changed in transit must fail the tag check (it passed before; found by
  // tests/fuzz/transform_fuzzer).
  uint8_t aad[kTransformAadSize];
  BvecqIter aad_at = transformed;
  SMBD_RETURN_IF_ERROR(aad_at.Advance(kTransformNonceOffset));
  if (aad_at.CopyOut(absl::MakeSpan(aad)) != kTransformAadSize) {
    return absl::DataLossError("truncated SMB2 TRANSFORM_HEADER");
  }
  BorrowedStream stream(streams_.get());
  SMBD_RETURN_IF_ERROR(stream->Init(cipher_, key_.span(), /*encrypt=*/false,
                                   absl::MakeConstSpan(h.nonce.data(), NonceSize(cipher_)), aad,
                                   h.original_message_size));
  BvecqIter ciphertext = transformed;
  SMBD_RETURN_IF_ERROR(ciphertext.Advance(kTransformHeaderSize));
  const uint64_t size = h.original_message_size;
  if (ciphertext.remaining() != size) {
    return absl::DataLossError(absl::StrCat("SMB2 TRANSFORM message carries ",
                                            ciphertext.remaining(), " bytes, its header says ",
                                            size));
  }
  // On any failure below `out` is destroyed with its pages: no unverified plaintext escapes
  // (except into a placement's buffer, see the header).
  Bvecq out;
  PageSink sink(&out, pool, frags);
  uint64_t done = 0;
  absl::Span<uint8_t> placed;
  if (placement != nullptr && placement->choose && placement->peek > 0 &&
      placement->peek <= 256 && size >= placement->peek) {
    SMBD_RETURN_IF_ERROR(TransformSome(stream.get(), &ciphertext, placement->peek, &sink));
    done = placement->peek;
    uint8_t head[256];
    out.begin().CopyOut(absl::MakeSpan(head, placement->peek));
    const PlacedRange r = placement->choose(absl::MakeConstSpan(head, placement->peek));
    if (!r.dst.empty() && r.offset >= done && r.offset <= size &&
        r.dst.size() <= size - r.offset) {
      SMBD_RETURN_IF_ERROR(TransformSome(stream.get(), &ciphertext, r.offset - done, &sink));
      placed = r.dst;
      absl::Status into = TransformInto(stream.get(), &ciphertext, r.dst);
      if (into.ok()) into = out.AppendExternal(r.dst.data(), r.dst.size());
      if (!into.ok()) {
        OPENSSL_cleanse(r.dst.data(), r.dst.size());
        return into;
      }
      done = r.offset + r.dst.size();
    }
  }
  absl::Status s = TransformSome(stream.get(), &ciphertext, size - done, &sink);
  if (s.ok()) s = stream->FinishDecrypt(h.signature.data());
  if (!s.ok()) {
    // Unverified plaintext must not stay in the caller's buffer either.
    if (!placed.empty()) OPENSSL_cleanse(placed.data(), placed.size());
    return s;
  }
  return out;
}

namespace security_internal {
namespace {

absl::Status CheckAeadArgs(Cipher cipher, absl::Span<const uint8_t> key,
                           absl::Span<const uint8_t> nonce, size_t in, size_t out, size_t tag) {
  SMBD_RETURN_IF_ERROR(CheckKey(cipher, key));
  if (nonce.size() != NonceSize(cipher) || in != out || tag != kTagSize) {
    return absl::InvalidArgumentError("AEAD nonce, output or tag size is wrong");
  }
  return absl::OkStatus();
}

absl::Status RunContiguous(AeadStream* stream, absl::Span<const uint8_t> in,
                           absl::Span<uint8_t> out) {
  for (size_t done = 0; done < in.size();) {
    const size_t n = std::min(in.size() - done, kPageSize);
    SMBD_RETURN_IF_ERROR(stream->Update(in.data() + done, out.data() + done, n));
    done += n;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status AeadEncrypt(Cipher cipher, absl::Span<const uint8_t> key,
                         absl::Span<const uint8_t> nonce, absl::Span<const uint8_t> aad,
                         absl::Span<const uint8_t> plaintext, absl::Span<uint8_t> ciphertext,
                         absl::Span<uint8_t> tag) {
  SMBD_RETURN_IF_ERROR(
      CheckAeadArgs(cipher, key, nonce, plaintext.size(), ciphertext.size(), tag.size()));
  AeadStream stream;
  SMBD_RETURN_IF_ERROR(stream.Init(cipher, key, true, nonce, aad, plaintext.size()));
  SMBD_RETURN_IF_ERROR(RunContiguous(&stream, plaintext, ciphertext));
  return stream.FinishEncrypt(tag.data());
}

absl::Status AeadDecrypt(Cipher cipher, absl::Span<const uint8_t> key,
                         absl::Span<const uint8_t> nonce, absl::Span<const uint8_t> aad,
                         absl::Span<const uint8_t> ciphertext, absl::Span<const uint8_t> tag,
                         absl::Span<uint8_t> plaintext) {
  SMBD_RETURN_IF_ERROR(
      CheckAeadArgs(cipher, key, nonce, ciphertext.size(), plaintext.size(), tag.size()));
  AeadStream stream;
  SMBD_RETURN_IF_ERROR(stream.Init(cipher, key, false, nonce, aad, ciphertext.size()));
  SMBD_RETURN_IF_ERROR(RunContiguous(&stream, ciphertext, plaintext));
  return stream.FinishDecrypt(tag.data());
}

}  // namespace security_internal
}  // namespace smbd
