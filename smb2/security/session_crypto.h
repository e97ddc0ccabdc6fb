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
        seal_(std::make_shared<std::atomic<bool>>(seal)),
        always_signed_(always_signed_commands) {}

  // The same session on another channel (multichannel, [MS-SMB2] 3.2.5.3.3): signed with that
  // channel's Channel.SigningKey, sealed with the session's keys (one Sealer, whose nonce
  // counter is shared, so no nonce repeats across channels), sealing switched on for all
  // channels at once.
  std::shared_ptr<SessionCrypto> ForChannel(Signer channel_signer) const {
    return std::shared_ptr<SessionCrypto>(new SessionCrypto(*this, std::move(channel_signer)));
  }

  bool signs() const override { return sign_; }
  bool seals() const override { return seal_->load(std::memory_order_acquire); }
  bool SignsRequest(Command command) const override {
    return sign_ || (always_signed_ & (1u << static_cast<uint16_t>(command))) != 0;
  }
  bool can_seal() const { return sealer_ != nullptr && unsealer_ != nullptr; }
  void EnableSealing() { seal_->store(true, std::memory_order_release); }

  absl::Status Sign(BvecqIter member) override;
  absl::Status Verify(BvecqIter member) override;
  absl::StatusOr<Bvecq> Seal(const Bvecq& frame, PagePool* pool, FragAllocator* frags) override;
  absl::StatusOr<Bvecq> Unseal(const Bvecq& transformed, PagePool* pool) override;
  absl::StatusOr<Bvecq> UnsealPlaced(const Bvecq& transformed, PagePool* pool,
                                     const UnsealPlacement& placement,
                                     FragAllocator* frags) override;

 private:
  SessionCrypto(const SessionCrypto& session, Signer channel_signer)
      : session_id_(session.session_id_),
        signer_(std::move(channel_signer)),
        sealer_(session.sealer_),
        unsealer_(session.unsealer_),
        sign_(session.sign_),
        seal_(session.seal_),
        always_signed_(session.always_signed_) {}

  const uint64_t session_id_;
  std::optional<Signer> signer_;
  // Shared by every channel of the session.
  std::shared_ptr<Sealer> sealer_;
  std::shared_ptr<Unsealer> unsealer_;
  const bool sign_;
  std::shared_ptr<std::atomic<bool>> seal_;
  // Commands signed even when the session does not sign: bit (1 << command).
  const uint32_t always_signed_;
};

}  // namespace smbd

#endif  // SMBD_SMB2_SECURITY_SESSION_CRYPTO_H_
