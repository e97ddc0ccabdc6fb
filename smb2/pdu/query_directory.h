// SMB2 QUERY_DIRECTORY ([MS-SMB2] 2.2.33 request, 2.2.34 response) and an iterator over the
// FileIdBothDirectoryInformation entries of its output buffer ([MS-FSCC] 2.4.17 in the
// revision the issue cites; FILE_ID_BOTH_DIR_INFORMATION). A listing ends with
// STATUS_NO_MORE_FILES (an ERROR body), after which RESTART_SCANS starts over.
#ifndef SMBD_SMB2_PDU_QUERY_DIRECTORY_H_
#define SMBD_SMB2_PDU_QUERY_DIRECTORY_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "buffers/wire.h"
#include "smb2/constants.h"
#include "smb2/pdu/common.h"

namespace smbd {

// [MS-SMB2] 2.2.33 Flags.
inline constexpr uint8_t kQueryDirRestartScans = 0x01;
inline constexpr uint8_t kQueryDirReturnSingleEntry = 0x02;
inline constexpr uint8_t kQueryDirIndexSpecified = 0x04;
inline constexpr uint8_t kQueryDirReopen = 0x10;

inline constexpr uint8_t kFileIdBothDirectoryInformationClass = 0x25;

struct QueryDirectoryRequest {
  uint8_t file_information_class = kFileIdBothDirectoryInformationClass;
  uint8_t flags = 0;
  uint32_t file_index = 0;  // with kQueryDirIndexSpecified
  FileId file_id;
  absl::string_view pattern = "*";  // UTF-8, sent as UTF-16LE
  uint32_t output_buffer_length = 65536;
};

// Writes the body (pattern at FileNameOffset 0x60). InvalidArgument for an empty or invalid
// pattern.
absl::Status EncodeQueryDirectoryRequest(const QueryDirectoryRequest& request, WireWriter* w);

struct QueryDirectoryResponse {
  uint16_t output_buffer_offset = 0;  // from the header
  uint32_t output_buffer_length = 0;
};

absl::StatusOr<QueryDirectoryResponse> DecodeQueryDirectoryResponse(WireReader message);

// One FILE_ID_BOTH_DIR_INFORMATION entry.
struct DirectoryEntry {
  uint32_t file_index = 0;
  FileTime creation_time = 0;
  FileTime last_access_time = 0;
  FileTime last_write_time = 0;
  FileTime change_time = 0;
  uint64_t end_of_file = 0;
  uint64_t allocation_size = 0;
  uint32_t file_attributes = 0;
  uint32_t ea_size = 0;
  std::string short_name;  // UTF-8 (8.3 name, may be empty)
  uint64_t file_id = 0;
  std::string name;  // UTF-8
};

// Walks the entries of a decoded response's output buffer. Each NextEntryOffset must cover
// the entry it ends (fixed part + FileNameLength) and stay inside the buffer, so the walk
// always advances and ends; 0 ends the list. ShortNameLength must be at most 24 and even.
class DirectoryEntryIterator {
 public:
  // `message` is the whole response; `response` its decoded body.
  static absl::StatusOr<DirectoryEntryIterator> Create(const WireReader& message,
                                                       const QueryDirectoryResponse& response);

  // Fills `entry` and returns true, returns false at the end, or DataLoss for a malformed
  // entry (after which the iterator stays at that error).
  absl::StatusOr<bool> Next(DirectoryEntry* entry);

  // Fixed part of an entry, up to FileName.
  static constexpr uint64_t kFixedSize = 104;

 private:
  explicit DirectoryEntryIterator(WireReader buffer) : buffer_(std::move(buffer)) {}
  WireReader buffer_;
  uint64_t at_ = 0;
  bool done_ = false;
  absl::Status error_;
};

}  // namespace smbd

#endif  // SMBD_SMB2_PDU_QUERY_DIRECTORY_H_
