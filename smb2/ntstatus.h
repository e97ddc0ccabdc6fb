// NTSTATUS values ([MS-ERREF] 2.3) that SMB2 servers return, their names, and their mapping to
// absl::Status. The NTSTATUS travels with the absl::Status as a payload so that callers can
// branch on the exact server answer.
#ifndef SMBD_SMB2_NTSTATUS_H_
#define SMBD_SMB2_NTSTATUS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace smbd {

namespace ntstatus {
inline constexpr uint32_t kSuccess = 0x00000000;
inline constexpr uint32_t kPending = 0x00000103;
inline constexpr uint32_t kNotifyCleanup = 0x0000010B;
inline constexpr uint32_t kNotifyEnumDir = 0x0000010C;
inline constexpr uint32_t kBufferOverflow = 0x80000005;
inline constexpr uint32_t kNoMoreFiles = 0x80000006;
inline constexpr uint32_t kStoppedOnSymlink = 0x8000002D;
inline constexpr uint32_t kUnsuccessful = 0xC0000001;
inline constexpr uint32_t kNotImplemented = 0xC0000002;
inline constexpr uint32_t kInvalidInfoClass = 0xC0000003;
inline constexpr uint32_t kInfoLengthMismatch = 0xC0000004;
inline constexpr uint32_t kAccessViolation = 0xC0000005;
inline constexpr uint32_t kInvalidHandle = 0xC0000008;
inline constexpr uint32_t kInvalidParameter = 0xC000000D;
inline constexpr uint32_t kNoSuchDevice = 0xC000000E;
inline constexpr uint32_t kNoSuchFile = 0xC000000F;
inline constexpr uint32_t kInvalidDeviceRequest = 0xC0000010;
inline constexpr uint32_t kEndOfFile = 0xC0000011;
inline constexpr uint32_t kMoreProcessingRequired = 0xC0000016;
inline constexpr uint32_t kNoMemory = 0xC0000017;
inline constexpr uint32_t kAccessDenied = 0xC0000022;
inline constexpr uint32_t kBufferTooSmall = 0xC0000023;
inline constexpr uint32_t kObjectTypeMismatch = 0xC0000024;
inline constexpr uint32_t kObjectNameInvalid = 0xC0000033;
inline constexpr uint32_t kObjectNameNotFound = 0xC0000034;
inline constexpr uint32_t kObjectNameCollision = 0xC0000035;
inline constexpr uint32_t kObjectPathInvalid = 0xC0000039;
inline constexpr uint32_t kObjectPathNotFound = 0xC000003A;
inline constexpr uint32_t kObjectPathSyntaxBad = 0xC000003B;
inline constexpr uint32_t kDataError = 0xC000003E;
inline constexpr uint32_t kSharingViolation = 0xC0000043;
inline constexpr uint32_t kFileLockConflict = 0xC0000054;
inline constexpr uint32_t kLockNotGranted = 0xC0000055;
inline constexpr uint32_t kDeletePending = 0xC0000056;
inline constexpr uint32_t kPrivilegeNotHeld = 0xC0000061;
inline constexpr uint32_t kNoSuchUser = 0xC0000064;
inline constexpr uint32_t kWrongPassword = 0xC000006A;
inline constexpr uint32_t kLogonFailure = 0xC000006D;
inline constexpr uint32_t kAccountRestriction = 0xC000006E;
inline constexpr uint32_t kPasswordExpired = 0xC0000071;
inline constexpr uint32_t kAccountDisabled = 0xC0000072;
inline constexpr uint32_t kRangeNotLocked = 0xC000007E;
inline constexpr uint32_t kDiskFull = 0xC000007F;
inline constexpr uint32_t kInsufficientResources = 0xC000009A;
inline constexpr uint32_t kMediaWriteProtected = 0xC00000A2;
inline constexpr uint32_t kBadImpersonationLevel = 0xC00000A5;
inline constexpr uint32_t kIoTimeout = 0xC00000B5;
inline constexpr uint32_t kFileIsADirectory = 0xC00000BA;
inline constexpr uint32_t kNotSupported = 0xC00000BB;
inline constexpr uint32_t kInvalidNetworkResponse = 0xC00000C3;
inline constexpr uint32_t kNetworkNameDeleted = 0xC00000C9;
inline constexpr uint32_t kNetworkAccessDenied = 0xC00000CA;
inline constexpr uint32_t kBadNetworkName = 0xC00000CC;
inline constexpr uint32_t kRequestNotAccepted = 0xC00000D0;
inline constexpr uint32_t kNotSameDevice = 0xC00000D4;
inline constexpr uint32_t kOplockNotGranted = 0xC00000E2;
inline constexpr uint32_t kDirectoryNotEmpty = 0xC0000101;
inline constexpr uint32_t kNotADirectory = 0xC0000103;
inline constexpr uint32_t kTooManyOpenedFiles = 0xC000011F;
inline constexpr uint32_t kCancelled = 0xC0000120;
inline constexpr uint32_t kCannotDelete = 0xC0000121;
inline constexpr uint32_t kFileClosed = 0xC0000128;
inline constexpr uint32_t kInvalidDeviceState = 0xC0000184;
inline constexpr uint32_t kUserSessionDeleted = 0xC0000203;
inline constexpr uint32_t kConnectionDisconnected = 0xC000020C;
inline constexpr uint32_t kConnectionReset = 0xC000020D;
inline constexpr uint32_t kNotFound = 0xC0000225;
inline constexpr uint32_t kAccountLockedOut = 0xC0000234;
inline constexpr uint32_t kHostUnreachable = 0xC000023D;
inline constexpr uint32_t kPathNotCovered = 0xC0000257;
inline constexpr uint32_t kNetworkSessionExpired = 0xC000035C;
inline constexpr uint32_t kInvalidSignature = 0xC000A000;
}  // namespace ntstatus

// "STATUS_OBJECT_NAME_NOT_FOUND", or "NTSTATUS_0x...." for values not in the table.
std::string NtStatusName(uint32_t status);

// Severity bits ([MS-ERREF] 2.3): 11 = error, 10 = warning.
inline bool NtStatusIsError(uint32_t status) { return (status >> 30) == 3; }

// An absl::Status for a server's NTSTATUS (OK for success and for warnings such as
// STATUS_BUFFER_OVERFLOW, which carry data). `context` says what was being done, e.g.
// "CREATE \\server\share\dir\file".
absl::Status NtStatusToStatus(uint32_t status, absl::string_view context);
// The NTSTATUS carried by a Status made by NtStatusToStatus.
std::optional<uint32_t> NtStatusOf(const absl::Status& status);

}  // namespace smbd

#endif  // SMBD_SMB2_NTSTATUS_H_
