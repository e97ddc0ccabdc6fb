// CREATE requests and the CREATE + related request + CLOSE compound that stat, small reads and
// the path operations share ([MS-SMB2] 3.2.4.1.4: the related members name the handle the
// CREATE opened by the all-ones FileId). Internal to smb2/client.
#ifndef SMBD_SMB2_CLIENT_CREATE_COMPOUND_H_
#define SMBD_SMB2_CLIENT_CREATE_COMPOUND_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "buffers/wire.h"
#include "smb2/client/context.h"
#include "smb2/client/types.h"
#include "smb2/message.h"
#include "smb2/pdu/create.h"

namespace smbd {
namespace client_internal {

// A path as SMB2 wants it: backslashes, no leading separator.
std::string SmbPath(absl::string_view path);

// The CREATE for opening `name` as `options` asks. The request refers to `name`, which must
// outlive it (so must DeleteCreate's).
CreateRequest MakeCreate(const OpenOptions& options, absl::string_view name);

// A CREATE that opens `name` for deletion (or renaming): DELETE access, file or directory.
CreateRequest DeleteCreate(absl::string_view name, bool directory);

// The request between the CREATE and the CLOSE.
struct RelatedRequest {
  Command command = Command::kQueryInfo;
  // Payload bytes its answer may carry (for the credit charge).
  uint64_t payload = 0;
  std::function<absl::Status(WireWriter*)> encode;
};

// The three members once answered; `related` is null when there was none.
struct CreateCompound {
  SmbMessageRef create;
  SmbMessageRef related;
  SmbMessageRef close;
};

// Sends CREATE, `related` (if given) and CLOSE (with `close_flags`, e.g. POSTQUERY_ATTRIB) as
// one compound and waits for all three. The caller reads each member's NTSTATUS: a failed
// CREATE makes the others fail with it ([MS-SMB2] 3.3.5.2.7.2).
absl::StatusOr<CreateCompound> RunCreateCompound(ClientContext* context, uint64_t session_id,
                                                 uint32_t tree_id, const CreateRequest& create,
                                                 const RelatedRequest* related,
                                                 uint16_t close_flags = 0);

}  // namespace client_internal
}  // namespace smbd

#endif  // SMBD_SMB2_CLIENT_CREATE_COMPOUND_H_
