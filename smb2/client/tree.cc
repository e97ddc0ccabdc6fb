#include "smb2/client/tree.h"

#include <arpa/inet.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "smb2/client/context.h"
#include "smb2/client/create_compound.h"
#include "smb2/client/file_info.h"
#include "smb2/client/session.h"
#include "smb2/ntstatus.h"
#include "smb2/pdu/close.h"
#include "smb2/pdu/create.h"
#include "smb2/pdu/ioctl.h"
#include "smb2/pdu/query_directory.h"
#include "smb2/pdu/query_info.h"
#include "smb2/pdu/read.h"
#include "smb2/pdu/set_info.h"
#include "smb2/pdu/tree_disconnect.h"

namespace smbd {

using client_internal::ClientContext;
using client_internal::CreateCompound;
using client_internal::EncodeOne;
using client_internal::MakeFileInfo;
using client_internal::Reader;
using client_internal::RelatedRequest;
using client_internal::ResponseStatus;
using client_internal::RunCreateCompound;
using client_internal::SmbPath;

Tree::Tree(ClientContext* context, Session* session, uint32_t id, bool encrypted,
           absl::string_view share)
    : context_(context), session_(session), id_(id), encrypt_(encrypted), share_(share) {
  std::lock_guard<std::mutex> l(context_->registry_mutex());
  session_->AddTree(this);
}

Tree::~Tree() {
  if (!disconnected_) (void)DisconnectImpl(false);  // no reconnect from a destructor
  std::lock_guard<std::mutex> l(context_->registry_mutex());
  session_->RemoveTree(this);
}

void Tree::AddFile(File* file) { files_.push_back(file); }

void Tree::RemoveFile(File* file) {
  files_.erase(std::remove(files_.begin(), files_.end(), file), files_.end());
}

void Tree::Lose(const absl::Status& why) {
  lost_.Set(why);
  for (File* f : files_) f->Lose(why);
}

absl::Status Tree::Reestablish() {
  if (disconnected_ || !lost_.status().ok()) return absl::OkStatus();
  absl::StatusOr<Session::Connected> c = session_->ConnectTree(share_);
  if (c.ok() && c->encrypt != encrypt_ && !session_->seals()) {
    c = absl::PermissionDeniedError("the share's encryption setting changed");
  }
  if (!c.ok()) {
    if (!context_->connection()->status().ok() || absl::IsDeadlineExceeded(c.status()) ||
        absl::IsUnavailable(c.status())) {
      return c.status();  // the network again: the attempt is retried
    }
    Lose(absl::Status(c.status().code(), absl::StrCat("share ", share_,
                                                      " lost in a reconnect: ", c.status().message())));
    return absl::OkStatus();
  }
  id_.store(c->tree_id, std::memory_order_release);
  for (File* f : files_) SMBD_RETURN_IF_ERROR(f->Reopen());
  return absl::OkStatus();
}

absl::Status Tree::Disconnect() { return DisconnectImpl(true); }

absl::Status Tree::DisconnectImpl(bool may_reconnect) {
  if (disconnected_) return absl::OkStatus();
  absl::Status lost = lost_.status();
  if (!lost.ok()) {
    disconnected_ = true;
    return absl::OkStatus();  // nothing left at the server to disconnect
  }
  auto disconnect = [&]() -> absl::Status {
    Connection* connection = context_->connection();
    if (!connection->status().ok()) return connection->status();
    return context_->Exchange(Command::kTreeDisconnect, session_->id(), id(),
                              EncodeTreeDisconnectRequest, "TREE_DISCONNECT");
  };
  absl::Status s =
      may_reconnect ? context_->Resilient(true, "TREE_DISCONNECT", disconnect) : disconnect();
  disconnected_ = true;
  return s;
}

absl::StatusOr<std::unique_ptr<File>> Tree::Open(absl::string_view path,
                                                 const OpenOptions& options) {
  SMBD_RETURN_IF_ERROR(lost_.status());
  // CreateGuid ([MS-SMB2] 3.2.4.3.5): the same on a replay, so that a CREATE the server did
  // before the drop is recognized rather than done twice.
  const client_internal::LeaseKey create_guid = client_internal::LeaseTable::NewKey();
  // And the same lease key: a server that recognizes the replay returns the open's lease.
  const client_internal::LeaseKey lease_key = client_internal::LeaseTable::NewKey();
  // Opening again is harmless except where it must create the file (the first run may have;
  // whether the server recognizes a replay by the CreateGuid is not counted on).
  const bool idempotent = options.disposition != kFileCreate;
  return context_->Resilient(idempotent, absl::StrCat("CREATE ", path), [&] {
    return OpenOnce(path, options, create_guid, lease_key);
  });
}

absl::StatusOr<std::unique_ptr<File>> Tree::OpenOnce(absl::string_view path,
                                                     const OpenOptions& options,
                                                     const std::array<uint8_t, 16>& create_guid,
                                                     const std::array<uint8_t, 16>& lease_key) {
  const uint64_t generation = context_->generation();
  const std::string name = SmbPath(path);
  CreateRequest req = client_internal::MakeCreate(options, name);
  const uint16_t dialect = context_->negotiated().dialect;
  std::shared_ptr<client_internal::Lease> lease;
  // [MS-SMB2] 3.2.4.3.8: leases only where the server supports leasing (its NEGOTIATE
  // capability); elsewhere the open simply gets none.
  const bool leasing = (context_->negotiated().server_capabilities & kCapLeasing) != 0;
  if (options.lease != 0 && dialect < kDialect210) {
    return absl::FailedPreconditionError("leases need SMB 2.1 or later");
  }
  if (options.lease != 0 && leasing) {
    lease = std::make_shared<client_internal::Lease>();
    lease->key = lease_key;
    lease->session_id.store(session_->id());
    lease->tree_id.store(id());
    lease->sealed_session = session_->seals() || encrypt_;
    LeaseRequest lr;
    lr.version = dialect >= kDialect300 ? 2 : 1;
    std::copy(lease->key.begin(), lease->key.end(), lr.key);
    lr.state = options.lease & (lease::kRead | lease::kHandle | lease::kWrite);
    lease->state.store(lr.state);
    req.oplock_level = kOplockLevelLease;
    req.lease = lr;
  }
  if (options.durable_timeout > absl::ZeroDuration()) {
    if (dialect < kDialect300) {
      return absl::FailedPreconditionError("durable handles (v2) need SMB 3.0 or later");
    }
    DurableHandleRequestV2 d;
    d.timeout_ms = static_cast<uint32_t>(
        std::min<int64_t>(absl::ToInt64Milliseconds(options.durable_timeout), UINT32_MAX));
    // CreateGuid: identifies this open across a reconnect and a replayed CREATE
    // ([MS-SMB2] 3.2.4.3.5).
    std::copy(create_guid.begin(), create_guid.end(), d.create_guid);
    req.durable_v2 = d;
  }
  SmbMessageRef m = context_->NewMessage(Command::kCreate, session_->id(), id());
  SMBD_RETURN_IF_ERROR(EncodeOne(m.get(), *context_,
                                 [&](WireWriter* w) { return EncodeCreateRequest(req, w); }));
  // Registered before the request goes out: a break can come right after the answer.
  if (lease != nullptr) context_->leases()->Add(lease);
  absl::Status sent = context_->RoundTrip(m);
  if (sent.ok()) sent = ResponseStatus(*m, absl::StrCat("CREATE ", path));
  absl::StatusOr<CreateResponse> resp =
      sent.ok() ? DecodeCreateResponse(Reader(*m)) : absl::StatusOr<CreateResponse>(sent);
  if (!resp.ok()) {
    if (lease != nullptr) context_->leases()->Remove(lease->key);
    return resp.status();
  }
  uint32_t durable_ms = 0;
  if (lease != nullptr) {
    // The server may grant less than asked, or no lease (no RqLs context, another oplock level).
    const bool granted = resp->oplock_level == kOplockLevelLease && resp->lease.has_value() &&
                         std::equal(lease->key.begin(), lease->key.end(), resp->lease->key);
    context_->leases()->Granted(lease.get(), granted ? resp->lease->state : 0,
                                granted ? resp->lease->epoch : 0);
  }
  if (req.durable_v2.has_value() && resp->durable_v2.has_value()) {
    durable_ms = std::max<uint32_t>(resp->durable_v2->timeout_ms, 1);
  }
  client_internal::ReopenInfo reopen;
  reopen.path = name;
  reopen.options = options;
  reopen.create_guid = create_guid;
  auto file = std::make_unique<File>(context_, this, resp->file_id, resp->end_of_file,
                                     std::move(lease), durable_ms, std::move(reopen));
  if (context_->generation() != generation) {
    // Opened on a connection that dropped before the file was listed for the reconnect: reopen
    // it here (a durable handle), or open again. (Should yet another drop start a reconnect
    // meanwhile, that one waits for this lock, and this reopen for it, until the request
    // timeout ends the wait: the handle is then lost, with that error.)
    if (durable_ms == 0) {
      if (options.disposition == kFileCreate) {
        // Opening again would fail (the file now exists) and change the answer.
        file->Lose(absl::AbortedError("handle lost in a reconnect: it was not durable"));
        return absl::AbortedError(absl::StrCat(
            "CREATE ", path, ": the file was created, but the connection dropped before the "
            "handle could be kept (not durable); open it again"));
      }
      return client_internal::RetryAfterReconnect("CREATE");
    }
    std::lock_guard<std::mutex> l(context_->registry_mutex());
    SMBD_RETURN_IF_ERROR(file->Reopen());
    SMBD_RETURN_IF_ERROR(file->lost_.status());
  }
  return file;
}

absl::StatusOr<std::vector<ServerInterface>> Tree::QueryNetworkInterfaces() {
  SMBD_RETURN_IF_ERROR(lost_.status());
  return context_->Resilient(
      true, "FSCTL_QUERY_NETWORK_INTERFACE_INFO",
      [&]() -> absl::StatusOr<std::vector<ServerInterface>> {
  IoctlRequest req;
  req.ctl_code = kFsctlQueryNetworkInterfaceInfo;
  req.max_output_response = 64 << 10;
  SmbMessageRef m = context_->NewMessage(Command::kIoctl, session_->id(), id(), 64 << 10);
  SMBD_RETURN_IF_ERROR(EncodeOne(m.get(), *context_, [&](WireWriter* w) {
    EncodeIoctlRequest(req, w);
  }));
  SMBD_RETURN_IF_ERROR(context_->RoundTrip(m));
  SMBD_RETURN_IF_ERROR(ResponseStatus(*m, "FSCTL_QUERY_NETWORK_INTERFACE_INFO"));
  SMBD_ASSIGN_OR_RETURN(IoctlResponse resp, DecodeIoctlResponse(Reader(*m)));
  SMBD_ASSIGN_OR_RETURN(WireReader out, IoctlOutput(Reader(*m), resp));
  SMBD_ASSIGN_OR_RETURN(std::vector<NetworkInterfaceInfo> list, DecodeNetworkInterfaceInfo(out));
  std::vector<ServerInterface> interfaces;
  interfaces.reserve(list.size());
  for (const NetworkInterfaceInfo& i : list) {
    ServerInterface s;
    s.if_index = i.if_index;
    s.rss = (i.capability & kInterfaceRssCapable) != 0;
    s.rdma = (i.capability & kInterfaceRdmaCapable) != 0;
    s.link_speed_bps = i.link_speed;
    char text[INET6_ADDRSTRLEN] = {};
    const int af = i.family == kInterNetworkV6 ? AF_INET6 : AF_INET;
    if (inet_ntop(af, i.address, text, sizeof(text)) != nullptr) s.address = text;
    // A link-local IPv6 address is usable only with its scope.
    if (af == AF_INET6 && i.scope_id != 0) absl::StrAppend(&s.address, "%", i.scope_id);
    interfaces.push_back(std::move(s));
  }
  return interfaces;
      });
}

absl::StatusOr<FileInfo> Tree::Stat(absl::string_view path) {
  SMBD_RETURN_IF_ERROR(lost_.status());
  return context_->Resilient(true, "stat", [&]() -> absl::StatusOr<FileInfo> {
  OpenOptions oo;
  oo.read = false;
  const std::string name = SmbPath(path);
  CreateRequest create = client_internal::MakeCreate(oo, name);
  create.create_options = 0;  // a file or a directory
  create.file_attributes = 0;
  QueryInfoRequest q;
  q.info_type = kInfoFile;
  q.file_info_class = kFileAllInformation;
  q.output_buffer_length = 4096;
  q.file_id = FileId::Related();
  RelatedRequest query{Command::kQueryInfo, q.output_buffer_length, [&](WireWriter* w) {
                         EncodeQueryInfoRequest(q, w);
                         return absl::OkStatus();
                       }};
  SMBD_ASSIGN_OR_RETURN(CreateCompound c,
                        RunCreateCompound(context_, session_->id(), id(), create, &query));
  SMBD_RETURN_IF_ERROR(ResponseStatus(*c.create, absl::StrCat("CREATE ", path)));
  SMBD_RETURN_IF_ERROR(DecodeCreateResponse(Reader(*c.create)).status());
  SMBD_RETURN_IF_ERROR(ResponseStatus(*c.related, absl::StrCat("QUERY_INFO ", path)));
  SMBD_ASSIGN_OR_RETURN(QueryInfoResponse qr, DecodeQueryInfoResponse(Reader(*c.related)));
  SMBD_ASSIGN_OR_RETURN(WireReader buf,
                        Reader(*c.related).Sub(qr.output_buffer_offset, qr.output_buffer_length));
  SMBD_ASSIGN_OR_RETURN(FileAllInfo all, DecodeFileAllInformation(buf));
  return MakeFileInfo(std::string(path), all);
  });
}

absl::StatusOr<uint32_t> Tree::ReadSmallFile(absl::string_view path, absl::Span<uint8_t> dst) {
  return ReadSmallFileTo(path, static_cast<uint32_t>(std::min<size_t>(dst.size(), UINT32_MAX)),
                         [&](uint32_t n) { return dst.subspan(0, n); });
}

absl::StatusOr<std::string> Tree::ReadSmallFile(absl::string_view path, uint32_t max_bytes) {
  std::string out;
  SMBD_ASSIGN_OR_RETURN(uint32_t n, ReadSmallFileTo(path, max_bytes, [&](uint32_t n) {
                          out.resize(n);
                          return absl::MakeSpan(reinterpret_cast<uint8_t*>(out.data()), n);
                        }));
  out.resize(n);
  return out;
}

absl::StatusOr<uint32_t> Tree::ReadSmallFileTo(
    absl::string_view path, uint32_t max_bytes,
    absl::FunctionRef<absl::Span<uint8_t>(uint32_t)> dest) {
  SMBD_RETURN_IF_ERROR(lost_.status());
  return context_->Resilient(true, "read", [&]() -> absl::StatusOr<uint32_t> {
  // Inline in a compound frame: within the transport's frame limit too.
  const uint64_t frame = context_->transport()->limits().max_receive_frame;
  const uint32_t len = static_cast<uint32_t>(std::min<uint64_t>(
      {max_bytes, context_->MaxRead(false), frame > 2048 ? frame - 2048 : 4096}));
  ReadRequest rr;
  rr.length = len;
  rr.file_id = FileId::Related();
  RelatedRequest read{Command::kRead, len, [&](WireWriter* w) {
                        EncodeReadRequest(rr, w);
                        return absl::OkStatus();
                      }};
  // POSTQUERY_ATTRIB ([MS-SMB2] 2.2.15): the CLOSE answer has the size, to tell whether the
  // file was longer than what was read.
  constexpr uint16_t kClosePostqueryAttrib = 1;
  const std::string name = SmbPath(path);
  SMBD_ASSIGN_OR_RETURN(CreateCompound c,
                        RunCreateCompound(context_, session_->id(), id(),
                                          client_internal::MakeCreate(OpenOptions(), name), &read,
                                          kClosePostqueryAttrib));
  SMBD_RETURN_IF_ERROR(ResponseStatus(*c.create, absl::StrCat("CREATE ", path)));
  uint32_t got = 0;
  if (c.related->response_header.status != ntstatus::kEndOfFile) {
    SMBD_RETURN_IF_ERROR(ResponseStatus(*c.related, absl::StrCat("READ ", path)));
    SMBD_ASSIGN_OR_RETURN(ReadResponse resp, DecodeReadResponse(Reader(*c.related)));
    if (resp.data_length > len) {
      return absl::DataLossError(absl::StrCat("READ ", path, ": the server sent ",
                                              resp.data_length, " bytes for ", len, " asked"));
    }
    SMBD_ASSIGN_OR_RETURN(BvecqIter it,
                          c.related->response.Range(resp.data_offset, resp.data_length));
    got = static_cast<uint32_t>(it.CopyOut(dest(resp.data_length)));
  }
  SMBD_ASSIGN_OR_RETURN(CloseResponse cr, DecodeCloseResponse(Reader(*c.close)));
  if (cr.end_of_file > got) {
    return absl::OutOfRangeError(
        absl::StrCat(path, " is ", cr.end_of_file, " bytes, more than the ", len, " read"));
  }
  context_->counters().CountRead(got, false);
  context_->counters().bytes_copied += got;
  return got;
  });
}

absl::Status Tree::ListEach(absl::string_view dir,
                            const std::function<absl::Status(const FileInfo&)>& visit) {
  SMBD_RETURN_IF_ERROR(lost_.status());
  // Not run again after a drop: the visitor has seen part of the listing.
  return context_->Resilient(false, absl::StrCat("listing ", dir),
                             [&] { return ListEachOnce(dir, visit); });
}

absl::Status Tree::ListEachOnce(absl::string_view dir,
                                const std::function<absl::Status(const FileInfo&)>& visit) {
  OpenOptions oo;
  oo.directory = true;
  SMBD_ASSIGN_OR_RETURN(std::unique_ptr<File> d, Open(dir, oo));
  int empty_rounds = 0;
  for (int round = 0;; ++round) {
    SmbMessageRef m = context_->NewMessage(Command::kQueryDirectory, session_->id(), id(), 65536);
    QueryDirectoryRequest q;
    q.file_id = d->id();
    q.flags = round == 0 ? kQueryDirRestartScans : 0;
    q.output_buffer_length = 65536;
    SMBD_RETURN_IF_ERROR(EncodeOne(m.get(), *context_, [&](WireWriter* w) {
      return EncodeQueryDirectoryRequest(q, w);
    }));
    SMBD_RETURN_IF_ERROR(context_->RoundTrip(m));
    if (m->response_header.status == ntstatus::kNoMoreFiles) break;
    SMBD_RETURN_IF_ERROR(ResponseStatus(*m, absl::StrCat("QUERY_DIRECTORY ", dir)));
    SMBD_ASSIGN_OR_RETURN(QueryDirectoryResponse resp, DecodeQueryDirectoryResponse(Reader(*m)));
    SMBD_ASSIGN_OR_RETURN(DirectoryEntryIterator it,
                          DirectoryEntryIterator::Create(Reader(*m), resp));
    DirectoryEntry e;
    int entries = 0;  // visited: "." and ".." alone are no progress
    while (true) {
      SMBD_ASSIGN_OR_RETURN(bool more, it.Next(&e));
      if (!more) break;
      if (e.name == "." || e.name == "..") continue;
      ++entries;
      SMBD_RETURN_IF_ERROR(visit(MakeFileInfo(std::move(e.name), e, e)));
    }
    // A server answering SUCCESS with nothing new in it, again and again, never ends the
    // listing.
    empty_rounds = entries == 0 ? empty_rounds + 1 : 0;
    if (empty_rounds > 16) {
      return absl::DataLossError(
          absl::StrCat("QUERY_DIRECTORY ", dir, ": the server keeps answering with no entries"));
    }
  }
  return d->Close();
}

absl::StatusOr<std::vector<FileInfo>> Tree::List(absl::string_view dir) {
  const ClientOptions& o = context_->options();
  std::vector<FileInfo> out;
  uint64_t bytes = 0;
  SMBD_RETURN_IF_ERROR(lost_.status());
  // A listing cut by a drop starts again: what it collected so far is dropped.
  SMBD_RETURN_IF_ERROR(context_->Resilient(true, absl::StrCat("listing ", dir), [&] {
    out.clear();
    bytes = 0;
    return ListEachOnce(dir, [&](const FileInfo& fi) {
    bytes += sizeof(FileInfo) + fi.name.size();
    if (out.size() >= o.max_list_entries || bytes > o.max_list_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "listing ", dir, ": more than ", out.size(), " entries (", bytes,
          " bytes; ClientOptions::max_list_entries ", o.max_list_entries, ", max_list_bytes ",
          o.max_list_bytes, "); use Tree::ListEach to stream a directory this large"));
    }
    out.push_back(fi);
    return absl::OkStatus();
    });
  }));
  return out;
}

absl::Status Tree::Mkdir(absl::string_view path) {
  OpenOptions oo;
  oo.directory = true;
  oo.read = false;
  oo.disposition = kFileCreate;
  const std::string name = SmbPath(path);
  SMBD_RETURN_IF_ERROR(lost_.status());
  return context_->Resilient(false, absl::StrCat("mkdir ", path), [&]() -> absl::Status {
    SMBD_ASSIGN_OR_RETURN(CreateCompound c,
                          RunCreateCompound(context_, session_->id(), id(),
                                            client_internal::MakeCreate(oo, name),
                                            /*related=*/nullptr));
    return ResponseStatus(*c.create, absl::StrCat("CREATE (mkdir) ", path));
  });
}

namespace {

// Every member's NTSTATUS, the first failure named by its command.
absl::Status CompoundStatus(const CreateCompound& c, absl::string_view what) {
  SMBD_RETURN_IF_ERROR(ResponseStatus(*c.create, absl::StrCat("CREATE ", what)));
  SMBD_RETURN_IF_ERROR(ResponseStatus(
      *c.related, absl::StrCat(CommandName(c.related->header.command), " ", what)));
  return ResponseStatus(*c.close, absl::StrCat("CLOSE ", what));
}

}  // namespace

absl::Status Tree::DeletePath(absl::string_view path, bool directory) {
  RelatedRequest dispose{Command::kSetInfo, 0, [](WireWriter* w) {
                           EncodeSetDispositionRequest(FileId::Related(), true, w);
                           return absl::OkStatus();
                         }};
  const std::string name = SmbPath(path);
  SMBD_RETURN_IF_ERROR(lost_.status());
  return context_->Resilient(false, absl::StrCat("delete ", path), [&]() -> absl::Status {
    SMBD_ASSIGN_OR_RETURN(CreateCompound c,
                          RunCreateCompound(context_, session_->id(), id(),
                                            client_internal::DeleteCreate(name, directory),
                                            &dispose));
    return CompoundStatus(c, path);
  });
}

absl::Status Tree::Rmdir(absl::string_view path) { return DeletePath(path, true); }

absl::Status Tree::Delete(absl::string_view path) { return DeletePath(path, false); }

absl::Status Tree::Rename(absl::string_view from, absl::string_view to, bool replace) {
  const std::string name = SmbPath(from);
  const std::string target = SmbPath(to);
  CreateRequest create = client_internal::DeleteCreate(name, false);
  create.create_options = 0;  // files and directories
  RelatedRequest rename{Command::kSetInfo, 0, [&](WireWriter* w) {
                          return EncodeSetRenameRequest(FileId::Related(), target, replace, w);
                        }};
  SMBD_RETURN_IF_ERROR(lost_.status());
  return context_->Resilient(false, absl::StrCat("rename ", from), [&]() -> absl::Status {
    SMBD_ASSIGN_OR_RETURN(CreateCompound c,
                          RunCreateCompound(context_, session_->id(), id(), create, &rename));
    return CompoundStatus(c, from);
  });
}

}  // namespace smbd
