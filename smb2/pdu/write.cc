#include "smb2/pdu/write.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace smbd {
namespace {
constexpr uint16_t kRequestStructureSize = 49;
constexpr uint16_t kResponseStructureSize = 17;
constexpr uint16_t kRequestFixed = 48;
}  // namespace

absl::Status EncodeWriteRequest(const WriteRequest& req, Bvecq* payload, WireWriter* w) {
  const bool rdma = req.channel != kChannelNone;
  const uint64_t payload_size = payload != nullptr ? payload->size() : 0;
  if (rdma && (req.channel_info.empty() || payload_size != 0)) {
    return absl::InvalidArgumentError(
        "WRITE over RDMA needs buffer descriptors and no inline payload");
  }
  if (!rdma && payload_size != req.length) {
    return absl::InvalidArgumentError(absl::StrCat("WRITE: Length ", req.length, " but ",
                                                   payload_size, " payload bytes"));
  }
  const uint32_t info_len =
      static_cast<uint32_t>(req.channel_info.size()) * kBufferDescriptorV1Size;
  const uint16_t after_fixed = kSmb2HeaderSize + kRequestFixed;  // 0x70
  w->U16(kRequestStructureSize);
  w->U16(rdma ? 0 : after_fixed);  // DataOffset
  w->U32(rdma ? 0 : req.length);
  w->U64(req.offset);
  EncodeFileId(req.file_id, w);
  w->U32(req.channel);
  // RDMA ([MS-SMB2] 2.2.21): RemainingBytes is the length the server reads from the buffers.
  w->U32(rdma ? req.length : req.remaining_bytes);
  // WriteChannelInfoOffset: Windows sends 0x70 even with no channel info (vectors.md [enc-30]),
  // and servers ignore it when the length is 0.
  w->U16(after_fixed);
  w->U16(static_cast<uint16_t>(info_len));
  w->U32(req.flags);
  if (rdma) {
    EncodeBufferDescriptors(req.channel_info, w);
  } else if (req.length == 0) {
    w->U8(0);  // the one Buffer byte StructureSize 49 counts
  } else {
    w->AppendQueue(std::move(*payload));
  }
  return absl::OkStatus();
}

absl::StatusOr<WriteResponse> DecodeWriteResponse(WireReader r) {
  constexpr absl::string_view kWhat = "WRITE response";
  SMBD_RETURN_IF_ERROR(ExpectBody(&r, kResponseStructureSize, kWhat));
  WriteResponse resp;
  uint16_t reserved, info_offset, info_length;
  if (!r.U16(&reserved) || !r.U32(&resp.count) || !r.U32(&resp.remaining) ||
      !r.U16(&info_offset) || !r.U16(&info_length)) {
    return r.Error(kWhat);
  }
  return resp;
}

}  // namespace smbd
