#include "smb2/pdu/query_directory.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace smbd {
namespace {
constexpr absl::string_view kWhat = "QUERY_DIRECTORY response";
constexpr uint16_t kRequestStructureSize = 33;
constexpr uint16_t kResponseStructureSize = 9;
constexpr uint64_t kRequestFixed = 32;
constexpr uint64_t kResponseFixed = 8;
constexpr uint8_t kMaxShortName = 24;
}  // namespace

absl::Status EncodeQueryDirectoryRequest(const QueryDirectoryRequest& req, WireWriter* w) {
  SMBD_ASSIGN_OR_RETURN(const uint64_t pattern_size, Utf16LeSize(req.pattern));
  if (pattern_size == 0 || pattern_size > 0xFFFF) {
    return absl::InvalidArgumentError(
        absl::StrCat("QUERY_DIRECTORY: pattern of ", pattern_size, " UTF-16 bytes"));
  }
  w->U16(kRequestStructureSize);
  w->U8(req.file_information_class);
  w->U8(req.flags);
  w->U32(req.file_index);
  EncodeFileId(req.file_id, w);
  w->U16(kSmb2HeaderSize + kRequestFixed);  // FileNameOffset (0x60)
  w->U16(static_cast<uint16_t>(pattern_size));
  w->U32(req.output_buffer_length);
  WriteUtf16Le(req.pattern, w);
  return absl::OkStatus();
}

absl::StatusOr<QueryDirectoryResponse> DecodeQueryDirectoryResponse(WireReader r) {
  SMBD_RETURN_IF_ERROR(ExpectBody(&r, kResponseStructureSize, kWhat));
  QueryDirectoryResponse resp;
  if (!r.U16(&resp.output_buffer_offset) || !r.U32(&resp.output_buffer_length)) {
    return r.Error(kWhat);
  }
  SMBD_RETURN_IF_ERROR(CheckBuffer(kWhat, "OutputBufferOffset/Length", resp.output_buffer_offset,
                                   resp.output_buffer_length, kSmb2HeaderSize + kResponseFixed,
                                   r.size()));
  return resp;
}

absl::StatusOr<DirectoryEntryIterator> DirectoryEntryIterator::Create(
    const WireReader& message, const QueryDirectoryResponse& resp) {
  SMBD_RETURN_IF_ERROR(CheckBuffer(kWhat, "OutputBufferOffset/Length", resp.output_buffer_offset,
                                   resp.output_buffer_length, kSmb2HeaderSize + kResponseFixed,
                                   message.size()));
  SMBD_ASSIGN_OR_RETURN(
      WireReader buffer,
      message.Sub(resp.output_buffer_length == 0 ? 0 : resp.output_buffer_offset,
                  resp.output_buffer_length));
  DirectoryEntryIterator it(std::move(buffer));
  it.done_ = resp.output_buffer_length == 0;
  return it;
}

absl::StatusOr<bool> DirectoryEntryIterator::Next(DirectoryEntry* e) {
  if (!error_.ok()) return error_;
  if (done_) return false;
  auto fail = [this](absl::Status s) {
    error_ = std::move(s);
    return error_;
  };
  const uint64_t left = buffer_.size() - at_;
  if (left < kFixedSize) {
    return fail(BadField(kWhat, "directory entry", at_,
                         absl::StrCat("has ", left, " bytes, less than ", kFixedSize)));
  }
  absl::StatusOr<WireReader> sub = buffer_.Sub(at_, left);
  if (!sub.ok()) return fail(sub.status());
  WireReader r = *std::move(sub);
  uint32_t next, name_length;
  uint8_t short_length, reserved1;
  uint16_t reserved2;
  uint8_t short_name[kMaxShortName];
  if (!r.U32(&next) || !r.U32(&e->file_index) || !r.U64(&e->creation_time) ||
      !r.U64(&e->last_access_time) || !r.U64(&e->last_write_time) ||
      !r.U64(&e->change_time) || !r.U64(&e->end_of_file) || !r.U64(&e->allocation_size) ||
      !r.U32(&e->file_attributes) || !r.U32(&name_length) || !r.U32(&e->ea_size) ||
      !r.U8(&short_length) || !r.U8(&reserved1) || !r.Bytes(absl::MakeSpan(short_name)) ||
      !r.U16(&reserved2) || !r.U64(&e->file_id)) {
    return fail(r.Error(kWhat));
  }
  const uint64_t entry_end = kFixedSize + uint64_t{name_length};
  if (entry_end > left) {
    return fail(BadField(kWhat, "FileNameLength", name_length,
                         absl::StrCat("of the entry at ", at_, " runs past the buffer")));
  }
  if (next != 0 && (next < entry_end || next > left - kFixedSize)) {
    return fail(BadField(kWhat, "NextEntryOffset", next,
                         absl::StrCat("of the entry at ", at_,
                                      " does not cover the entry or leaves the buffer")));
  }
  if (short_length > kMaxShortName || short_length % 2 != 0) {
    return fail(BadField(kWhat, "ShortNameLength", short_length, "is not an even length <= 24"));
  }
  absl::StatusOr<std::string> short_utf8 =
      Utf16LeToUtf8(absl::MakeConstSpan(short_name, short_length));
  if (!short_utf8.ok()) {
    return fail(absl::DataLossError(
        absl::StrCat(kWhat, ": ShortName: ", short_utf8.status().message())));
  }
  e->short_name = *std::move(short_utf8);
  absl::StatusOr<std::string> name = ReadUtf16Le(&r, name_length, kWhat, "FileName");
  if (!name.ok()) return fail(name.status());
  e->name = *std::move(name);
  if (next == 0) {
    done_ = true;
  } else {
    at_ += next;
  }
  return true;
}

}  // namespace smbd
