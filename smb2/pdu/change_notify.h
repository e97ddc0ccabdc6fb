// SMB2 CHANGE_NOTIFY ([MS-SMB2] 2.2.35 request, 2.2.36 response) and the FILE_NOTIFY_INFORMATION
// entries of its output buffer ([MS-FSCC] 2.7.1).
//
// A CHANGE_NOTIFY stays pending at the server (interim STATUS_PENDING, [MS-SMB2] 3.3.4.2) until
// something in the watched directory changes, so it is the request a client most often has to
// cancel ([MS-SMB2] 3.2.4.24); the final answer is then STATUS_CANCELLED.
#ifndef SMBD_SMB2_PDU_CHANGE_NOTIFY_H_
#define SMBD_SMB2_PDU_CHANGE_NOTIFY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "buffers/wire.h"
#include "smb2/constants.h"
#include "smb2/pdu/common.h"

namespace smbd {

// [MS-SMB2] 2.2.35 Flags.
inline constexpr uint16_t kWatchTree = 0x0001;

// [MS-SMB2] 2.2.35 CompletionFilter.
namespace notify_filter {
inline constexpr uint32_t kFileName = 0x00000001;
inline constexpr uint32_t kDirName = 0x00000002;
inline constexpr uint32_t kAttributes = 0x00000004;
inline constexpr uint32_t kSize = 0x00000008;
inline constexpr uint32_t kLastWrite = 0x00000010;
inline constexpr uint32_t kLastAccess = 0x00000020;
inline constexpr uint32_t kCreation = 0x00000040;
inline constexpr uint32_t kEa = 0x00000080;
inline constexpr uint32_t kSecurity = 0x00000100;
inline constexpr uint32_t kStreamName = 0x00000200;
inline constexpr uint32_t kStreamSize = 0x00000400;
inline constexpr uint32_t kStreamWrite = 0x00000800;
inline constexpr uint32_t kAll = 0x00000FFF;
}  // namespace notify_filter

// [MS-FSCC] 2.7.1 FILE_NOTIFY_INFORMATION Action.
namespace notify_action {
inline constexpr uint32_t kAdded = 1;
inline constexpr uint32_t kRemoved = 2;
inline constexpr uint32_t kModified = 3;
inline constexpr uint32_t kRenamedOldName = 4;
inline constexpr uint32_t kRenamedNewName = 5;
inline constexpr uint32_t kAddedStream = 6;
inline constexpr uint32_t kRemovedStream = 7;
inline constexpr uint32_t kModifiedStream = 8;
}  // namespace notify_action

struct ChangeNotifyRequest {
  uint16_t flags = 0;  // kWatchTree: the whole subtree
  uint32_t output_buffer_length = 0;
  FileId file_id;  // an open directory
  uint32_t completion_filter = 0;
};

// One FILE_NOTIFY_INFORMATION entry: what happened to which name (relative to the watched
// directory, UTF-8).
struct FileNotification {
  uint32_t action = 0;
  std::string name;
};

// StructureSize 32, Flags, OutputBufferLength, FileId, CompletionFilter, Reserved.
void EncodeChangeNotifyRequest(const ChangeNotifyRequest& request, WireWriter* w);

// StructureSize 9, OutputBufferOffset, OutputBufferLength, then the entries. An empty buffer
// (the server's changes overflowed it: STATUS_NOTIFY_ENUM_DIR) decodes to no entries.
absl::StatusOr<std::vector<FileNotification>> DecodeChangeNotifyResponse(WireReader message);

}  // namespace smbd

#endif  // SMBD_SMB2_PDU_CHANGE_NOTIFY_H_
