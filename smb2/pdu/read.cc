#include "smb2/pdu/read.h"

#include "base/status_macros.h"

namespace smbd {
namespace {
constexpr uint16_t kRequestStructureSize = 49;
constexpr uint16_t kResponseStructureSize = 17;
// The fixed part of the request body; ReadChannelInfo follows it ([MS-SMB2] 2.2.19).
constexpr uint16_t kRequestFixed = 48;
constexpr uint16_t kResponseFixed = 16;
}  // namespace

void EncodeReadRequest(const ReadRequest& req, WireWriter* w) {
  const uint32_t info_len =
      static_cast<uint32_t>(req.channel_info.size()) * kBufferDescriptorV1Size;
  w->U16(kRequestStructureSize);
  w->U8(req.padding);
  w->U8(req.flags);
  w->U32(req.length);
  w->U64(req.offset);
  EncodeFileId(req.file_id, w);
  w->U32(req.minimum_count);
  w->U32(req.channel);
  w->U32(req.remaining_bytes);
  w->U16(info_len > 0 ? kSmb2HeaderSize + kRequestFixed : 0);  // ReadChannelInfoOffset
  w->U16(static_cast<uint16_t>(info_len));                    // ReadChannelInfoLength
  if (info_len > 0) {
    EncodeBufferDescriptors(req.channel_info, w);
  } else {
    // StructureSize 49 counts one byte of Buffer, which MUST be present (0) when empty.
    w->U8(0);
  }
}

absl::StatusOr<ReadResponse> DecodeReadResponseHead(WireReader r) {
  constexpr absl::string_view kWhat = "READ response";
  static_assert(kReadResponseHeadSize == kSmb2HeaderSize + kResponseFixed);
  SMBD_RETURN_IF_ERROR(ExpectBody(&r, kResponseStructureSize, kWhat));
  ReadResponse resp;
  uint8_t reserved;
  if (!r.U8(&resp.data_offset) || !r.U8(&reserved) || !r.U32(&resp.data_length) ||
      !r.U32(&resp.data_remaining) || !r.U32(&resp.flags)) {
    return r.Error(kWhat);
  }
  return resp;
}

absl::StatusOr<ReadResponse> DecodeReadResponse(WireReader r) {
  const uint64_t size = r.size();
  SMBD_ASSIGN_OR_RETURN(ReadResponse resp, DecodeReadResponseHead(r));
  SMBD_RETURN_IF_ERROR(CheckBuffer("READ response", "DataOffset/DataLength", resp.data_offset,
                                   resp.data_length, kReadResponseHeadSize, size));
  return resp;
}

}  // namespace smbd
