#include "smb2/security/session_crypto.h"

namespace smbd {

absl::Status SessionCrypto::Sign(BvecqIter member) {
  if (!signer_.has_value()) {
    return absl::FailedPreconditionError("session has no signing key (guest or anonymous)");
  }
  return signer_->Sign(member);
}

absl::Status SessionCrypto::Verify(BvecqIter member) {
  if (!signer_.has_value()) {
    return absl::FailedPreconditionError("session has no signing key (guest or anonymous)");
  }
  return signer_->Verify(member);
}

absl::StatusOr<Bvecq> SessionCrypto::Seal(const Bvecq& frame, PagePool* pool,
                                           FragAllocator* frags) {
  if (sealer_ == nullptr) return absl::FailedPreconditionError("session cannot encrypt");
  return sealer_->Seal(frame, pool, /*reserve_head=*/0, frags);
}

absl::StatusOr<Bvecq> SessionCrypto::Unseal(const Bvecq& transformed, PagePool* pool) {
  if (unsealer_ == nullptr) return absl::FailedPreconditionError("session cannot decrypt");
  return unsealer_->Unseal(transformed.begin(), pool, session_id_);
}

absl::StatusOr<Bvecq> SessionCrypto::UnsealPlaced(const Bvecq& transformed, PagePool* pool,
                                                  const UnsealPlacement& placement,
                                                  FragAllocator* frags) {
  if (unsealer_ == nullptr) return absl::FailedPreconditionError("session cannot decrypt");
  return unsealer_->Unseal(transformed.begin(), pool, session_id_, &placement, frags);
}

}  // namespace smbd
