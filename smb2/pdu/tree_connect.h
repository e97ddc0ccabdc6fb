// SMB2 TREE_CONNECT ([MS-SMB2] 2.2.9 request, 2.2.10 response). The 3.1.1 request extension
// (2.2.9.1, remoted identity / redirect contexts) is not sent.
#ifndef SMBD_SMB2_PDU_TREE_CONNECT_H_
#define SMBD_SMB2_PDU_TREE_CONNECT_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "buffers/wire.h"
#include "smb2/pdu/common.h"

namespace smbd {

// [MS-SMB2] 2.2.9 Flags (3.1.1).
inline constexpr uint16_t kTreeConnectFlagClusterReconnect = 0x0001;
inline constexpr uint16_t kTreeConnectFlagRedirectToOwner = 0x0002;
inline constexpr uint16_t kTreeConnectFlagExtensionPresent = 0x0004;

// [MS-SMB2] 2.2.10 ShareType.
inline constexpr uint8_t kShareTypeDisk = 0x01;
inline constexpr uint8_t kShareTypePipe = 0x02;
inline constexpr uint8_t kShareTypePrint = 0x03;

// [MS-SMB2] 2.2.10 ShareFlags (caching policy in bits 4-5, kShareFlagCachingMask).
inline constexpr uint32_t kShareFlagManualCaching = 0x00000000;
inline constexpr uint32_t kShareFlagAutoCaching = 0x00000010;
inline constexpr uint32_t kShareFlagVdoCaching = 0x00000020;
inline constexpr uint32_t kShareFlagNoCaching = 0x00000030;
inline constexpr uint32_t kShareFlagCachingMask = 0x00000030;
inline constexpr uint32_t kShareFlagDfs = 0x00000001;
inline constexpr uint32_t kShareFlagDfsRoot = 0x00000002;
inline constexpr uint32_t kShareFlagRestrictExclusiveOpens = 0x00000100;
inline constexpr uint32_t kShareFlagForceSharedDelete = 0x00000200;
inline constexpr uint32_t kShareFlagAllowNamespaceCaching = 0x00000400;
inline constexpr uint32_t kShareFlagAccessBasedDirectoryEnum = 0x00000800;
inline constexpr uint32_t kShareFlagForceLevelIIOplock = 0x00001000;
inline constexpr uint32_t kShareFlagEnableHashV1 = 0x00002000;
inline constexpr uint32_t kShareFlagEnableHashV2 = 0x00004000;
inline constexpr uint32_t kShareFlagEncryptData = 0x00008000;
inline constexpr uint32_t kShareFlagIdentityRemoting = 0x00040000;
inline constexpr uint32_t kShareFlagCompressData = 0x00100000;

// [MS-SMB2] 2.2.10 Capabilities.
inline constexpr uint32_t kShareCapDfs = 0x00000008;
inline constexpr uint32_t kShareCapContinuousAvailability = 0x00000010;
inline constexpr uint32_t kShareCapScaleout = 0x00000020;
inline constexpr uint32_t kShareCapCluster = 0x00000040;
inline constexpr uint32_t kShareCapAsymmetric = 0x00000080;
inline constexpr uint32_t kShareCapRedirectToOwner = 0x00000100;

struct TreeConnectRequest {
  uint16_t flags = 0;  // Reserved before 3.1.1
  // "\\server\share" in UTF-8; sent as UTF-16LE.
  absl::string_view path;
};

// Writes the body (path at PathOffset 0x48). InvalidArgument for an empty or invalid path or
// one over 65535 bytes of UTF-16.
absl::Status EncodeTreeConnectRequest(const TreeConnectRequest& request, WireWriter* w);

struct TreeConnectResponse {
  uint8_t share_type = 0;
  uint32_t share_flags = 0;
  uint32_t capabilities = 0;
  uint32_t maximal_access = 0;
};

absl::StatusOr<TreeConnectResponse> DecodeTreeConnectResponse(WireReader message);

}  // namespace smbd

#endif  // SMBD_SMB2_PDU_TREE_CONNECT_H_
