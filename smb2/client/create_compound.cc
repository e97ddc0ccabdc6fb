#include "smb2/client/create_compound.h"

#include <algorithm>

#include "base/status_macros.h"
#include "smb2/compound.h"
#include "smb2/pdu/close.h"

namespace smbd {
namespace client_internal {

std::string SmbPath(absl::string_view path) {
  std::string p(path);
  std::replace(p.begin(), p.end(), '/', '\\');
  while (!p.empty() && p.front() == '\\') p.erase(p.begin());
  return p;
}

CreateRequest MakeCreate(const OpenOptions& o, absl::string_view name) {
  CreateRequest req;
  req.name = name;
  req.desired_access = kFileReadAttributes | kSynchronize |
                       (o.read ? (o.directory ? kFileReadData : kFileReadData | kFileReadEa) : 0) |
                       (o.write ? kFileWriteData | kFileAppendData | kFileWriteAttributes : 0);
  req.share_access = kShareRead | kShareWrite | kShareDelete;
  req.create_disposition = o.disposition;
  req.create_options = o.directory ? kFileDirectoryFile : kFileNonDirectoryFile;
  req.file_attributes = o.directory ? kFileAttributeDirectory : kFileAttributeNormal;
  return req;
}

CreateRequest DeleteCreate(absl::string_view name, bool directory) {
  OpenOptions oo;
  oo.read = false;
  oo.directory = directory;
  CreateRequest create = MakeCreate(oo, name);
  create.desired_access = kDelete | kFileReadAttributes | kSynchronize;
  create.file_attributes = 0;
  return create;
}

absl::StatusOr<CreateCompound> RunCreateCompound(ClientContext* context, uint64_t session_id,
                                                 uint32_t tree_id, const CreateRequest& create,
                                                 const RelatedRequest* related,
                                                 uint16_t close_flags) {
  CreateCompound c;
  c.create = context->NewMessage(Command::kCreate, session_id, tree_id);
  c.close = context->NewMessage(Command::kClose, session_id, tree_id);
  if (related != nullptr) {
    c.related = context->NewMessage(related->command, session_id, tree_id, related->payload);
    c.create->next = c.related;
    c.related->next = c.close;
  } else {
    c.create->next = c.close;
  }
  CloseRequest close;
  close.file_id = FileId::Related();
  close.flags = close_flags;
  // Each member is encoded on its own; Submit splices them into one frame (JoinCompound).
  SMBD_RETURN_IF_ERROR(EncodeOne(c.create.get(), *context,
                                 [&](WireWriter* w) { return EncodeCreateRequest(create, w); }));
  if (related != nullptr) {
    SMBD_RETURN_IF_ERROR(EncodeOne(c.related.get(), *context,
                                   [&](WireWriter* w) { return related->encode(w); }));
    c.related->header.flags |= kFlagRelatedOperations;
  }
  SMBD_RETURN_IF_ERROR(
      EncodeOne(c.close.get(), *context, [&](WireWriter* w) { EncodeCloseRequest(close, w); }));
  c.close->header.flags |= kFlagRelatedOperations;
  SMBD_RETURN_IF_ERROR(context->RoundTrip(c.create));
  return c;
}

}  // namespace client_internal
}  // namespace smbd
