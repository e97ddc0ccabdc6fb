#include "smb2/security/secret.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace smbd {

SecretBytes::SecretBytes(size_t size) : data_(size ? new uint8_t[size]() : nullptr), size_(size) {}

SecretBytes::SecretBytes(absl::Span<const uint8_t> bytes) : SecretBytes(bytes.size()) {
  if (!bytes.empty()) std::memcpy(data_.get(), bytes.data(), bytes.size());
}

SecretBytes SecretBytes::FromString(absl::string_view bytes) {
  return SecretBytes(absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()),
                                               bytes.size()));
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::move(other.data_)), size_(other.size_) {
  // The buffer changed owner without being copied; the source holds nothing to wipe.
  other.size_ = 0;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Clear();
    data_ = std::move(other.data_);
    size_ = other.size_;
    other.size_ = 0;
  }
  return *this;
}

void SecretBytes::Clear() {
  if (data_ != nullptr && size_ != 0) OPENSSL_cleanse(data_.get(), size_);
  data_.reset();
  size_ = 0;
}

SecretBytes SecretBytes::Prefix(size_t n) const {
  SecretBytes out(n);
  if (n != 0 && size_ != 0) std::memcpy(out.data(), data_.get(), std::min(n, size_));
  return out;
}

bool SecretBytes::ConstantTimeEquals(absl::Span<const uint8_t> other) const {
  if (other.size() != size_) return false;
  if (size_ == 0) return true;
  return CRYPTO_memcmp(data_.get(), other.data(), size_) == 0;
}

std::ostream& operator<<(std::ostream& os, const SecretBytes& secret) {
  return os << "SecretBytes(" << secret.size() << " bytes, redacted)";
}

void PrintTo(const SecretBytes& secret, std::ostream* os) { *os << secret; }

}  // namespace smbd
