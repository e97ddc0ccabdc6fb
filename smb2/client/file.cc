#include "smb2/client/file.h"

#include <algorithm>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "smb2/client/context.h"
#include "smb2/client/file_info.h"
#include "smb2/client/pipeline.h"
#include "smb2/client/session.h"
#include "smb2/client/tree.h"
#include "smb2/ntstatus.h"
#include "smb2/client/create_compound.h"
#include "smb2/pdu/close.h"
#include "smb2/pdu/create.h"
#include "smb2/pdu/flush.h"
#include "smb2/pdu/lock.h"
#include "smb2/pdu/query_info.h"
#include "smb2/pdu/read.h"
#include "smb2/pdu/set_info.h"
#include "smb2/pdu/write.h"

namespace smbd {

using client_internal::ClientContext;
using client_internal::EncodeOne;
using client_internal::PipelineCalls;
using client_internal::PipelineStep;
using client_internal::Reader;
using client_internal::ResponseStatus;

namespace {

struct AlignedDelete {
  void operator()(uint8_t* p) const { ::operator delete[](p, std::align_val_t(kPageSize)); }
};

// A completed READ's byte count, its data landed in dst. Inline data the transport placed is
// already there; otherwise it is copied out of the answer.
absl::StatusOr<uint32_t> ReadResult(SmbMessage* m, absl::Span<uint8_t> dst, bool rdma,
                                    client_internal::IoCounters& counters) {
  if (m->response_header.status == ntstatus::kEndOfFile) return 0;
  SMBD_RETURN_IF_ERROR(NtStatusToStatus(m->response_header.status, "READ"));
  SMBD_ASSIGN_OR_RETURN(ReadResponse resp, DecodeReadResponse(Reader(*m)));
  if (rdma && resp.data_length == 0) {
    // [MS-SMB2] 3.3.5.12: over RDMA, DataLength is 0 and DataRemaining is what the server
    // wrote into the registered buffer. More than we registered cannot have been written.
    if (resp.data_remaining > dst.size()) {
      return absl::DataLossError(absl::StrCat("READ over RDMA claims ", resp.data_remaining,
                                              " bytes placed in a ", dst.size(), "-byte buffer"));
    }
    return resp.data_remaining;
  }
  if (resp.data_length > dst.size()) {
    return absl::DataLossError(
        absl::StrCat("READ returned ", resp.data_length, " bytes for a request of ", dst.size()));
  }
  if (resp.data_length > 0) {
    SMBD_ASSIGN_OR_RETURN(BvecqIter it, m->response.Range(resp.data_offset, resp.data_length));
    // Placed by the transport straight into dst: nothing to copy.
    if (it.Peek().data() != dst.data()) {
      it.CopyOut(dst.subspan(0, resp.data_length));
      counters.bytes_copied += resp.data_length;
    } else {
      counters.bytes_placed += resp.data_length;
    }
  }
  return resp.data_length;
}

// A READ's result once its message completed: the registration (if any) is dropped first, so
// the server cannot reach dst any more by the time anyone hears of it; then counted.
absl::StatusOr<uint32_t> EndRead(SmbMessage* m, absl::Span<uint8_t> dst,
                                 client_internal::IoCounters& counters) {
  const bool rdma = m->rdma != nullptr;
  absl::StatusOr<uint32_t> r =
      m->result().ok() ? ReadResult(m, dst, rdma, counters)
                       : absl::StatusOr<uint32_t>(m->result());
  m->rdma.reset();
  if (r.ok()) counters.CountRead(*r, rdma);
  return r;
}

// A completed WRITE's result: the registration dropped, the caller's memory let go, the count
// checked against `expected` and counted.
absl::Status EndWrite(SmbMessage* m, uint32_t expected, client_internal::IoCounters& counters) {
  // Answered or given up: the server reaches the source no more, and the request no longer
  // references the caller's memory.
  const bool rdma = m->rdma != nullptr;
  m->rdma.reset();
  m->request.Clear();
  SMBD_RETURN_IF_ERROR(m->result());
  SMBD_RETURN_IF_ERROR(ResponseStatus(*m, "WRITE"));
  SMBD_ASSIGN_OR_RETURN(WriteResponse resp, DecodeWriteResponse(Reader(*m)));
  if (resp.count != expected) {
    return absl::DataLossError(absl::StrCat("WRITE wrote ", resp.count, " of ", expected, " bytes"));
  }
  counters.CountWrite(resp.count, rdma);
  return absl::OkStatus();
}

}  // namespace

File::File(ClientContext* context, Tree* tree, const FileId& id, uint64_t size_at_open,
           std::shared_ptr<client_internal::Lease> lease, uint32_t durable_timeout_ms,
           client_internal::ReopenInfo reopen)
    : context_(context),
      tree_(tree),
      persistent_id_(id.persistent),
      volatile_id_(id.volatile_id),
      size_at_open_(size_at_open),
      lease_(std::move(lease)),
      durable_timeout_ms_(durable_timeout_ms),
      reopen_(std::move(reopen)) {
  std::lock_guard<std::mutex> l(context_->registry_mutex());
  tree_->AddFile(this);
}

File::~File() {
  // Never a reconnect from a destructor: after an outage that already failed, tearing objects
  // down must not wait for another one per object.
  if (!closed_) (void)CloseImpl(false);
  std::lock_guard<std::mutex> l(context_->registry_mutex());
  tree_->RemoveFile(this);
}

void File::Lose(const absl::Status& why) {
  if (closed_ || !lost_.status().ok()) return;
  lost_.Set(why);
  context_->reconnect_counters().handles_lost++;
  if (lease_ != nullptr) context_->leases()->Remove(lease_->key);
}

absl::Status File::Reopen() {
  if (closed_ || !lost_.status().ok()) return absl::OkStatus();
  if (durable_timeout_ms_ == 0) {
    Lose(absl::AbortedError(
        "handle lost in a reconnect: it was not durable (OpenOptions::durable_timeout, granted "
        "only with a lease that caches handles)"));
    return absl::OkStatus();
  }
  // [MS-SMB2] 3.2.4.4: the original CREATE with an SMB2_CREATE_DURABLE_HANDLE_RECONNECT_V2
  // context (2.2.13.2.12: FileId, CreateGuid, Flags) instead of the request, and the same lease.
  CreateRequest req = client_internal::MakeCreate(reopen_.options, reopen_.path);
  const FileId old = id();
  uint8_t dh2c[36];
  WireWriter dw{absl::MakeSpan(dh2c)};
  dw.U64(old.persistent);
  dw.U64(old.volatile_id);
  dw.Bytes(absl::MakeConstSpan(reopen_.create_guid));
  dw.U32(0);  // Flags: not persistent
  SMBD_RETURN_IF_ERROR(dw.Finish());
  const CreateContext contexts[] = {{"DH2C", absl::MakeConstSpan(dh2c)}};
  req.extra_contexts = absl::MakeConstSpan(contexts);
  if (lease_ != nullptr) {
    LeaseRequest lr;
    lr.version = context_->negotiated().dialect >= kDialect300 ? 2 : 1;
    std::copy(lease_->key.begin(), lease_->key.end(), lr.key);
    lr.state = lease_->state.load();
    lr.epoch = lease_->epoch.load();
    req.oplock_level = kOplockLevelLease;
    req.lease = lr;
  }
  // The server lets go of the old connection's open on its own time (Samba: the process that
  // served it marks it disconnected once it notices the drop, or when PreviousSessionId makes it
  // close the session, and may be finishing a WRITE first); until then it does not know the open
  // as reconnectable and answers STATUS_OBJECT_NAME_NOT_FOUND. So that answer is retried, with
  // a backoff, within one budget shared by every reopen of the re-establishment (2 s), since it
  // also means the handle is gone for good.
  const absl::Time give_up = context_->reopen_patience();
  absl::Duration backoff = absl::Milliseconds(10);
  absl::StatusOr<CreateResponse> resp;
  while (true) {
    SmbMessageRef m =
        context_->NewMessage(Command::kCreate, tree_->session()->id(), tree_->id());
    SMBD_RETURN_IF_ERROR(EncodeOne(m.get(), *context_,
                                   [&](WireWriter* w) { return EncodeCreateRequest(req, w); }));
    absl::Status s = context_->RoundTrip(m);
    // The network again (or no answer): the attempt is retried; the handle is not given up.
    if (!s.ok() && (!context_->connection()->status().ok() || absl::IsDeadlineExceeded(s) ||
                    absl::IsUnavailable(s))) {
      return s;
    }
    if (s.ok() && m->response_header.status == ntstatus::kObjectNameNotFound &&
        absl::Now() + backoff < give_up) {
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Milliseconds(500));
      continue;
    }
    if (s.ok()) s = ResponseStatus(*m, absl::StrCat("CREATE (durable reconnect) ", reopen_.path));
    resp = s.ok() ? DecodeCreateResponse(Reader(*m)) : absl::StatusOr<CreateResponse>(s);
    break;
  }
  if (!resp.ok()) {
    Lose(absl::Status(resp.status().code(),
                      absl::StrCat("handle lost in a reconnect: the server did not reopen it (",
                                   resp.status().message(), ")")));
    return absl::OkStatus();
  }
  persistent_id_.store(resp->file_id.persistent, std::memory_order_release);
  volatile_id_.store(resp->file_id.volatile_id, std::memory_order_release);
  if (lease_ != nullptr) {
    lease_->session_id.store(tree_->session()->id());
    lease_->tree_id.store(tree_->id());
    // What the server holds for us now (it may have broken the lease while we were away).
    const bool granted = resp->oplock_level == kOplockLevelLease && resp->lease.has_value() &&
                         std::equal(lease_->key.begin(), lease_->key.end(), resp->lease->key);
    context_->leases()->Granted(lease_.get(), granted ? resp->lease->state : 0,
                                granted ? resp->lease->epoch : 0);
  }
  reopens_++;
  context_->reconnect_counters().handles_reopened++;
  return absl::OkStatus();
}

uint32_t File::lease_state() const { return lease_ != nullptr ? lease_->state.load() : 0; }
std::array<uint8_t, 16> File::lease_key() const {
  return lease_ != nullptr ? lease_->key : std::array<uint8_t, 16>{};
}
uint32_t File::lease_breaks() const { return lease_ != nullptr ? lease_->breaks.load() : 0; }

absl::Status File::Close() { return CloseImpl(true); }

absl::Status File::CloseImpl(bool may_reconnect) {
  if (closed_) return absl::OkStatus();
  // The lease ends with the handle (one lease key per open here): later breaks for it are
  // not ours to acknowledge.
  if (lease_ != nullptr) context_->leases()->Remove(lease_->key);
  // A handle lost in a reconnect has nothing left at the server to close; one whose CLOSE was
  // lost with the connection is reopened and closed again (or is found gone: closed).
  auto close = [&]() -> absl::Status {
    if (!lost_.status().ok()) return absl::OkStatus();
    Connection* connection = context_->connection();
    if (!connection->status().ok()) return connection->status();
    CloseRequest req;
    req.file_id = id();
    return context_->Exchange(
        Command::kClose, tree_->session()->id(), tree_->id(),
        [&](WireWriter* w) { EncodeCloseRequest(req, w); }, "CLOSE");
  };
  absl::Status s;
  if (may_reconnect) {
    s = context_->Resilient(true, "CLOSE", close);
  } else {
    s = close();
    // Held back while another thread re-established: the handle is open on the new connection
    // now, under its new id; close it there.
    if (client_internal::IsRetryAfterReconnect(s)) s = close();
  }
  closed_ = true;
  return s;
}

absl::StatusOr<FileInfo> File::Stat() {
  return context_->Resilient(true, "QUERY_INFO", [&]() -> absl::StatusOr<FileInfo> {
  SMBD_RETURN_IF_ERROR(lost_.status());
  SmbMessageRef m =
      context_->NewMessage(Command::kQueryInfo, tree_->session()->id(), tree_->id(), 4096);
  QueryInfoRequest q;
  q.info_type = kInfoFile;
  q.file_info_class = kFileAllInformation;
  q.output_buffer_length = 4096;
  q.file_id = id();
  SMBD_RETURN_IF_ERROR(EncodeOne(m.get(), *context_, [&](WireWriter* w) {
    EncodeQueryInfoRequest(q, w);
  }));
  SMBD_RETURN_IF_ERROR(context_->RoundTrip(m));
  SMBD_RETURN_IF_ERROR(ResponseStatus(*m, "QUERY_INFO"));
  SMBD_ASSIGN_OR_RETURN(QueryInfoResponse qr, DecodeQueryInfoResponse(Reader(*m)));
  SMBD_ASSIGN_OR_RETURN(WireReader buf,
                        Reader(*m).Sub(qr.output_buffer_offset, qr.output_buffer_length));
  SMBD_ASSIGN_OR_RETURN(FileAllInfo all, DecodeFileAllInformation(buf));
  std::string name = all.name;
  return client_internal::MakeFileInfo(std::move(name), all);
  });
}

absl::StatusOr<std::vector<FileNotification>> File::WaitForChanges(
    const ChangeNotifyOptions& options) {
  // Not waited for again after a drop: changes between the two waits would be missed unseen.
  return context_->Resilient(
      false, "CHANGE_NOTIFY", [&]() -> absl::StatusOr<std::vector<FileNotification>> {
  SMBD_RETURN_IF_ERROR(lost_.status());
  SmbMessageRef m = context_->NewMessage(Command::kChangeNotify, tree_->session()->id(),
                                         tree_->id(), options.buffer_bytes);
  ChangeNotifyRequest req;
  req.flags = options.watch_tree ? kWatchTree : 0;
  req.output_buffer_length = options.buffer_bytes;
  req.file_id = id();
  req.completion_filter = options.filter;
  SMBD_RETURN_IF_ERROR(EncodeOne(m.get(), *context_, [&](WireWriter* w) {
    EncodeChangeNotifyRequest(req, w);
  }));
  SMBD_RETURN_IF_ERROR(context_->Gate());
  Connection* connection = context_->connection();
  SMBD_RETURN_IF_ERROR(connection->Submit(m));
  const absl::Duration request_timeout = context_->options().request_timeout;
  const absl::Duration timeout =
      options.timeout > absl::ZeroDuration() ? options.timeout : request_timeout;
  absl::Status waited = m->Wait(timeout);
  bool timed_out = false;
  if (waited.code() == absl::StatusCode::kDeadlineExceeded) {
    // Nothing changed in time: cancel it ([MS-SMB2] 3.2.4.24) and wait for its end, so that the
    // server holds no request of ours and the credits come back.
    timed_out = true;
    SMBD_RETURN_IF_ERROR(connection->Cancel(m.get()));
    waited = m->Wait(request_timeout);
  }
  if (!waited.ok()) {
    connection->Abandon(m.get());
    return waited;
  }
  if (timed_out && m->response_header.status == ntstatus::kCancelled) {
    return absl::DeadlineExceededError(
        absl::StrCat("CHANGE_NOTIFY: no change within ", absl::FormatDuration(timeout)));
  }
  SMBD_RETURN_IF_ERROR(ResponseStatus(*m, "CHANGE_NOTIFY"));
  if (m->response_header.status == ntstatus::kNotifyEnumDir) {
    return std::vector<FileNotification>();
  }
  return DecodeChangeNotifyResponse(Reader(*m));
  });
}

absl::Status File::Truncate(uint64_t size) {
  // Setting the same size twice gives the same file.
  return context_->Resilient(true, "SET_INFO (end of file)", [&]() -> absl::Status {
    SMBD_RETURN_IF_ERROR(lost_.status());
    const FileId id = this->id();
    return context_->Exchange(
        Command::kSetInfo, tree_->session()->id(), tree_->id(),
        [&](WireWriter* w) { EncodeSetEndOfFileRequest(id, size, w); }, "SET_INFO (end of file)");
  });
}

absl::Status File::Flush() {
  return context_->Resilient(true, "FLUSH", [&]() -> absl::Status {
    SMBD_RETURN_IF_ERROR(lost_.status());
    FlushRequest req;
    req.file_id = id();
    return context_->Exchange(
        Command::kFlush, tree_->session()->id(), tree_->id(),
        [&](WireWriter* w) { EncodeFlushRequest(req, w); }, "FLUSH");
  });
}

absl::Status File::Lock(uint64_t offset, uint64_t length, const LockOptions& options) {
  LockElement element;
  element.offset = offset;
  element.length = length;
  // A wait of zero or less is no wait: fail at once (a request without FAIL_IMMEDIATELY must
  // have a bounded wait of its own, which ends in a CANCEL, never an abandoned request).
  const bool wait = options.wait && options.wait_timeout > absl::ZeroDuration();
  element.flags = (options.exclusive ? kLockFlagExclusive : kLockFlagShared) |
                  (wait ? 0 : kLockFlagFailImmediately);
  return LockExchange(element, options.exclusive ? "LOCK (exclusive)" : "LOCK (shared)",
                      wait ? options.wait_timeout : absl::ZeroDuration());
}

absl::Status File::Unlock(uint64_t offset, uint64_t length) {
  LockElement element;
  element.offset = offset;
  element.length = length;
  element.flags = kLockFlagUnlock;
  return LockExchange(element, "LOCK (unlock)", absl::ZeroDuration());
}

absl::Status File::LockExchange(const LockElement& element, const char* what,
                                absl::Duration wait) {
  // Not sent again after a drop in flight: a lock the server granted then (kept by a durable
  // handle) would conflict with its own second request, and an unlock done twice fails.
  return context_->Resilient(false, what, [&]() -> absl::Status {
  SMBD_RETURN_IF_ERROR(lost_.status());
  LockRequest req;
  req.file_id = id();
  req.locks = absl::MakeConstSpan(&element, 1);
  SmbMessageRef m = context_->NewMessage(Command::kLock, tree_->session()->id(), tree_->id());
  SMBD_RETURN_IF_ERROR(EncodeOne(m.get(), *context_, [&](WireWriter* w) {
    return EncodeLockRequest(req, w);
  }));
  if (wait == absl::ZeroDuration()) {
    // Fail-immediately locks and unlocks: the server answers at once.
    SMBD_RETURN_IF_ERROR(context_->RoundTrip(m));
  } else {
    // A waiting lock: the server sends STATUS_PENDING and answers when the range is free
    // ([MS-SMB2] 3.3.4.2), so the wait is ours to bound, as WaitForChanges does.
    SMBD_RETURN_IF_ERROR(context_->Gate());
    Connection* connection = context_->connection();
    SMBD_RETURN_IF_ERROR(connection->Submit(m));
    absl::Status waited = m->Wait(wait);
    bool timed_out = false;
    if (waited.code() == absl::StatusCode::kDeadlineExceeded) {
      timed_out = true;
      SMBD_RETURN_IF_ERROR(connection->Cancel(m.get()));
      waited = m->Wait(context_->options().request_timeout);
    }
    if (!waited.ok()) {
      // Not even the cancel was answered: whether the server holds the lock is unknown; closing
      // the handle releases it.
      connection->Abandon(m.get());
      return waited;
    }
    if (timed_out && m->response_header.status == ntstatus::kCancelled) {
      return absl::DeadlineExceededError(
          absl::StrCat(what, ": the range stayed locked for ", absl::FormatDuration(wait)));
    }
  }
  SMBD_RETURN_IF_ERROR(ResponseStatus(*m, what));
  return DecodeLockResponse(Reader(*m));
  });
}

bool File::SessionMayUseRdma() const {
  const Session* s = tree_->session();
  // Never on a signed or sealed session: RDMA-placed bytes are covered by neither the
  // signature nor the encryption (ClientOptions::rdma_threshold).
  return !s->signs() && !s->seals() && context_->negotiated().dialect >= kDialect300;
}

bool File::RdmaChannelUsable(const Transport* t) const {
  if (t == nullptr) t = context_->transport();
  return t->supports_rdma() && SessionMayUseRdma();
}

bool File::UseRdma(uint64_t bytes, absl::Span<const uint8_t> memory, const Transport* t) const {
  if (t == nullptr) t = context_->transport();
  if (!RdmaChannelUsable(t)) return false;
  const ClientOptions& o = context_->options();
  const bool window = !memory.empty() && t->window_covers(memory);
  return bytes >= (window ? o.rdma_threshold : std::max(o.rdma_threshold, o.rdma_threshold_per_io));
}

uint32_t File::ChunkSize(bool write) const {
  // Sized for where the bulk goes: an SMB Direct channel of multichannel, or the connection.
  const Transport* t = context_->BulkTransport(SessionMayUseRdma());
  // The RDMA channel (when this session can use it at all) takes larger transfers.
  if (RdmaChannelUsable(t)) {
    const uint32_t rdma_chunk =
        write ? context_->MaxWrite(true, t) : context_->MaxRead(true, t);
    if (UseRdma(rdma_chunk, {}, t)) return rdma_chunk;
  }
  uint32_t chunk = write ? context_->MaxWrite(false, t) : context_->MaxRead(false, t);
  if (!UseRdma(chunk, {}, t)) {
    // Inline data travels in the frame: keep it inside the transport's frame limits (SMB Direct
    // reassembles at most MaxFragmentedSize), with room for headers and a transform header.
    const TransportLimits l = t->limits();
    const uint64_t frame = write ? l.max_send_frame : l.max_receive_frame;
    if (frame < uint64_t{chunk} + 1024) {
      chunk = static_cast<uint32_t>(std::max<uint64_t>(4096, (frame - 1024) & ~uint64_t{4095}));
    }
  }
  return chunk;
}

absl::StatusOr<SmbMessageRef> File::PrepareRead(uint64_t offset, absl::Span<uint8_t> dst,
                                                bool allow_rdma, Connection* on) {
  Transport* t = on != nullptr ? on->transport() : context_->transport();
  const bool rdma = allow_rdma && UseRdma(dst.size(), dst, t);
  // [MS-SMB2] 3.1.5.2 charges the payload whether it travels inline or by RDMA.
  SmbMessageRef m =
      context_->NewMessage(Command::kRead, tree_->session()->id(), tree_->id(), dst.size());
  m->expected_response_bytes = dst.size();
  m->read_destination = dst;
  SMBD_RETURN_IF_ERROR(lost_.status());
  ReadRequest req;
  req.length = static_cast<uint32_t>(dst.size());
  req.offset = offset;
  req.file_id = id();
  if (rdma) {
    // The server may write exactly dst, for exactly this request.
    SMBD_ASSIGN_OR_RETURN(m->rdma, t->RegisterForPeer(dst, true));
    req.channel = m->rdma->remote_invalidate() ? kChannelRdmaV1Invalidate : kChannelRdmaV1;
    req.channel_info = m->rdma->descriptors();
    req.padding = 0;
  }
  SMBD_RETURN_IF_ERROR(
      EncodeOne(m.get(), *context_, [&](WireWriter* w) { EncodeReadRequest(req, w); }));
  return m;
}

absl::StatusOr<uint64_t> File::PipelinedRead(
    uint64_t offset, uint64_t length,
    const std::function<absl::Span<uint8_t>(uint64_t at, size_t n)>& destination,
    const std::function<absl::Status(absl::Span<const uint8_t>)>& deliver) {
  const uint32_t chunk = ChunkSize(false);
  const bool rdma_ok = SessionMayUseRdma();
  return client_internal::RunPipeline(
      *context_, length, chunk, context_->Depth(chunk),
      PipelineCalls{
          [&](PipelineStep* step) -> absl::Status {
            step->buffer = destination(step->at, step->length);
            // Multichannel: each request on the channel its turn falls to.
            step->channel = context_->PickChannel(tree_->session()->id(), rdma_ok, chunk);
            Connection* on = step->channel != nullptr ? step->channel->connection : nullptr;
            SMBD_ASSIGN_OR_RETURN(step->message,
                                  PrepareRead(offset + step->at, step->buffer, true, on));
            return context_->Submit(step->message, on);
          },
          [&](PipelineStep& step) -> absl::StatusOr<uint32_t> {
            SmbMessage* m = step.message.get();
            absl::Status waited = context_->Await(m);
            if (!waited.ok()) {
              m->rdma.reset();  // given up: the server reaches the buffer no more
              return waited;
            }
            absl::StatusOr<uint32_t> done = EndRead(m, step.buffer, context_->counters());
            if (done.ok() && step.channel != nullptr) step.channel->bytes_read += *done;
            return done;
          },
          [&](const PipelineStep& step, uint32_t done) {
            return deliver(step.buffer.subspan(0, done));
          }},
      "read");
}

absl::StatusOr<uint64_t> File::Read(uint64_t offset, absl::Span<uint8_t> dst) {
  // Each chunk lands in its own part of dst: nothing to deliver.
  return PipelinedRead(
      offset, dst.size(), [&](uint64_t at, size_t n) { return dst.subspan(at, n); },
      [](absl::Span<const uint8_t>) { return absl::OkStatus(); });
}

absl::StatusOr<uint64_t> File::ReadTo(
    uint64_t offset, uint64_t length,
    const std::function<absl::Status(absl::Span<const uint8_t>)>& sink) {
  const uint32_t chunk = ChunkSize(false);
  // No more slots than the range has chunks: requests in flight never outnumber either.
  const uint64_t chunks = length == UINT64_MAX ? UINT64_MAX : (length + chunk - 1) / chunk;
  const size_t depth = static_cast<size_t>(
      std::max<uint64_t>(1, std::min<uint64_t>(context_->Depth(chunk), chunks)));
  // One window of buffers for the whole call (not per request), recycled slot by slot: chunks
  // complete in order, so a slot is free again by the time it comes round.
  // Page-aligned, so that an RDMA registration of a chunk covers no more pages than it must
  // (rxe: 512 pages per region, so a 2 MiB chunk fits one region only when aligned).
  std::unique_ptr<uint8_t[], AlignedDelete> window(new (std::align_val_t(kPageSize))
                                                       uint8_t[depth * chunk]);
  // Where the transport binds memory windows, one registration of the whole window serves
  // every chunk (a window bind each, no ibv_reg_mr each). Declared after `window`: deregistered
  // before it is freed, and after every chunk has ended (PipelinedRead waits for them).
  std::unique_ptr<RegisteredBuffer> registered;
  Transport* bulk = context_->BulkTransport(SessionMayUseRdma());
  if (bulk->binds_windows() && UseRdma(chunk, {}, bulk)) {
    absl::StatusOr<std::unique_ptr<RegisteredBuffer>> r =
        bulk->RegisterBuffer(absl::MakeSpan(window.get(), depth * chunk));
    if (r.ok()) registered = *std::move(r);  // else: per-I/O registration, as without windows
  }
  size_t slot = 0;
  return PipelinedRead(
      offset, length,
      [&](uint64_t, size_t n) {
        absl::Span<uint8_t> part(window.get() + slot * chunk, n);
        slot = (slot + 1) % depth;
        return part;
      },
      sink);
}

absl::StatusOr<SmbMessageRef> File::PrepareWrite(uint64_t offset, absl::Span<const uint8_t> src,
                                                 Connection* on) {
  Transport* t = on != nullptr ? on->transport() : context_->transport();
  const bool rdma = UseRdma(src.size(), src, t);
  SmbMessageRef m =
      context_->NewMessage(Command::kWrite, tree_->session()->id(), tree_->id(), src.size());
  Bvecq payload;
  SMBD_RETURN_IF_ERROR(lost_.status());
  WriteRequest req;
  req.length = static_cast<uint32_t>(src.size());
  req.offset = offset;
  req.file_id = id();
  if (rdma) {
    // The server reads exactly src, for exactly this request ([MS-SMB2] 3.2.4.7).
    SMBD_ASSIGN_OR_RETURN(m->rdma,
                          t->RegisterForPeer(
                              absl::MakeSpan(const_cast<uint8_t*>(src.data()), src.size()), false));
    req.channel = m->rdma->remote_invalidate() ? kChannelRdmaV1Invalidate : kChannelRdmaV1;
    req.channel_info = m->rdma->descriptors();
  } else {
    // The caller's bytes go out as they are: sendmsg gathers them (or the sealer reads them).
    SMBD_RETURN_IF_ERROR(payload.AppendExternal(const_cast<uint8_t*>(src.data()), src.size()));
  }
  SMBD_RETURN_IF_ERROR(EncodeOne(m.get(), *context_, [&](WireWriter* w) {
    return EncodeWriteRequest(req, &payload, w);
  }));
  return m;
}


absl::Status File::Write(uint64_t offset, absl::Span<const uint8_t> src) {
  const uint32_t chunk = ChunkSize(true);
  const bool rdma_ok = SessionMayUseRdma();
  absl::StatusOr<uint64_t> written = client_internal::RunPipeline(
      *context_, src.size(), chunk, context_->Depth(chunk),
      PipelineCalls{
          [&](PipelineStep* step) -> absl::Status {
            step->channel = context_->PickChannel(tree_->session()->id(), rdma_ok, chunk);
            Connection* on = step->channel != nullptr ? step->channel->connection : nullptr;
            SMBD_ASSIGN_OR_RETURN(step->message,
                                  PrepareWrite(offset + step->at,
                                               src.subspan(step->at, step->length), on));
            return context_->Submit(step->message, on);
          },
          [&](PipelineStep& step) -> absl::StatusOr<uint32_t> {
            SmbMessage* m = step.message.get();
            absl::Status waited = context_->Await(m);
            if (!waited.ok()) {
              // Given up (the answer may still arrive on the receive thread: its fields are
              // not ours to read): the server reaches src no more.
              m->rdma.reset();
              return waited;
            }
            SMBD_RETURN_IF_ERROR(EndWrite(m, step.length, context_->counters()));
            if (step.channel != nullptr) step.channel->bytes_written += step.length;
            return step.length;
          },
          [](const PipelineStep&, uint32_t) { return absl::OkStatus(); }},
      "write");
  return written.status();
}

namespace {

// A ReadAsync's state, kept in the message's user_data: no allocation per request.
struct AsyncRead {
  File::ReadCallback callback;
  void* arg;
  absl::Span<uint8_t> dst;
  client_internal::IoCounters* counters;
  client_internal::Channel* channel;  // lives as long as the client
};

}  // namespace

absl::Status File::ReadAsync(uint64_t offset, absl::Span<uint8_t> dst, ReadCallback callback,
                             void* arg) {
  const uint32_t limit = MaxAsyncRead(dst.size());
  if (dst.size() > limit) {
    return absl::InvalidArgumentError(
        absl::StrCat("ReadAsync of ", dst.size(), " bytes exceeds the max read size ", limit));
  }
  // After a drop, the client is re-established first (asynchronous requests themselves are not
  // replayed: their callbacks get the error).
  SMBD_RETURN_IF_ERROR(context_->ReadyForRequest());
  // Multichannel: on the channel its turn falls to (as pipelined reads are).
  client_internal::Channel* channel =
      context_->PickChannel(tree_->session()->id(), SessionMayUseRdma(), dst.size());
  Connection* on = channel != nullptr ? channel->connection : context_->connection();
  // Over SMB Direct large enough reads use the RDMA channel, as File::Read does.
  SMBD_ASSIGN_OR_RETURN(SmbMessageRef m, PrepareRead(offset, dst, true, on));
  static_assert(sizeof(AsyncRead) <= sizeof(m->user_data), "user_data too small");
  static_assert(std::is_trivially_destructible_v<AsyncRead>);
  auto* state =
      new (m->user_data) AsyncRead{callback, arg, dst, &context_->counters(), channel};
  m->SetCallback(
      [](SmbMessage* msg, void*) {
        AsyncRead* st = reinterpret_cast<AsyncRead*>(msg->user_data);
        absl::StatusOr<uint32_t> r = EndRead(msg, st->dst, *st->counters);
        if (r.ok() && st->channel != nullptr) st->channel->bytes_read += *r;
        st->callback(st->arg, std::move(r));
      },
      state);
  // The callback runs within the request timeout even if the server never answers.
  m->SetDeadlineIn(context_->options().request_timeout);
  absl::Status s = context_->Gate();
  if (s.ok()) s = on->Submit(m);
  if (!s.ok()) m->rdma.reset();  // nothing was sent: the callback never runs
  return s;
}

uint32_t File::MaxAsyncRead(uint64_t bytes) const {
  return context_->MaxRead(UseRdma(bytes));
}

uint32_t File::MaxAsyncWrite(uint64_t bytes) const {
  const bool rdma = UseRdma(bytes);
  uint32_t limit = context_->MaxWrite(rdma);
  if (!rdma) {
    // Inline data travels in the frame, with room for headers and a transform header.
    const uint64_t frame = context_->transport()->limits().max_send_frame;
    if (frame < uint64_t{limit} + 1024) limit = static_cast<uint32_t>(frame - 1024);
  }
  return limit;
}

namespace {

// A WriteAsync's state, kept in the message's user_data.
struct AsyncWrite {
  File::WriteCallback callback;
  void* arg;
  uint32_t length;
  client_internal::IoCounters* counters;
  client_internal::Channel* channel;
};

}  // namespace

absl::Status File::WriteAsync(uint64_t offset, absl::Span<const uint8_t> src,
                              WriteCallback callback, void* arg) {
  const uint32_t limit = MaxAsyncWrite(src.size());
  if (src.size() > limit) {
    return absl::InvalidArgumentError(
        absl::StrCat("WriteAsync of ", src.size(), " bytes exceeds the max write size ", limit));
  }
  SMBD_RETURN_IF_ERROR(context_->ReadyForRequest());
  client_internal::Channel* channel =
      context_->PickChannel(tree_->session()->id(), SessionMayUseRdma(), src.size());
  Connection* on = channel != nullptr ? channel->connection : context_->connection();
  SMBD_ASSIGN_OR_RETURN(SmbMessageRef m, PrepareWrite(offset, src, on));
  static_assert(sizeof(AsyncWrite) <= sizeof(m->user_data), "user_data too small");
  static_assert(std::is_trivially_destructible_v<AsyncWrite>);
  auto* state = new (m->user_data) AsyncWrite{callback, arg, static_cast<uint32_t>(src.size()),
                                              &context_->counters(), channel};
  m->SetCallback(
      [](SmbMessage* msg, void*) {
        AsyncWrite* st = reinterpret_cast<AsyncWrite*>(msg->user_data);
        absl::Status r = EndWrite(msg, st->length, *st->counters);
        if (r.ok() && st->channel != nullptr) st->channel->bytes_written += st->length;
        st->callback(st->arg, std::move(r));
      },
      state);
  m->SetDeadlineIn(context_->options().request_timeout);
  absl::Status s = context_->Gate();
  if (s.ok()) s = on->Submit(m);
  if (!s.ok()) {
    m->rdma.reset();  // nothing was sent: the callback never runs
    m->request.Clear();
  }
  return s;
}

}  // namespace smbd
