// SMB2 CLOSE ([MS-SMB2] 2.2.15 request, 2.2.16 response), with the POSTQUERY_ATTRIB flag that
// has the server return the file's times, sizes and attributes as of the close.
#ifndef SMBD_SMB2_PDU_CLOSE_H_
#define SMBD_SMB2_PDU_CLOSE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "buffers/wire.h"
#include "smb2/constants.h"
#include "smb2/pdu/common.h"

namespace smbd {

// [MS-SMB2] 2.2.15 / 2.2.16 Flags.
inline constexpr uint16_t kCloseFlagPostqueryAttrib = 0x0001;

struct CloseRequest {
  uint16_t flags = 0;
  FileId file_id;
};

void EncodeCloseRequest(const CloseRequest& request, WireWriter* w);

// Without kCloseFlagPostqueryAttrib in `flags` the server zeroes every other field.
struct CloseResponse {
  uint16_t flags = 0;
  FileTime creation_time = 0;
  FileTime last_access_time = 0;
  FileTime last_write_time = 0;
  FileTime change_time = 0;
  uint64_t allocation_size = 0;
  uint64_t end_of_file = 0;
  uint32_t file_attributes = 0;
};

absl::StatusOr<CloseResponse> DecodeCloseResponse(WireReader message);

}  // namespace smbd

#endif  // SMBD_SMB2_PDU_CLOSE_H_
