// Helpers shared by the PDU codecs: FileId and buffer-descriptor fields, StructureSize checks,
// and the "offset+length inside the message" check every variable-length field needs.
#ifndef SMBD_SMB2_PDU_COMMON_H_
#define SMBD_SMB2_PDU_COMMON_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "buffers/wire.h"
#include "smb2/constants.h"

namespace smbd {

// [MS-SMB2] 2.2.14.1 SMB2_FILEID.
void EncodeFileId(const FileId& id, WireWriter* w);
[[nodiscard]] bool DecodeFileId(WireReader* r, FileId* id);

// [MS-SMB2] 2.2.32.5.1 / [MS-SMBD] 2.2.3.1 SMB2_BUFFER_DESCRIPTOR_V1: one registered range.
struct BufferDescriptorV1 {
  uint64_t offset = 0;  // remote address (or offset) of the range
  uint32_t token = 0;   // steering tag (rkey)
  uint32_t length = 0;
};
inline constexpr uint32_t kBufferDescriptorV1Size = 16;
void EncodeBufferDescriptors(absl::Span<const BufferDescriptorV1> descriptors, WireWriter* w);

// Positions a reader at the body of a message (after the 64-byte header) and checks the body's
// StructureSize. `what` names the PDU in errors.
absl::Status ExpectBody(WireReader* r, uint16_t structure_size, absl::string_view what);

// The 4-byte body (StructureSize 4, Reserved) of LOGOFF, TREE_DISCONNECT, ECHO and CANCEL
// requests and of the LOGOFF, TREE_DISCONNECT, ECHO and FLUSH responses ([MS-SMB2] 2.2.7,
// 2.2.8, 2.2.11, 2.2.12, 2.2.18, 2.2.28, 2.2.29, 2.2.30).
void EncodeEmptyBody(WireWriter* w);
absl::Status DecodeEmptyBody(WireReader message, absl::string_view what);

// A DataLoss error for a field out of range, naming the PDU and the field.
absl::Status BadField(absl::string_view what, absl::string_view field, uint64_t value,
                      absl::string_view why);

// Checks that [offset, offset + length) (offset counted from the SMB2 header) lies in the body
// of a message of `message_size` bytes, after a fixed part of `fixed_end` bytes; length 0 is
// always accepted.
absl::Status CheckBuffer(absl::string_view what, absl::string_view field, uint64_t offset,
                         uint64_t length, uint64_t fixed_end, uint64_t message_size);

// UTF-16LE encoding of a UTF-8 path component (names, share paths). Rejects invalid UTF-8.
absl::StatusOr<std::string> Utf8ToUtf16Le(absl::string_view utf8);
absl::StatusOr<std::string> Utf16LeToUtf8(absl::Span<const uint8_t> utf16);

// Byte size of the UTF-16LE form of `utf8` (InvalidArgument for invalid UTF-8), and the
// conversion written straight into a WireWriter: request encoders use the pair to put names
// on the wire without a temporary string. Call Utf16LeSize first; WriteUtf16Le assumes valid
// input.
absl::StatusOr<uint64_t> Utf16LeSize(absl::string_view utf8);
void WriteUtf16Le(absl::string_view utf8, WireWriter* w);

// Reads `length` bytes of UTF-16LE from `r` and returns them as UTF-8; DataLoss (naming `what`
// and `field`) when they run past the reader or are not valid UTF-16.
absl::StatusOr<std::string> ReadUtf16Le(WireReader* r, uint64_t length, absl::string_view what,
                                        absl::string_view field);

// Rounds up to a multiple of 8 (the alignment of negotiate contexts, create contexts, compound
// members and directory entries).
inline constexpr uint64_t AlignUp8(uint64_t v) { return (v + 7) & ~uint64_t{7}; }

// Windows FILETIME (100 ns since 1601-01-01) as carried in every SMB2 time field.
using FileTime = uint64_t;

}  // namespace smbd

#endif  // SMBD_SMB2_PDU_COMMON_H_
