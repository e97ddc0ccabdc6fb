#include "smb2/pdu/ioctl.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace smbd {
namespace {
constexpr absl::string_view kWhat = "IOCTL response";
constexpr uint16_t kRequestStructureSize = 57;
constexpr uint16_t kResponseStructureSize = 49;
constexpr uint64_t kRequestFixed = 56;
constexpr uint64_t kResponseFixed = 48;
constexpr uint64_t kInterfaceSize = 152;  // [MS-SMB2] 2.2.32.5
constexpr uint64_t kSockAddrStorage = 128;
}  // namespace

void EncodeIoctlRequest(const IoctlRequest& req, WireWriter* w) {
  const uint32_t buffer_offset = kSmb2HeaderSize + kRequestFixed;  // 0x78
  w->U16(kRequestStructureSize);
  w->U16(0);  // Reserved
  w->U32(req.ctl_code);
  EncodeFileId(req.file_id, w);
  w->U32(buffer_offset);  // InputOffset
  w->U32(static_cast<uint32_t>(req.input.size()));
  w->U32(req.max_input_response);
  w->U32(buffer_offset);  // OutputOffset
  w->U32(0);              // OutputCount
  w->U32(req.max_output_response);
  w->U32(req.flags);
  w->U32(0);  // Reserved2
  if (req.input.empty()) {
    w->U8(0);  // StructureSize 57 counts one Buffer byte
  } else {
    w->Bytes(req.input);
  }
}

absl::StatusOr<IoctlResponse> DecodeIoctlResponse(WireReader r) {
  SMBD_RETURN_IF_ERROR(ExpectBody(&r, kResponseStructureSize, kWhat));
  IoctlResponse resp;
  uint16_t reserved;
  uint32_t reserved2;
  if (!r.U16(&reserved) || !r.U32(&resp.ctl_code) || !DecodeFileId(&r, &resp.file_id) ||
      !r.U32(&resp.input_offset) || !r.U32(&resp.input_count) || !r.U32(&resp.output_offset) ||
      !r.U32(&resp.output_count) || !r.U32(&resp.flags) || !r.U32(&reserved2)) {
    return r.Error(kWhat);
  }
  const uint64_t fixed_end = kSmb2HeaderSize + kResponseFixed;
  SMBD_RETURN_IF_ERROR(CheckBuffer(kWhat, "InputOffset/InputCount", resp.input_offset,
                                   resp.input_count, fixed_end, r.size()));
  SMBD_RETURN_IF_ERROR(CheckBuffer(kWhat, "OutputOffset/OutputCount", resp.output_offset,
                                   resp.output_count, fixed_end, r.size()));
  return resp;
}

absl::StatusOr<WireReader> IoctlOutput(const WireReader& message, const IoctlResponse& resp) {
  SMBD_RETURN_IF_ERROR(CheckBuffer(kWhat, "OutputOffset/OutputCount", resp.output_offset,
                                   resp.output_count, kSmb2HeaderSize + kResponseFixed,
                                   message.size()));
  return message.Sub(resp.output_count == 0 ? 0 : resp.output_offset, resp.output_count);
}

uint32_t ValidateNegotiateInfoSize(const ValidateNegotiateInfoRequest& req) {
  return 24 + 2 * static_cast<uint32_t>(req.dialects.size());
}

void EncodeValidateNegotiateInfo(const ValidateNegotiateInfoRequest& req, WireWriter* w) {
  w->U32(req.capabilities);
  w->Bytes(absl::MakeConstSpan(req.guid));
  w->U16(req.security_mode);
  w->U16(static_cast<uint16_t>(req.dialects.size()));
  for (uint16_t d : req.dialects) w->U16(d);
}

absl::StatusOr<ValidateNegotiateInfoResponse> DecodeValidateNegotiateInfo(WireReader r) {
  if (r.size() != 24) {
    return BadField(kWhat, "VALIDATE_NEGOTIATE_INFO OutputCount", r.size(), "is not 24");
  }
  ValidateNegotiateInfoResponse v;
  if (!r.U32(&v.capabilities) || !r.Bytes(absl::MakeSpan(v.guid)) || !r.U16(&v.security_mode) ||
      !r.U16(&v.dialect)) {
    return r.Error(kWhat);
  }
  return v;
}

absl::StatusOr<std::vector<NetworkInterfaceInfo>> DecodeNetworkInterfaceInfo(WireReader r) {
  std::vector<NetworkInterfaceInfo> out;
  uint64_t at = 0;
  while (true) {
    const uint64_t left = r.size() - at;
    if (left < kInterfaceSize) {
      return BadField(kWhat, "NETWORK_INTERFACE_INFO", at,
                      absl::StrCat("has ", left, " bytes, less than ", kInterfaceSize));
    }
    SMBD_ASSIGN_OR_RETURN(WireReader e, r.Sub(at, kInterfaceSize));
    NetworkInterfaceInfo n;
    uint32_t next, reserved;
    uint8_t port_be[2];
    if (!e.U32(&next) || !e.U32(&n.if_index) || !e.U32(&n.capability) || !e.U32(&reserved) ||
        !e.U64(&n.link_speed) || !e.U16(&n.family) || !e.Bytes(absl::MakeSpan(port_be))) {
      return e.Error(kWhat);
    }
    n.port = static_cast<uint16_t>(port_be[0] << 8 | port_be[1]);
    if (n.family == kInterNetwork) {
      if (!e.Bytes(absl::MakeSpan(n.address, 4))) return e.Error(kWhat);
    } else if (n.family == kInterNetworkV6) {
      uint8_t flow[4], scope[4];
      if (!e.Bytes(absl::MakeSpan(flow)) || !e.Bytes(absl::MakeSpan(n.address)) ||
          !e.Bytes(absl::MakeSpan(scope))) {
        return e.Error(kWhat);
      }
      n.flow_info = LoadBE32(flow);
      n.scope_id = LoadLE<uint32_t>(scope);
    } else {
      return BadField(kWhat, "SockAddr_Storage Family", n.family, "is not IPv4 or IPv6");
    }
    out.push_back(n);
    if (next == 0) return out;
    if (next < kInterfaceSize || next > left - kInterfaceSize) {
      return BadField(kWhat, "NETWORK_INTERFACE_INFO Next", next,
                      absl::StrCat("at ", at, " overlaps the entry or leaves the buffer"));
    }
    at += next;
  }
  static_assert(kInterfaceSize == 24 + kSockAddrStorage, "layout");
}

}  // namespace smbd
