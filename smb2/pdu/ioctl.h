// SMB2 IOCTL ([MS-SMB2] 2.2.31 request, 2.2.32 response) with FSCTL_VALIDATE_NEGOTIATE_INFO
// (input 2.2.31.4, output 2.2.32.6) and FSCTL_QUERY_NETWORK_INTERFACE_INFO (output 2.2.32.5,
// a Next-linked list of NETWORK_INTERFACE_INFO).
#ifndef SMBD_SMB2_PDU_IOCTL_H_
#define SMBD_SMB2_PDU_IOCTL_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "buffers/wire.h"
#include "smb2/constants.h"
#include "smb2/pdu/common.h"

namespace smbd {

// [MS-SMB2] 2.2.31 CtlCode values used here, and Flags.
inline constexpr uint32_t kFsctlValidateNegotiateInfo = 0x00140204;
inline constexpr uint32_t kFsctlQueryNetworkInterfaceInfo = 0x001401FC;
inline constexpr uint32_t kFsctlDfsGetReferrals = 0x00060194;
inline constexpr uint32_t kIoctlIsFsctl = 0x00000001;

// [MS-SMB2] 2.2.32.5 Capability and SockAddr_Storage families.
inline constexpr uint32_t kInterfaceRssCapable = 0x00000001;
inline constexpr uint32_t kInterfaceRdmaCapable = 0x00000002;
inline constexpr uint16_t kInterNetwork = 0x0002;
inline constexpr uint16_t kInterNetworkV6 = 0x0017;

struct IoctlRequest {
  uint32_t ctl_code = 0;
  FileId file_id = FileId::Related();  // FSCTLs not tied to a file use all ones
  absl::Span<const uint8_t> input;     // caller-owned
  uint32_t max_input_response = 0;
  uint32_t max_output_response = 0;
  uint32_t flags = kIoctlIsFsctl;
};

// Writes the body; the input follows the 56-byte fixed part (InputOffset 0x78; OutputOffset
// 0x78 too with OutputCount 0, as Windows and Samba send).
void EncodeIoctlRequest(const IoctlRequest& request, WireWriter* w);

struct IoctlResponse {
  uint32_t ctl_code = 0;
  FileId file_id;
  uint32_t input_offset = 0;  // from the header
  uint32_t input_count = 0;
  uint32_t output_offset = 0;
  uint32_t output_count = 0;
  uint32_t flags = 0;
};

// Decodes the response; both buffers are checked to lie in the message.
absl::StatusOr<IoctlResponse> DecodeIoctlResponse(WireReader message);
// A reader over the output buffer of a decoded response.
absl::StatusOr<WireReader> IoctlOutput(const WireReader& message, const IoctlResponse& response);

// VALIDATE_NEGOTIATE_INFO request ([MS-SMB2] 2.2.31.4): what the client sent in NEGOTIATE.
struct ValidateNegotiateInfoRequest {
  uint32_t capabilities = 0;
  uint8_t guid[16] = {};
  uint16_t security_mode = 0;
  absl::Span<const uint16_t> dialects;
};
// The input buffer's size, and its encoding (into the IOCTL input, e.g. a stack buffer).
uint32_t ValidateNegotiateInfoSize(const ValidateNegotiateInfoRequest& request);
void EncodeValidateNegotiateInfo(const ValidateNegotiateInfoRequest& request, WireWriter* w);

// VALIDATE_NEGOTIATE_INFO response ([MS-SMB2] 2.2.32.6): what the server negotiated.
struct ValidateNegotiateInfoResponse {
  uint32_t capabilities = 0;
  uint8_t guid[16] = {};
  uint16_t security_mode = 0;
  uint16_t dialect = 0;
};
absl::StatusOr<ValidateNegotiateInfoResponse> DecodeValidateNegotiateInfo(WireReader output);

// One NETWORK_INTERFACE_INFO entry ([MS-SMB2] 2.2.32.5).
struct NetworkInterfaceInfo {
  uint32_t if_index = 0;
  uint32_t capability = 0;  // kInterfaceRssCapable | kInterfaceRdmaCapable
  uint64_t link_speed = 0;  // bits per second
  uint16_t family = 0;      // kInterNetwork or kInterNetworkV6
  uint16_t port = 0;        // host order (network order on the wire)
  uint8_t address[16] = {};  // 4 bytes for IPv4, 16 for IPv6, in network order
  uint32_t flow_info = 0;    // IPv6
  uint32_t scope_id = 0;     // IPv6
};
// Decodes the output of FSCTL_QUERY_NETWORK_INTERFACE_INFO: entries linked by Next (0 ends;
// otherwise at least one entry long and inside the buffer), families IPv4 and IPv6 (other
// families are an error).
absl::StatusOr<std::vector<NetworkInterfaceInfo>> DecodeNetworkInterfaceInfo(WireReader output);

}  // namespace smbd

#endif  // SMBD_SMB2_PDU_IOCTL_H_
