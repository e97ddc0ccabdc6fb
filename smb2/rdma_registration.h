// A peer-visible registration of one I/O's memory (SMB Direct): what a READ or WRITE request on
// the RDMA channel names in its channel info ([MS-SMB2] 2.2.19, 2.2.21; [MS-SMBD] 2.2.3.1).
// Destroying it deregisters the memory, after which the peer can no longer reach it.
#ifndef SMBD_SMB2_RDMA_REGISTRATION_H_
#define SMBD_SMB2_RDMA_REGISTRATION_H_

#include "absl/types/span.h"
#include "smb2/pdu/common.h"

namespace smbd {

class RdmaRegistration {
 public:
  virtual ~RdmaRegistration() = default;
  // The descriptors to put in the READ/WRITE request's channel info.
  virtual absl::Span<const BufferDescriptorV1> descriptors() const = 0;
  // The descriptor names a memory window that the server should invalidate with its answer
  // (SEND_WITH_INVALIDATE): the request then asks for SMB2_CHANNEL_RDMA_V1_INVALIDATE
  // ([MS-SMB2] 2.2.19, 3.3.5.12). Plain regions are never offered for invalidation (rxe kills
  // the receiver's queue pair when a SEND_WITH_INVALIDATE names one).
  virtual bool remote_invalidate() const { return false; }
};

}  // namespace smbd

#endif  // SMBD_SMB2_RDMA_REGISTRATION_H_
