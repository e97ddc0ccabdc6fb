#include "smb2/pdu/query_info.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace smbd {
namespace {

constexpr absl::string_view kWhat = "QUERY_INFO response";
constexpr uint16_t kRequestStructureSize = 41;
constexpr uint16_t kResponseStructureSize = 9;
constexpr uint64_t kRequestFixed = 40;
constexpr uint64_t kResponseFixed = 8;

bool ReadBasic(WireReader* r, FileBasicInfo* b) {
  uint32_t reserved;
  return r->U64(&b->creation_time) && r->U64(&b->last_access_time) &&
         r->U64(&b->last_write_time) && r->U64(&b->change_time) &&
         r->U32(&b->file_attributes) && r->U32(&reserved);
}

bool ReadStandard(WireReader* r, FileStandardInfo* s) {
  uint8_t delete_pending, directory;
  uint16_t reserved;
  if (!r->U64(&s->allocation_size) || !r->U64(&s->end_of_file) || !r->U32(&s->number_of_links) ||
      !r->U8(&delete_pending) || !r->U8(&directory) || !r->U16(&reserved)) {
    return false;
  }
  s->delete_pending = delete_pending != 0;
  s->directory = directory != 0;
  return true;
}

// An error for a buffer shorter than the `size`-byte structure `what`.
absl::Status CheckSize(const WireReader& r, uint64_t size, absl::string_view what) {
  if (r.size() < size) {
    return absl::DataLossError(
        absl::StrCat(kWhat, ": ", what, " needs ", size, " bytes, the buffer has ", r.size()));
  }
  return absl::OkStatus();
}

}  // namespace

void EncodeQueryInfoRequest(const QueryInfoRequest& req, WireWriter* w) {
  w->U16(kRequestStructureSize);
  w->U8(req.info_type);
  w->U8(req.file_info_class);
  w->U32(req.output_buffer_length);
  w->U16(req.input.empty() ? 0 : kSmb2HeaderSize + kRequestFixed);  // InputBufferOffset
  w->U16(0);                                                         // Reserved
  w->U32(static_cast<uint32_t>(req.input.size()));
  w->U32(req.additional_information);
  w->U32(req.flags);
  EncodeFileId(req.file_id, w);
  if (req.input.empty()) {
    w->U8(0);  // StructureSize 41 counts one Buffer byte
  } else {
    w->Bytes(req.input);
  }
}

absl::StatusOr<QueryInfoResponse> DecodeQueryInfoResponse(WireReader r) {
  SMBD_RETURN_IF_ERROR(ExpectBody(&r, kResponseStructureSize, kWhat));
  QueryInfoResponse resp;
  if (!r.U16(&resp.output_buffer_offset) || !r.U32(&resp.output_buffer_length)) {
    return r.Error(kWhat);
  }
  SMBD_RETURN_IF_ERROR(CheckBuffer(kWhat, "OutputBufferOffset/Length", resp.output_buffer_offset,
                                   resp.output_buffer_length, kSmb2HeaderSize + kResponseFixed,
                                   r.size()));
  return resp;
}

absl::StatusOr<WireReader> QueryInfoOutput(const WireReader& message,
                                           const QueryInfoResponse& resp) {
  SMBD_RETURN_IF_ERROR(CheckBuffer(kWhat, "OutputBufferOffset/Length", resp.output_buffer_offset,
                                   resp.output_buffer_length, kSmb2HeaderSize + kResponseFixed,
                                   message.size()));
  return message.Sub(resp.output_buffer_length == 0 ? 0 : resp.output_buffer_offset,
                     resp.output_buffer_length);
}

absl::StatusOr<FileBasicInfo> DecodeFileBasicInformation(WireReader r) {
  SMBD_RETURN_IF_ERROR(CheckSize(r, 40, "FileBasicInformation"));
  FileBasicInfo b;
  if (!ReadBasic(&r, &b)) return r.Error(kWhat);
  return b;
}

absl::StatusOr<FileStandardInfo> DecodeFileStandardInformation(WireReader r) {
  SMBD_RETURN_IF_ERROR(CheckSize(r, 24, "FileStandardInformation"));
  FileStandardInfo s;
  if (!ReadStandard(&r, &s)) return r.Error(kWhat);
  return s;
}

absl::StatusOr<FileNetworkOpenInfo> DecodeFileNetworkOpenInformation(WireReader r) {
  SMBD_RETURN_IF_ERROR(CheckSize(r, 56, "FileNetworkOpenInformation"));
  FileNetworkOpenInfo n;
  uint32_t reserved;
  if (!r.U64(&n.creation_time) || !r.U64(&n.last_access_time) || !r.U64(&n.last_write_time) ||
      !r.U64(&n.change_time) || !r.U64(&n.allocation_size) || !r.U64(&n.end_of_file) ||
      !r.U32(&n.file_attributes) || !r.U32(&reserved)) {
    return r.Error(kWhat);
  }
  return n;
}

absl::StatusOr<FileAllInfo> DecodeFileAllInformation(WireReader r) {
  SMBD_RETURN_IF_ERROR(CheckSize(r, 100, "FileAllInformation"));
  FileAllInfo a;
  uint32_t name_length;
  if (!ReadBasic(&r, &a.basic) || !ReadStandard(&r, &a.standard) || !r.U64(&a.index_number) ||
      !r.U32(&a.ea_size) || !r.U32(&a.access_flags) || !r.U64(&a.current_byte_offset) ||
      !r.U32(&a.mode) || !r.U32(&a.alignment_requirement) || !r.U32(&name_length)) {
    return r.Error(kWhat);
  }
  SMBD_ASSIGN_OR_RETURN(a.name,
                        ReadUtf16Le(&r, name_length, kWhat, "FileAllInformation FileNameLength"));
  return a;
}

absl::StatusOr<FsSizeInfo> DecodeFsSizeInformation(WireReader r) {
  SMBD_RETURN_IF_ERROR(CheckSize(r, 24, "FileFsSizeInformation"));
  FsSizeInfo s;
  if (!r.U64(&s.total_allocation_units) || !r.U64(&s.available_allocation_units) ||
      !r.U32(&s.sectors_per_allocation_unit) || !r.U32(&s.bytes_per_sector)) {
    return r.Error(kWhat);
  }
  return s;
}

absl::StatusOr<FsFullSizeInfo> DecodeFsFullSizeInformation(WireReader r) {
  SMBD_RETURN_IF_ERROR(CheckSize(r, 32, "FileFsFullSizeInformation"));
  FsFullSizeInfo s;
  if (!r.U64(&s.total_allocation_units) || !r.U64(&s.caller_available_allocation_units) ||
      !r.U64(&s.actual_available_allocation_units) || !r.U32(&s.sectors_per_allocation_unit) ||
      !r.U32(&s.bytes_per_sector)) {
    return r.Error(kWhat);
  }
  return s;
}

absl::StatusOr<FsAttributeInfo> DecodeFsAttributeInformation(WireReader r) {
  SMBD_RETURN_IF_ERROR(CheckSize(r, 12, "FileFsAttributeInformation"));
  FsAttributeInfo a;
  uint32_t name_length;
  if (!r.U32(&a.file_system_attributes) || !r.U32(&a.maximum_component_name_length) ||
      !r.U32(&name_length)) {
    return r.Error(kWhat);
  }
  SMBD_ASSIGN_OR_RETURN(a.file_system_name,
                        ReadUtf16Le(&r, name_length, kWhat,
                                    "FileFsAttributeInformation FileSystemNameLength"));
  return a;
}

}  // namespace smbd
