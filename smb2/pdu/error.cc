#include "smb2/pdu/error.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "smb2/ntstatus.h"

namespace smbd {
namespace {

constexpr absl::string_view kWhat = "ERROR response";
constexpr uint16_t kStructureSize = 9;
constexpr uint64_t kContextHeader = 8;   // ErrorDataLength, ErrorId ([MS-SMB2] 2.2.2.1)
constexpr uint64_t kSymlinkFixed = 28;   // up to PathBuffer ([MS-SMB2] 2.2.2.2.1)

// The bytes a symbolic link error response, or a BUFFER_TOO_SMALL size, is read from: the
// ErrorData, or the data of the ErrorId 0 context in 3.1.1.
absl::StatusOr<WireReader> DefaultErrorData(const WireReader& message, const ErrorResponse& e) {
  if (e.error_context_count == 0) {
    return message.Sub(ErrorResponse::kErrorDataOffset, e.byte_count);
  }
  SMBD_ASSIGN_OR_RETURN(std::vector<ErrorContext> contexts, DecodeErrorContexts(message, e));
  for (const ErrorContext& c : contexts) {
    if (c.error_id == kErrorIdDefault) return message.Sub(c.data_offset, c.data_length);
  }
  return absl::DataLossError(absl::StrCat(kWhat, ": no ErrorId 0 context among ",
                                          contexts.size()));
}

}  // namespace

absl::StatusOr<ErrorResponse> DecodeErrorResponse(WireReader r) {
  SMBD_RETURN_IF_ERROR(ExpectBody(&r, kStructureSize, kWhat));
  ErrorResponse e;
  uint8_t reserved;
  if (!r.U8(&e.error_context_count) || !r.U8(&reserved) || !r.U32(&e.byte_count)) {
    return r.Error(kWhat);
  }
  const uint64_t data_end = ErrorResponse::kErrorDataOffset + (e.byte_count == 0 ? 1 : e.byte_count);
  if (data_end > r.size()) {
    return BadField(kWhat, "ByteCount", e.byte_count,
                    absl::StrCat("but the message ends at ", r.size(),
                                 (e.byte_count == 0 ? " (one ErrorData byte is required)" : "")));
  }
  if (e.error_context_count != 0 && e.byte_count == 0) {
    return BadField(kWhat, "ErrorContextCount", e.error_context_count, "with ByteCount 0");
  }
  return e;
}

absl::StatusOr<std::vector<ErrorContext>> DecodeErrorContexts(const WireReader& message,
                                                              const ErrorResponse& e) {
  std::vector<ErrorContext> out;
  if (e.error_context_count == 0) return out;
  const uint64_t begin = ErrorResponse::kErrorDataOffset;
  const uint64_t end = begin + e.byte_count;
  if (end > message.size()) {
    return BadField(kWhat, "ByteCount", e.byte_count, "runs past the message");
  }
  uint64_t at = begin;
  for (int i = 0; i < e.error_context_count; ++i) {
    at = begin + AlignUp8(at - begin);  // each context starts 8-byte aligned
    if (at + kContextHeader > end) {
      return BadField(kWhat, "ErrorContextCount", e.error_context_count,
                      absl::StrCat("but context ", i, " starts past ByteCount"));
    }
    SMBD_ASSIGN_OR_RETURN(WireReader h, message.Sub(at, kContextHeader));
    ErrorContext c;
    if (!h.U32(&c.data_length) || !h.U32(&c.error_id)) return h.Error(kWhat);
    if (at + kContextHeader + c.data_length > end) {
      return BadField(kWhat, "ErrorDataLength", c.data_length,
                      absl::StrCat("of context ", i, " runs past ByteCount"));
    }
    c.data_offset = at + kContextHeader;
    out.push_back(c);
    at = c.data_offset + c.data_length;
  }
  return out;
}

absl::StatusOr<SymlinkError> DecodeSymlinkErrorResponse(WireReader message) {
  SMBD_ASSIGN_OR_RETURN(ErrorResponse e, DecodeErrorResponse(message));
  SMBD_ASSIGN_OR_RETURN(WireReader d, DefaultErrorData(message, e));
  uint32_t symlink_length, tag, reparse_tag, flags;
  uint16_t reparse_data_length, unparsed, sub_offset, sub_length, print_offset, print_length;
  if (!d.U32(&symlink_length) || !d.U32(&tag) || !d.U32(&reparse_tag) ||
      !d.U16(&reparse_data_length) || !d.U16(&unparsed) || !d.U16(&sub_offset) ||
      !d.U16(&sub_length) || !d.U16(&print_offset) || !d.U16(&print_length) ||
      !d.U32(&flags)) {
    return d.Error(absl::StrCat(kWhat, ": symbolic link error response"));
  }
  if (tag != kSymLinkErrorTag) {
    return BadField(kWhat, "SymLinkErrorTag", tag, "is not 0x4C4D5953");
  }
  if (reparse_tag != kIoReparseTagSymlink) {
    return BadField(kWhat, "ReparseTag", reparse_tag, "is not IO_REPARSE_TAG_SYMLINK");
  }
  // SymLinkLength counts what follows it; the path buffer is what is left after 28 bytes.
  if (uint64_t{symlink_length} + 4 > d.size() || symlink_length + uint64_t{4} < kSymlinkFixed) {
    return BadField(kWhat, "SymLinkLength", symlink_length,
                    absl::StrCat("does not fit the ", d.size(), "-byte error data"));
  }
  const uint64_t path_buffer = symlink_length + uint64_t{4} - kSymlinkFixed;
  SymlinkError s;
  s.unparsed_path_length = unparsed;
  s.flags = flags;
  if (uint64_t{sub_offset} + sub_length > path_buffer) {
    return BadField(kWhat, "SubstituteNameOffset/Length", sub_offset,
                    absl::StrCat("+", sub_length, " is outside the ", path_buffer,
                                 "-byte PathBuffer"));
  }
  if (uint64_t{print_offset} + print_length > path_buffer) {
    return BadField(kWhat, "PrintNameOffset/Length", print_offset,
                    absl::StrCat("+", print_length, " is outside the ", path_buffer,
                                 "-byte PathBuffer"));
  }
  SMBD_ASSIGN_OR_RETURN(WireReader sub, d.Sub(kSymlinkFixed + sub_offset, sub_length));
  SMBD_ASSIGN_OR_RETURN(s.substitute_name,
                        ReadUtf16Le(&sub, sub_length, kWhat, "SubstituteName"));
  SMBD_ASSIGN_OR_RETURN(WireReader print, d.Sub(kSymlinkFixed + print_offset, print_length));
  SMBD_ASSIGN_OR_RETURN(s.print_name, ReadUtf16Le(&print, print_length, kWhat, "PrintName"));
  return s;
}

absl::StatusOr<uint32_t> DecodeBufferTooSmallResponse(WireReader message) {
  SMBD_ASSIGN_OR_RETURN(ErrorResponse e, DecodeErrorResponse(message));
  SMBD_ASSIGN_OR_RETURN(WireReader d, DefaultErrorData(message, e));
  uint32_t size;
  if (d.size() != 4 || !d.U32(&size)) {
    return BadField(kWhat, "STATUS_BUFFER_TOO_SMALL ErrorData length", d.size(), "is not 4");
  }
  return size;
}

bool IsErrorResponse(const Smb2Header& h, uint16_t structure_size) {
  if (h.status == ntstatus::kSuccess) return false;
  if (h.status == ntstatus::kPending) return true;  // interim response (async or not)
  switch (h.command) {
    case Command::kSessionSetup:
      return h.status != ntstatus::kMoreProcessingRequired;
    case Command::kQueryInfo:
      return h.status != ntstatus::kBufferOverflow;
    case Command::kRead:
      return !(h.status == ntstatus::kBufferOverflow && structure_size == 17);
    case Command::kIoctl:
      return structure_size != 49;
    default:
      return true;
  }
}

}  // namespace smbd
