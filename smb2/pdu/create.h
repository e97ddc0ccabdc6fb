// SMB2 CREATE ([MS-SMB2] 2.2.13 request, 2.2.14 response) and the create contexts common use
// needs (2.2.13.2 / 2.2.14.2): MxAc (query maximal access), QFid (query on-disk id), RqLs
// (lease v1 / v2), DH2Q (durable handle v2). Contexts are a chain of 8-byte aligned entries
// linked by Next offsets; the response's chain is walked with hostile-input checks.
//
// CREATE is on the per-file path: the request takes caller-owned views (name in UTF-8, written
// as UTF-16LE straight into the message) and neither side allocates.
#ifndef SMBD_SMB2_PDU_CREATE_H_
#define SMBD_SMB2_PDU_CREATE_H_

#include <cstdint>
#include <optional>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "buffers/wire.h"
#include "smb2/constants.h"
#include "smb2/pdu/common.h"

namespace smbd {

// [MS-SMB2] 2.2.13 RequestedOplockLevel / 2.2.14 OplockLevel.
inline constexpr uint8_t kOplockLevelNone = 0x00;
inline constexpr uint8_t kOplockLevelII = 0x01;
inline constexpr uint8_t kOplockLevelExclusive = 0x08;
inline constexpr uint8_t kOplockLevelBatch = 0x09;
inline constexpr uint8_t kOplockLevelLease = 0xFF;

// [MS-SMB2] 2.2.13 ImpersonationLevel.
inline constexpr uint32_t kImpersonationAnonymous = 0;
inline constexpr uint32_t kImpersonationIdentification = 1;
inline constexpr uint32_t kImpersonationImpersonation = 2;
inline constexpr uint32_t kImpersonationDelegate = 3;

// [MS-SMB2] 2.2.13.1.1 / 2.2.13.1.2 access masks.
inline constexpr uint32_t kFileReadData = 0x00000001;  // FILE_LIST_DIRECTORY on directories
inline constexpr uint32_t kFileWriteData = 0x00000002;  // FILE_ADD_FILE
inline constexpr uint32_t kFileAppendData = 0x00000004;  // FILE_ADD_SUBDIRECTORY
inline constexpr uint32_t kFileReadEa = 0x00000008;
inline constexpr uint32_t kFileWriteEa = 0x00000010;
inline constexpr uint32_t kFileExecute = 0x00000020;  // FILE_TRAVERSE
inline constexpr uint32_t kFileDeleteChild = 0x00000040;
inline constexpr uint32_t kFileReadAttributes = 0x00000080;
inline constexpr uint32_t kFileWriteAttributes = 0x00000100;
inline constexpr uint32_t kDelete = 0x00010000;
inline constexpr uint32_t kReadControl = 0x00020000;
inline constexpr uint32_t kWriteDac = 0x00040000;
inline constexpr uint32_t kWriteOwner = 0x00080000;
inline constexpr uint32_t kSynchronize = 0x00100000;
inline constexpr uint32_t kAccessSystemSecurity = 0x01000000;
inline constexpr uint32_t kMaximumAllowed = 0x02000000;
inline constexpr uint32_t kGenericAll = 0x10000000;
inline constexpr uint32_t kGenericExecute = 0x20000000;
inline constexpr uint32_t kGenericWrite = 0x40000000;
inline constexpr uint32_t kGenericRead = 0x80000000;

// [MS-SMB2] 2.2.13 ShareAccess.
inline constexpr uint32_t kShareRead = 0x00000001;
inline constexpr uint32_t kShareWrite = 0x00000002;
inline constexpr uint32_t kShareDelete = 0x00000004;

// [MS-SMB2] 2.2.13 CreateDisposition.
inline constexpr uint32_t kFileSupersede = 0;
inline constexpr uint32_t kFileOpen = 1;
inline constexpr uint32_t kFileCreate = 2;
inline constexpr uint32_t kFileOpenIf = 3;
inline constexpr uint32_t kFileOverwrite = 4;
inline constexpr uint32_t kFileOverwriteIf = 5;

// [MS-SMB2] 2.2.13 CreateOptions.
inline constexpr uint32_t kFileDirectoryFile = 0x00000001;
inline constexpr uint32_t kFileWriteThrough = 0x00000002;
inline constexpr uint32_t kFileSequentialOnly = 0x00000004;
inline constexpr uint32_t kFileNoIntermediateBuffering = 0x00000008;
inline constexpr uint32_t kFileNonDirectoryFile = 0x00000040;
inline constexpr uint32_t kFileNoEaKnowledge = 0x00000200;
inline constexpr uint32_t kFileRandomAccess = 0x00000800;
inline constexpr uint32_t kFileDeleteOnClose = 0x00001000;
inline constexpr uint32_t kFileOpenForBackupIntent = 0x00004000;
inline constexpr uint32_t kFileOpenReparsePoint = 0x00200000;

// [MS-FSCC] 2.6 file attributes.
inline constexpr uint32_t kFileAttributeReadonly = 0x00000001;
inline constexpr uint32_t kFileAttributeHidden = 0x00000002;
inline constexpr uint32_t kFileAttributeSystem = 0x00000004;
inline constexpr uint32_t kFileAttributeDirectory = 0x00000010;
inline constexpr uint32_t kFileAttributeArchive = 0x00000020;
inline constexpr uint32_t kFileAttributeNormal = 0x00000080;
inline constexpr uint32_t kFileAttributeTemporary = 0x00000100;
inline constexpr uint32_t kFileAttributeSparseFile = 0x00000200;
inline constexpr uint32_t kFileAttributeReparsePoint = 0x00000400;
inline constexpr uint32_t kFileAttributeCompressed = 0x00000800;
inline constexpr uint32_t kFileAttributeOffline = 0x00001000;
inline constexpr uint32_t kFileAttributeNotContentIndexed = 0x00002000;
inline constexpr uint32_t kFileAttributeEncrypted = 0x00004000;

// [MS-SMB2] 2.2.14 Flags and CreateAction.
inline constexpr uint8_t kCreateFlagReparsePoint = 0x01;
inline constexpr uint32_t kFileSuperseded = 0;
inline constexpr uint32_t kFileOpened = 1;
inline constexpr uint32_t kFileCreated = 2;
inline constexpr uint32_t kFileOverwritten = 3;

// [MS-SMB2] 2.2.13.2 create context names (4 ASCII bytes on the wire).
inline constexpr absl::string_view kCreateContextMaximalAccess = "MxAc";
inline constexpr absl::string_view kCreateContextQueryOnDiskId = "QFid";
inline constexpr absl::string_view kCreateContextLease = "RqLs";
inline constexpr absl::string_view kCreateContextDurableV2 = "DH2Q";

// [MS-SMB2] 2.2.13.2.8 / 2.2.13.2.10 lease states and flags.
inline constexpr uint32_t kLeaseNone = 0x00;
inline constexpr uint32_t kLeaseReadCaching = 0x01;
inline constexpr uint32_t kLeaseHandleCaching = 0x02;
inline constexpr uint32_t kLeaseWriteCaching = 0x04;
inline constexpr uint32_t kLeaseFlagBreakInProgress = 0x02;
inline constexpr uint32_t kLeaseFlagParentLeaseKeySet = 0x04;
inline constexpr uint32_t kLeaseV1Size = 32;
inline constexpr uint32_t kLeaseV2Size = 52;

// [MS-SMB2] 2.2.13.2.11 durable handle v2 flags.
inline constexpr uint32_t kDurableFlagPersistent = 0x00000002;

// SMB2_CREATE_REQUEST_LEASE (2.2.13.2.8, version 1) or _V2 (2.2.13.2.10, version 2).
struct LeaseRequest {
  int version = 2;
  uint8_t key[16] = {};
  uint32_t state = 0;
  uint32_t flags = 0;
  uint8_t parent_key[16] = {};  // v2, with kLeaseFlagParentLeaseKeySet
  uint16_t epoch = 0;           // v2
};

// SMB2_CREATE_DURABLE_HANDLE_REQUEST_V2 (2.2.13.2.11).
struct DurableHandleRequestV2 {
  uint32_t timeout_ms = 0;
  uint32_t flags = 0;
  uint8_t create_guid[16] = {};
};

// Any other context, sent as given (caller-owned name and data).
struct CreateContext {
  absl::string_view name;
  absl::Span<const uint8_t> data;
};

struct CreateRequest {
  uint8_t security_flags = 0;
  uint8_t oplock_level = kOplockLevelNone;  // kOplockLevelLease with `lease`
  uint32_t impersonation_level = kImpersonationImpersonation;
  uint32_t desired_access = 0;
  uint32_t file_attributes = 0;
  uint32_t share_access = 0;
  uint32_t create_disposition = kFileOpen;
  uint32_t create_options = 0;
  // Path relative to the share, UTF-8, backslash-separated, no leading backslash; empty for
  // the share root. Sent as UTF-16LE.
  absl::string_view name;
  // Contexts, sent in this order.
  bool query_maximal_access = false;  // MxAc, no timestamp
  bool query_on_disk_id = false;      // QFid
  std::optional<LeaseRequest> lease;  // RqLs
  std::optional<DurableHandleRequestV2> durable_v2;  // DH2Q
  absl::Span<const CreateContext> extra_contexts;
};

// Writes the body: the 56-byte fixed part, the name at 0x78, then the contexts 8-aligned.
// InvalidArgument for an invalid or too long name, or a malformed extra context.
absl::Status EncodeCreateRequest(const CreateRequest& request, WireWriter* w);

// SMB2_CREATE_QUERY_MAXIMAL_ACCESS_RESPONSE (2.2.14.2.5).
struct MaximalAccessResponse {
  uint32_t query_status = 0;
  uint32_t maximal_access = 0;
};
// SMB2_CREATE_QUERY_ON_DISK_ID response (2.2.14.2.9): the first 16 bytes of its data.
struct OnDiskIdResponse {
  uint64_t disk_file_id = 0;
  uint64_t volume_id = 0;
};
// SMB2_CREATE_RESPONSE_LEASE (2.2.14.2.10) / _V2 (2.2.14.2.11).
struct LeaseResponse {
  int version = 1;
  uint8_t key[16] = {};
  uint32_t state = 0;
  uint32_t flags = 0;
  uint8_t parent_key[16] = {};
  uint16_t epoch = 0;
};
// SMB2_CREATE_DURABLE_HANDLE_RESPONSE_V2 (2.2.14.2.12).
struct DurableHandleResponseV2 {
  uint32_t timeout_ms = 0;
  uint32_t flags = 0;
};

struct CreateResponse {
  uint8_t oplock_level = 0;
  uint8_t flags = 0;
  uint32_t create_action = 0;
  FileTime creation_time = 0;
  FileTime last_access_time = 0;
  FileTime last_write_time = 0;
  FileTime change_time = 0;
  uint64_t allocation_size = 0;
  uint64_t end_of_file = 0;
  uint32_t file_attributes = 0;
  FileId file_id;
  uint32_t create_contexts_offset = 0;  // from the header
  uint32_t create_contexts_length = 0;
  std::optional<MaximalAccessResponse> maximal_access;
  std::optional<OnDiskIdResponse> on_disk_id;
  std::optional<LeaseResponse> lease;
  std::optional<DurableHandleResponseV2> durable_v2;
  uint32_t other_contexts = 0;  // contexts with other names (skipped)
};

// Decodes a CREATE response (and its contexts) from a reader over the whole message.
absl::StatusOr<CreateResponse> DecodeCreateResponse(WireReader message);

// One context of a chain: its name (the first 16 bytes; name_length is the real length) and
// where its data lies, counted from the start of the message.
struct CreateContextView {
  uint8_t name[16] = {};
  uint16_t name_length = 0;
  uint64_t data_offset = 0;
  uint32_t data_length = 0;
  absl::string_view short_name() const {
    return absl::string_view(reinterpret_cast<const char*>(name),
                             name_length < 16 ? name_length : 16);
  }
};

// Walks the context chain at [offset, offset + length) of `message` (offset from the header),
// calling `visit` for each context. DataLoss when the chain is malformed: an offset outside the
// body or not 8-aligned, a Next that is not 8-aligned, smaller than a context header (so that
// contexts would overlap or loop) or past the end, a name or data outside its context.
absl::Status ForEachCreateContext(const WireReader& message, uint64_t offset, uint64_t length,
                                  absl::string_view what,
                                  absl::FunctionRef<absl::Status(const CreateContextView&)> visit);

}  // namespace smbd

#endif  // SMBD_SMB2_PDU_CREATE_H_
