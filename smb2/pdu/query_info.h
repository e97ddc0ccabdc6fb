// SMB2 QUERY_INFO ([MS-SMB2] 2.2.37 request, 2.2.38 response) and decoders for the file and
// filesystem information classes common use needs ([MS-FSCC] 2.4 file information classes,
// 2.5 file system information classes). The output buffer is decoded in place from the
// response message; names are copied out as UTF-8.
#ifndef SMBD_SMB2_PDU_QUERY_INFO_H_
#define SMBD_SMB2_PDU_QUERY_INFO_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "buffers/wire.h"
#include "smb2/constants.h"
#include "smb2/pdu/common.h"

namespace smbd {

// [MS-SMB2] 2.2.37 InfoType.
inline constexpr uint8_t kInfoFile = 0x01;
inline constexpr uint8_t kInfoFilesystem = 0x02;
inline constexpr uint8_t kInfoSecurity = 0x03;
inline constexpr uint8_t kInfoQuota = 0x04;

// [MS-FSCC] 2.4 file information classes.
inline constexpr uint8_t kFileDirectoryInformation = 1;
inline constexpr uint8_t kFileBasicInformation = 4;
inline constexpr uint8_t kFileStandardInformation = 5;
inline constexpr uint8_t kFileInternalInformation = 6;
inline constexpr uint8_t kFileEaInformation = 7;
inline constexpr uint8_t kFileRenameInformation = 10;
inline constexpr uint8_t kFileLinkInformation = 11;
inline constexpr uint8_t kFileDispositionInformation = 13;
inline constexpr uint8_t kFileFullEaInformation = 15;
inline constexpr uint8_t kFileAllInformation = 18;
inline constexpr uint8_t kFileAllocationInformation = 19;
inline constexpr uint8_t kFileEndOfFileInformation = 20;
inline constexpr uint8_t kFileAlternateNameInformation = 21;
inline constexpr uint8_t kFileStreamInformation = 22;
inline constexpr uint8_t kFileNetworkOpenInformation = 34;
inline constexpr uint8_t kFileIdBothDirectoryInformation = 37;

// [MS-FSCC] 2.5 file system information classes.
inline constexpr uint8_t kFileFsVolumeInformation = 1;
inline constexpr uint8_t kFileFsSizeInformation = 3;
inline constexpr uint8_t kFileFsDeviceInformation = 4;
inline constexpr uint8_t kFileFsAttributeInformation = 5;
inline constexpr uint8_t kFileFsFullSizeInformation = 7;

// [MS-SMB2] 2.2.37 AdditionalInformation for InfoType SECURITY.
inline constexpr uint32_t kOwnerSecurityInformation = 0x00000001;
inline constexpr uint32_t kGroupSecurityInformation = 0x00000002;
inline constexpr uint32_t kDaclSecurityInformation = 0x00000004;
inline constexpr uint32_t kSaclSecurityInformation = 0x00000008;

// [MS-SMB2] 2.2.37 Flags (for FileFullEaInformation).
inline constexpr uint32_t kSlRestartScan = 0x00000001;
inline constexpr uint32_t kSlReturnSingleEntry = 0x00000002;
inline constexpr uint32_t kSlIndexSpecified = 0x00000004;

struct QueryInfoRequest {
  uint8_t info_type = kInfoFile;
  uint8_t file_info_class = 0;
  uint32_t output_buffer_length = 0;
  absl::Span<const uint8_t> input;  // e.g. an EA name list; caller-owned
  uint32_t additional_information = 0;
  uint32_t flags = 0;
  FileId file_id;
};

// Writes the body; an input buffer follows the 40-byte fixed part (InputBufferOffset 0x68),
// otherwise InputBufferOffset is 0 and the one Buffer byte is sent.
void EncodeQueryInfoRequest(const QueryInfoRequest& request, WireWriter* w);

struct QueryInfoResponse {
  uint16_t output_buffer_offset = 0;  // from the header
  uint32_t output_buffer_length = 0;
};

// Decodes the response (also the STATUS_BUFFER_OVERFLOW one, which has this body with a
// partial buffer); the output buffer is checked to lie in the message.
absl::StatusOr<QueryInfoResponse> DecodeQueryInfoResponse(WireReader message);
// A reader over the output buffer of a decoded response.
absl::StatusOr<WireReader> QueryInfoOutput(const WireReader& message,
                                           const QueryInfoResponse& response);

// [MS-FSCC] 2.4.7 FileBasicInformation (40 bytes). Also sent by SET_INFO.
struct FileBasicInfo {
  FileTime creation_time = 0;
  FileTime last_access_time = 0;
  FileTime last_write_time = 0;
  FileTime change_time = 0;
  uint32_t file_attributes = 0;
};
// [MS-FSCC] 2.4 FileStandardInformation (24 bytes).
struct FileStandardInfo {
  uint64_t allocation_size = 0;
  uint64_t end_of_file = 0;
  uint32_t number_of_links = 0;
  bool delete_pending = false;
  bool directory = false;
};
// [MS-FSCC] 2.4 FileNetworkOpenInformation (56 bytes).
struct FileNetworkOpenInfo {
  FileTime creation_time = 0;
  FileTime last_access_time = 0;
  FileTime last_write_time = 0;
  FileTime change_time = 0;
  uint64_t allocation_size = 0;
  uint64_t end_of_file = 0;
  uint32_t file_attributes = 0;
};
// [MS-FSCC] 2.4.2 FileAllInformation (100 bytes + name).
struct FileAllInfo {
  FileBasicInfo basic;
  FileStandardInfo standard;
  uint64_t index_number = 0;  // FileInternalInformation
  uint32_t ea_size = 0;
  uint32_t access_flags = 0;
  uint64_t current_byte_offset = 0;
  uint32_t mode = 0;
  uint32_t alignment_requirement = 0;
  std::string name;  // UTF-8
};
// [MS-FSCC] 2.5.8 FileFsSizeInformation (24 bytes).
struct FsSizeInfo {
  uint64_t total_allocation_units = 0;
  uint64_t available_allocation_units = 0;
  uint32_t sectors_per_allocation_unit = 0;
  uint32_t bytes_per_sector = 0;
};
// [MS-FSCC] 2.5.4 FileFsFullSizeInformation (32 bytes).
struct FsFullSizeInfo {
  uint64_t total_allocation_units = 0;
  uint64_t caller_available_allocation_units = 0;
  uint64_t actual_available_allocation_units = 0;
  uint32_t sectors_per_allocation_unit = 0;
  uint32_t bytes_per_sector = 0;
};
// [MS-FSCC] 2.5.1 FileFsAttributeInformation (12 bytes + name).
struct FsAttributeInfo {
  uint32_t file_system_attributes = 0;
  uint32_t maximum_component_name_length = 0;
  std::string file_system_name;  // UTF-8, e.g. "NTFS"
};

// Each decodes an output buffer (a reader over exactly that buffer); DataLoss when it is
// shorter than the structure or a name length runs past it.
absl::StatusOr<FileBasicInfo> DecodeFileBasicInformation(WireReader buffer);
absl::StatusOr<FileStandardInfo> DecodeFileStandardInformation(WireReader buffer);
absl::StatusOr<FileNetworkOpenInfo> DecodeFileNetworkOpenInformation(WireReader buffer);
absl::StatusOr<FileAllInfo> DecodeFileAllInformation(WireReader buffer);
absl::StatusOr<FsSizeInfo> DecodeFsSizeInformation(WireReader buffer);
absl::StatusOr<FsFullSizeInfo> DecodeFsFullSizeInformation(WireReader buffer);
absl::StatusOr<FsAttributeInfo> DecodeFsAttributeInformation(WireReader buffer);

}  // namespace smbd

#endif  // SMBD_SMB2_PDU_QUERY_INFO_H_
