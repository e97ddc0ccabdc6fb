// SessionCrypto: the SessionSecurity (smb2/session_security.h) that a logged-in session gives
// its connection: signing with the session's signing key and algorithm, sealing with its
// encryption/decryption keys ([MS-SMB2] 3.2.5.3.1, 3.2.4.1.8). Sealing can be switched on
// later, when a tree that requires it is connected.
#ifndef SMBD_SMB2_SECURITY_SESSION_CRYPTO_H_
#define SMBD_SMB2_SECURITY_SESSION_CRYPTO_H_

#include <atomic>
#include <memory>
#include <optional>

#include "smb2/security/sealing.h"
#include "smb2/security/signing.h"
#include "smb2/session_security.h"

namespace smbd {

class SessionCrypto : public SessionSecurity {
 public:
  SessionCrypto(uint64_t session_id, std::optional<Signer> signer,
                      std::unique_ptr<Sealer> sealer, std::unique_ptr<Unsealer> unsealer,
                      bool sign, bool seal, uint32_t always_signed_commands)
      : session_id_(session_id),
        signer_(std::move(signer)),
        sealer_(std::move(sealer)),
        unsealer_(std::move(unsealer)),
        sign_(sign),
        seal_(seal),
        always_signed_(always_signed_commands) {}

  bool signs() const override { return sign_; }
  bool seals() const override { return seal_.load(std::memory_order_acquire); }
  bool SignsRequest(Command command) const override {
    return sign_ || (always_signed_ & (1u << static_cast<uint16_t>(command))) != 0;
  }
  bool can_seal() const { return sealer_ != nullptr && unsealer_ != nullptr; }
  void EnableSealing() { seal_.store(true, std::memory_order_release); }

  absl::Status Sign(BvecqIter member) override;
  absl::Status Verify(BvecqIter member) override;
  absl::StatusOr<Bvecq> Seal(const Bvecq& frame, PagePool* pool, FragAllocator* frags) override;
  absl::StatusOr<Bvecq> Unseal(const Bvecq& transformed, PagePool* pool) override;
  absl::StatusOr<Bvecq> UnsealPlaced(const Bvecq& transformed, PagePool* pool,
                                     const UnsealPlacement& placement,
                                     FragAllocator* frags) override;

 private:
  const uint64_t session_id_;
  std::optional<Signer> signer_;
  std::unique_ptr<Sealer> sealer_;
  std::unique_ptr<Unsealer> unsealer_;
  const bool sign_;
  std::atomic<bool> seal_;
  // Commands signed even when the session does not sign: bit (1 << command).
  const uint32_t always_signed_;
};

}  // namespace smbd

#endif  // SMBD_SMB2_SECURITY_SESSION_CRYPTO_H_
