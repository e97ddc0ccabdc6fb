#include "smb2/pdu/change_notify.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace smbd {
namespace {
constexpr absl::string_view kWhat = "CHANGE_NOTIFY response";
constexpr uint16_t kRequestStructureSize = 32;
constexpr uint16_t kResponseStructureSize = 9;
constexpr uint64_t kResponseFixed = 8;
// [MS-FSCC] 2.7.1: NextEntryOffset, Action, FileNameLength, then the name.
constexpr uint64_t kEntryFixed = 12;
}  // namespace

void EncodeChangeNotifyRequest(const ChangeNotifyRequest& req, WireWriter* w) {
  w->U16(kRequestStructureSize);
  w->U16(req.flags);
  w->U32(req.output_buffer_length);
  EncodeFileId(req.file_id, w);
  w->U32(req.completion_filter);
  w->U32(0);  // Reserved
}

absl::StatusOr<std::vector<FileNotification>> DecodeChangeNotifyResponse(WireReader r) {
  const WireReader message = r;
  SMBD_RETURN_IF_ERROR(ExpectBody(&r, kResponseStructureSize, kWhat));
  uint16_t offset;
  uint32_t length;
  if (!r.U16(&offset) || !r.U32(&length)) return r.Error(kWhat);
  SMBD_RETURN_IF_ERROR(CheckBuffer(kWhat, "OutputBufferOffset/Length", offset, length,
                                   kSmb2HeaderSize + kResponseFixed, message.size()));
  std::vector<FileNotification> out;
  if (length == 0) return out;
  SMBD_ASSIGN_OR_RETURN(WireReader buffer, message.Sub(offset, length));
  uint64_t at = 0;
  while (true) {
    const uint64_t left = buffer.size() - at;
    if (left < kEntryFixed) {
      return BadField(kWhat, "FILE_NOTIFY_INFORMATION", at,
                      absl::StrCat("has ", left, " bytes, less than ", kEntryFixed));
    }
    SMBD_ASSIGN_OR_RETURN(WireReader e, buffer.Sub(at, left));
    uint32_t next, name_length;
    FileNotification n;
    if (!e.U32(&next) || !e.U32(&n.action) || !e.U32(&name_length)) return e.Error(kWhat);
    if (kEntryFixed + name_length > left) {
      return BadField(kWhat, "FileNameLength", name_length,
                      absl::StrCat("of the entry at ", at, " runs past the buffer"));
    }
    // [MS-FSCC] 2.7.1: entries are 4-byte aligned; a next entry must follow this one's name.
    if (next != 0 && (next < kEntryFixed + name_length || next % 4 != 0 || next >= left)) {
      return BadField(
          kWhat, "NextEntryOffset", next,
          absl::StrCat("of the entry at ", at, " does not cover the entry or leaves the buffer"));
    }
    SMBD_ASSIGN_OR_RETURN(n.name, ReadUtf16Le(&e, name_length, kWhat, "FileName"));
    out.push_back(std::move(n));
    if (next == 0) break;
    at += next;
  }
  return out;
}

}  // namespace smbd
