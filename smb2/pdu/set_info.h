// SMB2 SET_INFO ([MS-SMB2] 2.2.39 request, 2.2.40 response) with encoders for the file
// information classes common use needs: FileEndOfFileInformation ([MS-FSCC] 2.4), the SMB2
// form of FileRenameInformation ([MS-FSCC] 2.4 FILE_RENAME_INFORMATION_TYPE_2: RootDirectory 0,
// 64-bit), FileDispositionInformation ([MS-FSCC] 2.4) and FileBasicInformation ([MS-FSCC]
// 2.4.7). The information buffer is written straight into the message.
#ifndef SMBD_SMB2_PDU_SET_INFO_H_
#define SMBD_SMB2_PDU_SET_INFO_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "buffers/wire.h"
#include "smb2/constants.h"
#include "smb2/pdu/common.h"
#include "smb2/pdu/query_info.h"

namespace smbd {

// FileBasicInformation time values for SET_INFO ([MS-FSCC] 2.4.7): 0 leaves a time unchanged,
// -1 stops the server from updating it for the rest of the handle's life.
inline constexpr FileTime kFileTimeUnchanged = 0;
inline constexpr FileTime kFileTimeFreeze = ~uint64_t{0};

struct SetInfoRequest {
  uint8_t info_type = kInfoFile;
  uint8_t file_info_class = 0;
  uint32_t additional_information = 0;
  FileId file_id;
  absl::Span<const uint8_t> buffer;  // caller-owned, already encoded
};

// Writes the body; the buffer follows the 32-byte fixed part (BufferOffset 0x60).
void EncodeSetInfoRequest(const SetInfoRequest& request, WireWriter* w);

// Typed forms writing the information buffer directly.
void EncodeSetEndOfFileRequest(const FileId& file_id, uint64_t end_of_file, WireWriter* w);
// `new_name` is the target path relative to the share root (UTF-8). InvalidArgument for an
// empty or invalid name.
absl::Status EncodeSetRenameRequest(const FileId& file_id, absl::string_view new_name,
                                    bool replace_if_exists, WireWriter* w);
void EncodeSetDispositionRequest(const FileId& file_id, bool delete_pending, WireWriter* w);
void EncodeSetBasicInfoRequest(const FileId& file_id, const FileBasicInfo& info,
                               WireWriter* w);

// The response body is StructureSize 2 only.
absl::Status DecodeSetInfoResponse(WireReader message);

}  // namespace smbd

#endif  // SMBD_SMB2_PDU_SET_INFO_H_
