// The SMB2 ERROR response ([MS-SMB2] 2.2.2): the body a server sends instead of a command's own
// response when it fails, for the interim STATUS_PENDING response of an async operation, and
// for some warnings. 3.1.1 error contexts (2.2.2.1), the symbolic link error response
// (2.2.2.2.1, STATUS_STOPPED_ON_SYMLINK) and the 4-byte STATUS_BUFFER_TOO_SMALL form (2.2.2.2:
// ErrorData holds the required size) are decoded here.
#ifndef SMBD_SMB2_PDU_ERROR_H_
#define SMBD_SMB2_PDU_ERROR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "buffers/wire.h"
#include "smb2/header.h"
#include "smb2/pdu/common.h"

namespace smbd {

// [MS-SMB2] 2.2.2.1 ErrorId.
inline constexpr uint32_t kErrorIdDefault = 0x00000000;
inline constexpr uint32_t kErrorIdShareRedirect = 0x72645253;
// [MS-SMB2] 2.2.2.2.1 symbolic link error response.
inline constexpr uint32_t kSymLinkErrorTag = 0x4C4D5953;  // "SYML"
inline constexpr uint32_t kIoReparseTagSymlink = 0xA000000C;
inline constexpr uint32_t kSymlinkFlagRelative = 0x00000001;

struct ErrorResponse {
  uint8_t error_context_count = 0;
  uint32_t byte_count = 0;
  // ErrorData is bytes [kErrorDataOffset, kErrorDataOffset + byte_count) of the message.
  static constexpr uint64_t kErrorDataOffset = 72;
};

// Decodes an ERROR body (StructureSize 9) from a reader over the whole message. The body must
// hold its 8 fixed bytes and at least one ErrorData byte (StructureSize 9 counts it; Windows and
// Samba always send it), and ByteCount bytes must lie in the message.
absl::StatusOr<ErrorResponse> DecodeErrorResponse(WireReader message);

// One 3.1.1 error context: ErrorId and where its data lies, from the start of the message.
struct ErrorContext {
  uint32_t error_id = 0;
  uint64_t data_offset = 0;
  uint32_t data_length = 0;
};

// The error contexts of a 3.1.1 ERROR response (ErrorContextCount > 0): each 8-byte aligned,
// each ErrorDataLength inside ErrorData. Empty when ErrorContextCount is 0.
absl::StatusOr<std::vector<ErrorContext>> DecodeErrorContexts(const WireReader& message,
                                                              const ErrorResponse& error);

struct SymlinkError {
  uint32_t unparsed_path_length = 0;  // bytes at the end of the request path not yet parsed
  std::string substitute_name;        // UTF-8
  std::string print_name;
  uint32_t flags = 0;  // kSymlinkFlagRelative
};

// Decodes the symbolic link error response of a STATUS_STOPPED_ON_SYMLINK ERROR response: the
// ErrorData itself (before 3.1.1), or the data of its ErrorId 0 context (3.1.1).
absl::StatusOr<SymlinkError> DecodeSymlinkErrorResponse(WireReader message);

// The required buffer size of a STATUS_BUFFER_TOO_SMALL ERROR response (ByteCount 4, or a
// 4-byte ErrorId 0 context in 3.1.1).
absl::StatusOr<uint32_t> DecodeBufferTooSmallResponse(WireReader message);

// Whether a response carries an ERROR body rather than its command's own body, from the header
// and the body's StructureSize:
//  - the interim async response (STATUS_PENDING with SMB2_FLAGS_ASYNC_COMMAND; AsyncId in the
//    header) is an ERROR body;
//  - success is never an ERROR body;
//  - some non-success statuses come with the command's own body: STATUS_MORE_PROCESSING_REQUIRED
//    for SESSION_SETUP, STATUS_BUFFER_OVERFLOW for READ, IOCTL and QUERY_INFO (a partial result;
//    QUERY_INFO's body is also StructureSize 9 and is taken as its own), and for IOCTL any
//    status with an IOCTL body (StructureSize 49), e.g. FSCTL_SRV_COPYCHUNK returning
//    STATUS_INVALID_PARAMETER with the server's limits;
//  - every other non-success status is an ERROR body.
bool IsErrorResponse(const Smb2Header& header, uint16_t structure_size);

}  // namespace smbd

#endif  // SMBD_SMB2_PDU_ERROR_H_
