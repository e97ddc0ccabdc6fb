#include "smb2/ntstatus.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace smbd {
namespace {

constexpr absl::string_view kPayloadUrl = "smbd.ntstatus";

struct Entry {
  uint32_t value;
  const char* name;
  absl::StatusCode code;
};

using C = absl::StatusCode;
constexpr Entry kTable[] = {
    {ntstatus::kSuccess, "STATUS_SUCCESS", C::kOk},
    {ntstatus::kPending, "STATUS_PENDING", C::kOk},
    {ntstatus::kNotifyCleanup, "STATUS_NOTIFY_CLEANUP", C::kOk},
    {ntstatus::kNotifyEnumDir, "STATUS_NOTIFY_ENUM_DIR", C::kOk},
    {ntstatus::kBufferOverflow, "STATUS_BUFFER_OVERFLOW", C::kOk},
    {ntstatus::kNoMoreFiles, "STATUS_NO_MORE_FILES", C::kOutOfRange},
    {ntstatus::kStoppedOnSymlink, "STATUS_STOPPED_ON_SYMLINK", C::kFailedPrecondition},
    {ntstatus::kUnsuccessful, "STATUS_UNSUCCESSFUL", C::kUnknown},
    {ntstatus::kNotImplemented, "STATUS_NOT_IMPLEMENTED", C::kUnimplemented},
    {ntstatus::kInvalidInfoClass, "STATUS_INVALID_INFO_CLASS", C::kInvalidArgument},
    {ntstatus::kInfoLengthMismatch, "STATUS_INFO_LENGTH_MISMATCH", C::kInvalidArgument},
    {ntstatus::kAccessViolation, "STATUS_ACCESS_VIOLATION", C::kInternal},
    {ntstatus::kInvalidHandle, "STATUS_INVALID_HANDLE", C::kFailedPrecondition},
    {ntstatus::kInvalidParameter, "STATUS_INVALID_PARAMETER", C::kInvalidArgument},
    {ntstatus::kNoSuchDevice, "STATUS_NO_SUCH_DEVICE", C::kNotFound},
    {ntstatus::kNoSuchFile, "STATUS_NO_SUCH_FILE", C::kNotFound},
    {ntstatus::kInvalidDeviceRequest, "STATUS_INVALID_DEVICE_REQUEST", C::kInvalidArgument},
    {ntstatus::kEndOfFile, "STATUS_END_OF_FILE", C::kOutOfRange},
    {ntstatus::kMoreProcessingRequired, "STATUS_MORE_PROCESSING_REQUIRED", C::kOk},
    {ntstatus::kNoMemory, "STATUS_NO_MEMORY", C::kResourceExhausted},
    {ntstatus::kAccessDenied, "STATUS_ACCESS_DENIED", C::kPermissionDenied},
    {ntstatus::kBufferTooSmall, "STATUS_BUFFER_TOO_SMALL", C::kInvalidArgument},
    {ntstatus::kObjectTypeMismatch, "STATUS_OBJECT_TYPE_MISMATCH", C::kInvalidArgument},
    {ntstatus::kObjectNameInvalid, "STATUS_OBJECT_NAME_INVALID", C::kInvalidArgument},
    {ntstatus::kObjectNameNotFound, "STATUS_OBJECT_NAME_NOT_FOUND", C::kNotFound},
    {ntstatus::kObjectNameCollision, "STATUS_OBJECT_NAME_COLLISION", C::kAlreadyExists},
    {ntstatus::kObjectPathInvalid, "STATUS_OBJECT_PATH_INVALID", C::kInvalidArgument},
    {ntstatus::kObjectPathNotFound, "STATUS_OBJECT_PATH_NOT_FOUND", C::kNotFound},
    {ntstatus::kObjectPathSyntaxBad, "STATUS_OBJECT_PATH_SYNTAX_BAD", C::kInvalidArgument},
    {ntstatus::kDataError, "STATUS_DATA_ERROR", C::kDataLoss},
    {ntstatus::kSharingViolation, "STATUS_SHARING_VIOLATION", C::kFailedPrecondition},
    {ntstatus::kFileLockConflict, "STATUS_FILE_LOCK_CONFLICT", C::kFailedPrecondition},
    {ntstatus::kLockNotGranted, "STATUS_LOCK_NOT_GRANTED", C::kFailedPrecondition},
    {ntstatus::kDeletePending, "STATUS_DELETE_PENDING", C::kFailedPrecondition},
    {ntstatus::kPrivilegeNotHeld, "STATUS_PRIVILEGE_NOT_HELD", C::kPermissionDenied},
    {ntstatus::kNoSuchUser, "STATUS_NO_SUCH_USER", C::kUnauthenticated},
    {ntstatus::kWrongPassword, "STATUS_WRONG_PASSWORD", C::kUnauthenticated},
    {ntstatus::kLogonFailure, "STATUS_LOGON_FAILURE", C::kUnauthenticated},
    {ntstatus::kAccountRestriction, "STATUS_ACCOUNT_RESTRICTION", C::kUnauthenticated},
    {ntstatus::kPasswordExpired, "STATUS_PASSWORD_EXPIRED", C::kUnauthenticated},
    {ntstatus::kAccountDisabled, "STATUS_ACCOUNT_DISABLED", C::kUnauthenticated},
    {ntstatus::kRangeNotLocked, "STATUS_RANGE_NOT_LOCKED", C::kFailedPrecondition},
    {ntstatus::kDiskFull, "STATUS_DISK_FULL", C::kResourceExhausted},
    {ntstatus::kInsufficientResources, "STATUS_INSUFFICIENT_RESOURCES", C::kResourceExhausted},
    {ntstatus::kMediaWriteProtected, "STATUS_MEDIA_WRITE_PROTECTED", C::kPermissionDenied},
    {ntstatus::kBadImpersonationLevel, "STATUS_BAD_IMPERSONATION_LEVEL", C::kPermissionDenied},
    {ntstatus::kIoTimeout, "STATUS_IO_TIMEOUT", C::kDeadlineExceeded},
    {ntstatus::kFileIsADirectory, "STATUS_FILE_IS_A_DIRECTORY", C::kFailedPrecondition},
    {ntstatus::kNotSupported, "STATUS_NOT_SUPPORTED", C::kUnimplemented},
    {ntstatus::kInvalidNetworkResponse, "STATUS_INVALID_NETWORK_RESPONSE", C::kDataLoss},
    {ntstatus::kNetworkNameDeleted, "STATUS_NETWORK_NAME_DELETED", C::kUnavailable},
    {ntstatus::kNetworkAccessDenied, "STATUS_NETWORK_ACCESS_DENIED", C::kPermissionDenied},
    {ntstatus::kBadNetworkName, "STATUS_BAD_NETWORK_NAME", C::kNotFound},
    {ntstatus::kRequestNotAccepted, "STATUS_REQUEST_NOT_ACCEPTED", C::kResourceExhausted},
    {ntstatus::kNotSameDevice, "STATUS_NOT_SAME_DEVICE", C::kInvalidArgument},
    {ntstatus::kOplockNotGranted, "STATUS_OPLOCK_NOT_GRANTED", C::kFailedPrecondition},
    {ntstatus::kDirectoryNotEmpty, "STATUS_DIRECTORY_NOT_EMPTY", C::kFailedPrecondition},
    {ntstatus::kNotADirectory, "STATUS_NOT_A_DIRECTORY", C::kFailedPrecondition},
    {ntstatus::kTooManyOpenedFiles, "STATUS_TOO_MANY_OPENED_FILES", C::kResourceExhausted},
    {ntstatus::kCancelled, "STATUS_CANCELLED", C::kCancelled},
    {ntstatus::kCannotDelete, "STATUS_CANNOT_DELETE", C::kPermissionDenied},
    {ntstatus::kFileClosed, "STATUS_FILE_CLOSED", C::kFailedPrecondition},
    {ntstatus::kInvalidDeviceState, "STATUS_INVALID_DEVICE_STATE", C::kFailedPrecondition},
    {ntstatus::kUserSessionDeleted, "STATUS_USER_SESSION_DELETED", C::kUnavailable},
    {ntstatus::kConnectionDisconnected, "STATUS_CONNECTION_DISCONNECTED", C::kUnavailable},
    {ntstatus::kConnectionReset, "STATUS_CONNECTION_RESET", C::kUnavailable},
    {ntstatus::kNotFound, "STATUS_NOT_FOUND", C::kNotFound},
    {ntstatus::kAccountLockedOut, "STATUS_ACCOUNT_LOCKED_OUT", C::kUnauthenticated},
    {ntstatus::kHostUnreachable, "STATUS_HOST_UNREACHABLE", C::kUnavailable},
    {ntstatus::kPathNotCovered, "STATUS_PATH_NOT_COVERED", C::kNotFound},
    {ntstatus::kNetworkSessionExpired, "STATUS_NETWORK_SESSION_EXPIRED", C::kUnavailable},
    {ntstatus::kInvalidSignature, "STATUS_INVALID_SIGNATURE", C::kUnauthenticated},
};

const Entry* Find(uint32_t value) {
  for (const Entry& e : kTable) {
    if (e.value == value) return &e;
  }
  return nullptr;
}

}  // namespace

std::string NtStatusName(uint32_t status) {
  if (const Entry* e = Find(status)) return e->name;
  return absl::StrFormat("NTSTATUS_0x%08X", status);
}

absl::Status NtStatusToStatus(uint32_t status, absl::string_view context) {
  const Entry* e = Find(status);
  absl::StatusCode code;
  if (e != nullptr) {
    code = e->code;
  } else {
    code = NtStatusIsError(status) ? C::kUnknown : C::kOk;
  }
  if (code == C::kOk) return absl::OkStatus();
  absl::Status s(code, absl::StrFormat("%s: %s (0x%08X)", context, NtStatusName(status), status));
  char bytes[4] = {static_cast<char>(status), static_cast<char>(status >> 8),
                   static_cast<char>(status >> 16), static_cast<char>(status >> 24)};
  s.SetPayload(kPayloadUrl, absl::Cord(absl::string_view(bytes, 4)));
  return s;
}

std::optional<uint32_t> NtStatusOf(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kPayloadUrl);
  if (!payload.has_value() || payload->size() != 4) return std::nullopt;
  std::string b(*payload);
  return static_cast<uint32_t>(static_cast<uint8_t>(b[0])) |
         static_cast<uint32_t>(static_cast<uint8_t>(b[1])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(b[2])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(b[3])) << 24;
}

}  // namespace smbd
