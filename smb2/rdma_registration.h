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
};

}  // namespace smbd

#endif  // SMBD_SMB2_RDMA_REGISTRATION_H_
