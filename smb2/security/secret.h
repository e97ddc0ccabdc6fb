// SecretBytes: the one container for key material and passwords in the security layer.
//
// The buffer is zeroed with OPENSSL_cleanse (which the compiler may not elide) when the object is
// destroyed, cleared, assigned over or moved from, so that keys and passwords do not linger in
// freed heap memory or core dumps longer than their owner needs them. It is move-only (copies are
// explicit, through Clone()), its storage never reallocates behind the caller's back, and it has
// no streaming operator: printing one (including from a failing GoogleTest assertion) shows only
// its length. Credentials never appear in logs or error messages.
#ifndef SMBD_SMB2_SECURITY_SECRET_H_
#define SMBD_SMB2_SECURITY_SECRET_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace smbd {

class SecretBytes {
 public:
  SecretBytes() = default;
  // `size` zero bytes.
  explicit SecretBytes(size_t size);
  // A copy of `bytes` (the caller remains responsible for wiping its own copy).
  explicit SecretBytes(absl::Span<const uint8_t> bytes);
  static SecretBytes FromString(absl::string_view bytes);

  ~SecretBytes() { Clear(); }
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  SecretBytes Clone() const { return SecretBytes(span()); }

  // Wipes and releases the buffer; size() becomes 0.
  void Clear();

  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  absl::Span<const uint8_t> span() const { return absl::Span<const uint8_t>(data_.get(), size_); }
  absl::Span<uint8_t> mutable_span() { return absl::Span<uint8_t>(data_.get(), size_); }

  // A new SecretBytes holding the first min(n, size()) bytes, right-padded with zeros to n.
  SecretBytes Prefix(size_t n) const;

  // Constant-time comparison (CRYPTO_memcmp); different lengths compare unequal.
  bool ConstantTimeEquals(absl::Span<const uint8_t> other) const;

 private:
  std::unique_ptr<uint8_t[]> data_;
  size_t size_ = 0;
};

// Printing a secret shows its length only (GoogleTest finds this through ADL).
std::ostream& operator<<(std::ostream& os, const SecretBytes& secret);
void PrintTo(const SecretBytes& secret, std::ostream* os);

}  // namespace smbd

#endif  // SMBD_SMB2_SECURITY_SECRET_H_
