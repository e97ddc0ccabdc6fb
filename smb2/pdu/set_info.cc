#include "smb2/pdu/set_info.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace smbd {
namespace {
constexpr uint16_t kRequestStructureSize = 33;
constexpr uint16_t kResponseStructureSize = 2;
constexpr uint64_t kRequestFixed = 32;
constexpr uint32_t kRenameFixed = 20;  // ReplaceIfExists .. FileNameLength

void WriteFixed(uint8_t info_type, uint8_t info_class, uint32_t buffer_length,
                uint32_t additional, const FileId& file_id, WireWriter* w) {
  w->U16(kRequestStructureSize);
  w->U8(info_type);
  w->U8(info_class);
  w->U32(buffer_length);
  w->U16(kSmb2HeaderSize + kRequestFixed);  // BufferOffset (0x60)
  w->U16(0);                                // Reserved
  w->U32(additional);
  EncodeFileId(file_id, w);
}
}  // namespace

void EncodeSetInfoRequest(const SetInfoRequest& req, WireWriter* w) {
  WriteFixed(req.info_type, req.file_info_class, static_cast<uint32_t>(req.buffer.size()),
             req.additional_information, req.file_id, w);
  if (req.buffer.empty()) {
    w->U8(0);  // StructureSize 33 counts one Buffer byte
  } else {
    w->Bytes(req.buffer);
  }
}

void EncodeSetEndOfFileRequest(const FileId& file_id, uint64_t end_of_file, WireWriter* w) {
  WriteFixed(kInfoFile, kFileEndOfFileInformation, 8, 0, file_id, w);
  w->U64(end_of_file);
}

absl::Status EncodeSetRenameRequest(const FileId& file_id, absl::string_view new_name,
                                    bool replace_if_exists, WireWriter* w) {
  SMBD_ASSIGN_OR_RETURN(const uint64_t name_size, Utf16LeSize(new_name));
  if (name_size == 0 || name_size > 0xFFFF) {
    return absl::InvalidArgumentError(
        absl::StrCat("SET_INFO rename: name of ", name_size, " UTF-16 bytes"));
  }
  WriteFixed(kInfoFile, kFileRenameInformation, static_cast<uint32_t>(kRenameFixed + name_size),
             0, file_id, w);
  w->U8(replace_if_exists ? 1 : 0);
  w->Zeros(7);  // Reserved
  w->U64(0);    // RootDirectory: MUST be 0 over SMB2
  w->U32(static_cast<uint32_t>(name_size));
  WriteUtf16Le(new_name, w);
  return absl::OkStatus();
}

void EncodeSetDispositionRequest(const FileId& file_id, bool delete_pending, WireWriter* w) {
  WriteFixed(kInfoFile, kFileDispositionInformation, 1, 0, file_id, w);
  w->U8(delete_pending ? 1 : 0);
}

void EncodeSetBasicInfoRequest(const FileId& file_id, const FileBasicInfo& info,
                               WireWriter* w) {
  WriteFixed(kInfoFile, kFileBasicInformation, 40, 0, file_id, w);
  w->U64(info.creation_time);
  w->U64(info.last_access_time);
  w->U64(info.last_write_time);
  w->U64(info.change_time);
  w->U32(info.file_attributes);
  w->U32(0);  // Reserved
}

absl::Status DecodeSetInfoResponse(WireReader r) {
  return ExpectBody(&r, kResponseStructureSize, "SET_INFO response");
}

}  // namespace smbd
