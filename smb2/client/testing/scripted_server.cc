#include "smb2/client/testing/scripted_server.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "buffers/wire.h"
#include "smb2/ntstatus.h"
#include "smb2/pdu/create.h"
#include "smb2/security/ntlmssp.h"
#include "smb2/security/spnego.h"

namespace smbd {
namespace scripted {
namespace {

constexpr uint64_t kSessionId = 0x77;
constexpr uint32_t kTreeId = 5;
// Files never grow beyond this (a hostile client is not the point here).
constexpr uint64_t kMaxFileSize = uint64_t{64} << 20;

// A response body under construction: little-endian fields at fixed offsets of the body.
class Body {
 public:
  explicit Body(size_t size) : b_(size, 0) {}
  Body& U8(size_t at, uint8_t v) { return Put(at, &v, 1); }
  Body& U16(size_t at, uint16_t v) {
    uint8_t t[2];
    StoreLE<uint16_t>(t, v);
    return Put(at, t, 2);
  }
  Body& U32(size_t at, uint32_t v) {
    uint8_t t[4];
    StoreLE<uint32_t>(t, v);
    return Put(at, t, 4);
  }
  Body& U64(size_t at, uint64_t v) {
    uint8_t t[8];
    StoreLE<uint64_t>(t, v);
    return Put(at, t, 8);
  }
  Body& Append(absl::Span<const uint8_t> bytes) {
    b_.insert(b_.end(), bytes.begin(), bytes.end());
    return *this;
  }
  std::vector<uint8_t> Take() { return std::move(b_); }

 private:
  Body& Put(size_t at, const uint8_t* p, size_t n) {
    if (at + n > b_.size()) b_.resize(at + n, 0);
    std::copy(p, p + n, b_.begin() + at);
    return *this;
  }
  std::vector<uint8_t> b_;
};

// A bounds-checked reader over the request body (the bytes after the 64-byte header).
class Request {
 public:
  explicit Request(const std::vector<uint8_t>& frame) : frame_(frame) {}
  bool U16(size_t body_at, uint16_t* v) const { return Get(body_at, v); }
  bool U32(size_t body_at, uint32_t* v) const { return Get(body_at, v); }
  bool U64(size_t body_at, uint64_t* v) const { return Get(body_at, v); }
  bool FileIdAt(size_t body_at, FileId* id) const {
    return U64(body_at, &id->persistent) && U64(body_at + 8, &id->volatile_id);
  }
  // [offset, offset + length) counted from the start of the header.
  bool Range(uint64_t offset, uint64_t length, absl::Span<const uint8_t>* out) const {
    if (offset > frame_.size() || length > frame_.size() - offset) return false;
    *out = absl::MakeConstSpan(frame_).subspan(offset, length);
    return true;
  }
  // [MS-SMB2] 2.2.19 / 2.2.21 channel info: SMB_DIRECT_BUFFER_DESCRIPTOR_V1 entries
  // ([MS-SMBD] 2.2.3.1).
  bool Descriptors(uint64_t offset, uint64_t length, std::vector<BufferDescriptorV1>* out) const {
    absl::Span<const uint8_t> bytes;
    if (length % kBufferDescriptorV1Size != 0 || !Range(offset, length, &bytes)) return false;
    WireReader r(bytes);
    while (r.remaining() > 0) {
      BufferDescriptorV1 d;
      if (!r.U64(&d.offset) || !r.U32(&d.token) || !r.U32(&d.length)) return false;
      out->push_back(d);
    }
    return true;
  }

 private:
  template <typename T>
  bool Get(size_t body_at, T* v) const {
    const size_t at = kSmb2HeaderSize + body_at;
    if (at + sizeof(T) > frame_.size()) return false;
    *v = LoadLE<T>(frame_.data() + at);
    return true;
  }
  const std::vector<uint8_t>& frame_;
};

std::vector<uint8_t> ChallengeToken() {
  // [MS-NLMP] 2.2.1.2 CHALLENGE_MESSAGE with an empty target name and an MsvAvEOL target info.
  std::vector<uint8_t> m = {'N', 'T', 'L', 'M', 'S', 'S', 'P', 0, 2, 0, 0, 0};
  auto u16 = [&](uint16_t v) {
    m.push_back(v & 0xFF);
    m.push_back(v >> 8);
  };
  auto u32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) m.push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  u16(0);  // TargetNameFields
  u16(0);
  u32(56);
  u32(ntlm_flags::kUnicode | ntlm_flags::kNtlm | ntlm_flags::kTargetInfo |
      ntlm_flags::kExtendedSessionSecurity | ntlm_flags::kAnonymous);
  for (int i = 0; i < 8; ++i) m.push_back(static_cast<uint8_t>(0x11 * (i + 1)));  // challenge
  for (int i = 0; i < 8; ++i) m.push_back(0);                                     // Reserved
  u16(4);  // TargetInfoFields
  u16(4);
  u32(56);
  for (int i = 0; i < 8; ++i) m.push_back(0);  // Version
  u16(0);                                      // MsvAvEOL
  u16(0);
  NegTokenResp r;
  r.neg_state = NegState::kAcceptIncomplete;
  r.supported_mech = NtlmsspOid();
  r.response_token = m;
  return EncodeNegTokenResp(r);
}

std::vector<uint8_t> EncodeFrame(const Smb2Header& h, absl::Span<const uint8_t> body) {
  std::vector<uint8_t> frame(kSmb2HeaderSize + body.size());
  WireWriter w(absl::MakeSpan(frame));
  EncodeHeader(h, &w);
  w.Bytes(body);
  (void)w.Finish();
  return frame;
}

}  // namespace

const char* MisbehaviorName(Misbehavior m) {
  switch (m) {
    case Misbehavior::kNone:
      return "None";
    case Misbehavior::kGrantZeroForever:
      return "GrantZeroForever";
    case Misbehavior::kGrantHuge:
      return "GrantHuge";
    case Misbehavior::kWrongMessageId:
      return "WrongMessageId";
    case Misbehavior::kDuplicateAnswer:
      return "DuplicateAnswer";
    case Misbehavior::kDataPastTheFrame:
      return "DataPastTheFrame";
    case Misbehavior::kMoreDataThanAsked:
      return "MoreDataThanAsked";
    case Misbehavior::kTruncatedCompound:
      return "TruncatedCompound";
    case Misbehavior::kPendingForever:
      return "PendingForever";
    case Misbehavior::kOplockBreakUnknown:
      return "OplockBreakUnknown";
    case Misbehavior::kLeaseBreakUnknown:
      return "LeaseBreakUnknown";
    case Misbehavior::kDisconnect:
      return "Disconnect";
    case Misbehavior::kGarbageFrame:
      return "GarbageFrame";
    case Misbehavior::kHugeFrameLength:
      return "HugeFrameLength";
    case Misbehavior::kRdmaWritePastDescriptor:
      return "RdmaWritePastDescriptor";
    case Misbehavior::kRdmaStaleToken:
      return "RdmaStaleToken";
    case Misbehavior::kRdmaRemainingMoreThanWritten:
      return "RdmaRemainingMoreThanWritten";
    case Misbehavior::kRdmaRemainingMoreThanAsked:
      return "RdmaRemainingMoreThanAsked";
    case Misbehavior::kDisconnectMidRdma:
      return "DisconnectMidRdma";
    case Misbehavior::kRdmaReadReadDestination:
      return "RdmaReadReadDestination";
    case Misbehavior::kRdmaNoRemoteInvalidate:
      return "RdmaNoRemoteInvalidate";
    case Misbehavior::kRdmaInvalidateStaleToken:
      return "RdmaInvalidateStaleToken";
    case Misbehavior::kRdmaWriteIntoWriteSource:
      return "RdmaWriteIntoWriteSource";
  }
  return "?";
}

absl::Status FrameSink::RdmaWrite(uint64_t, uint32_t, absl::Span<const uint8_t>) {
  return absl::UnimplementedError("this transport has no RDMA channel");
}
absl::Status FrameSink::RdmaRead(uint64_t, uint32_t, absl::Span<uint8_t>) {
  return absl::UnimplementedError("this transport has no RDMA channel");
}

ScriptedSmb2Server::ScriptedSmb2Server(Options options) : options_(options) {
  files_["file"] = std::make_shared<std::vector<uint8_t>>(1 << 20, kFileByte);
  files_["dir"] = std::make_shared<std::vector<uint8_t>>();  // opened as a directory too
}

void ScriptedSmb2Server::QueryDirectory(const Smb2Header& req, const std::vector<uint8_t>& frame,
                                        FrameSink* sink) {
  // [MS-SMB2] 2.2.33: Flags at 3 (RESTART_SCANS 0x01).
  Request q(frame);
  uint16_t word;
  if (!q.U16(2, &word)) return ReplyError(req, ntstatus::kInvalidParameter, sink);
  if ((word >> 8) & 0x01) listed_ = 0;
  if (options_.directory_ends && listed_ >= options_.directory_batch) {
    return ReplyError(req, ntstatus::kNoMoreFiles, sink);
  }
  // [MS-FSCC] 2.4.17 FILE_ID_BOTH_DIR_INFORMATION entries, 8-byte aligned, chained by
  // NextEntryOffset; FileName (UTF-16LE) at 104.
  std::vector<uint8_t> buffer;
  for (uint32_t i = 0; i < options_.directory_batch; ++i) {
    const std::string name = options_.directory_dots_only
                                 ? std::string(".")
                                 : absl::StrCat(options_.directory_prefix, listed_++);
    Body e(104);
    e.U64(40, 1).U32(56, 0x80).U32(60, static_cast<uint32_t>(2 * name.size()));
    std::vector<uint8_t> entry = e.Take();
    for (char ch : name) {
      entry.push_back(static_cast<uint8_t>(ch));
      entry.push_back(0);
    }
    while (entry.size() % 8 != 0) entry.push_back(0);
    if (i + 1 < options_.directory_batch) StoreLE<uint32_t>(entry.data(), entry.size());
    buffer.insert(buffer.end(), entry.begin(), entry.end());
  }
  // [MS-SMB2] 2.2.34: StructureSize 9, OutputBufferOffset (72: right after the fixed part),
  // OutputBufferLength.
  Reply(req, 0,
        Body(8).U16(0, 9).U16(2, 72).U32(4, static_cast<uint32_t>(buffer.size())).Append(buffer)
            .Take(),
        sink);
}

std::vector<RdmaOp> ScriptedSmb2Server::rdma_ops() const {
  std::lock_guard<std::mutex> l(mu_);
  return rdma_ops_;
}

void ScriptedSmb2Server::Reply(const Smb2Header& req, uint32_t status,
                               const std::vector<uint8_t>& body, FrameSink* sink, uint16_t credits,
                               uint32_t extra_flags, uint64_t session, uint32_t tree) {
  Smb2Header h = req;
  h.flags = kFlagServerToRedir | extra_flags;
  h.status = status;
  h.credits = credits;
  h.next_command = 0;
  if (session) h.session_id = session;
  if (tree) h.tree_id = tree;
  std::fill(std::begin(h.signature), std::end(h.signature), 0);
  // [MS-SMB2] 3.3.5.12/3.3.5.13: an I/O that asked for RDMA_V1_INVALIDATE gets its answer with
  // SEND_WITH_INVALIDATE naming the first descriptor's token.
  std::optional<uint32_t> invalidate;
  std::swap(invalidate, invalidate_with_answer_);
  if (invalidate.has_value() && options_.misbehavior != Misbehavior::kRdmaNoRemoteInvalidate) {
    (void)sink->SendInvalidating(EncodeFrame(h, body), *invalidate);
    return;
  }
  (void)sink->Send(EncodeFrame(h, body));
}

void ScriptedSmb2Server::ReplyError(const Smb2Header& req, uint32_t status, FrameSink* sink) {
  // [MS-SMB2] 2.2.2 SMB2 ERROR Response: StructureSize 9, no error data (one zero byte).
  Reply(req, status, Body(9).U16(0, 9).Take(), sink);
}

void ScriptedSmb2Server::Hangup(FrameSink* sink) {
  hung_up_ = true;
  sink->Hangup();
}

absl::Status ScriptedSmb2Server::Rdma(FrameSink* sink, bool write, uint64_t addr, uint32_t token,
                                      absl::Span<uint8_t> bytes) {
  absl::Status s = write ? sink->RdmaWrite(addr, token, bytes) : sink->RdmaRead(addr, token, bytes);
  std::lock_guard<std::mutex> l(mu_);
  rdma_ops_.push_back(RdmaOp{write, addr, token, bytes.size(), s});
  return s;
}

absl::StatusOr<uint64_t> ScriptedSmb2Server::RdmaWriteAll(
    FrameSink* sink, const std::vector<BufferDescriptorV1>& descriptors,
    absl::Span<const uint8_t> data) {
  uint64_t done = 0;
  for (const BufferDescriptorV1& d : descriptors) {
    if (done == data.size()) break;
    const uint64_t n = std::min<uint64_t>(d.length, data.size() - done);
    std::vector<uint8_t> part(data.begin() + done, data.begin() + done + n);
    absl::Status s = Rdma(sink, true, d.offset, d.token, absl::MakeSpan(part));
    if (!s.ok()) return s;
    done += n;
  }
  return done;
}

void ScriptedSmb2Server::Handle(const std::vector<uint8_t>& frame, FrameSink* sink) {
  WireReader r(absl::MakeConstSpan(frame));
  absl::StatusOr<Smb2Header> h = DecodeHeader(&r);
  if (!h.ok()) {
    Hangup(sink);  // [MS-SMB2] 3.3.5.2: a malformed message ends the connection
    return;
  }
  // Only the first member of a compound is served: the client's paths under test send none.
  switch (h->command) {
    case Command::kNegotiate:
      Negotiate(*h, sink);
      return;
    case Command::kSessionSetup:
      SessionSetup(*h, sink);
      return;
    case Command::kTreeConnect:
      // [MS-SMB2] 2.2.10: StructureSize 16, ShareType DISK, MaximalAccess all.
      Reply(*h, 0, Body(16).U16(0, 16).U8(2, 1).U32(12, 0x1F01FF).Take(), sink, 32, 0, 0, kTreeId);
      return;
    case Command::kCreate:
      Create(*h, frame, sink);
      return;
    case Command::kClose:
      Close(*h, frame, sink);
      return;
    case Command::kFlush:
      Flush(*h, frame, sink);
      return;
    case Command::kRead:
      Read(*h, frame, sink);
      return;
    case Command::kQueryDirectory:
      QueryDirectory(*h, frame, sink);
      return;
    case Command::kWrite:
      Write(*h, frame, sink);
      return;
    case Command::kLogoff:
    case Command::kTreeDisconnect:
    case Command::kEcho:
      // [MS-SMB2] 2.2.8 / 2.2.12 / 2.2.29: StructureSize 4, Reserved.
      Reply(*h, 0, Body(4).U16(0, 4).Take(), sink);
      return;
    case Command::kCancel:
      return;  // [MS-SMB2] 3.3.5.16: a CANCEL is never answered
    default:
      ReplyError(*h, ntstatus::kNotSupported, sink);
  }
}

void ScriptedSmb2Server::Negotiate(const Smb2Header& req, FrameSink* sink) {
  // [MS-SMB2] 2.2.4: StructureSize 65, SecurityMode SIGNING_ENABLED, the dialect, Capabilities
  // LARGE_MTU, MaxTransact/MaxRead/MaxWrite, empty security buffer at 128.
  Reply(req, 0,
        Body(65)
            .U16(0, 65)
            .U16(2, options_.signing_required ? 3 : 1)
            .U16(4, options_.dialect)
            .U32(24, kCapLargeMtu)
            .U32(28, options_.max_io)
            .U32(32, options_.max_io)
            .U32(36, options_.max_io)
            .U16(56, 128)
            .Take(),
        sink);
}

void ScriptedSmb2Server::SessionSetup(const Smb2Header& req, FrameSink* sink) {
  ++setup_round_;
  if (options_.login == LoginTrick::kSuccessFirstLeg) {
    // No challenge, no flags: "you are whoever you say".
    Reply(req, 0, Body(9).U16(0, 9).Take(), sink, 32, 0, kSessionId);
    return;
  }
  if (setup_round_ == 1) {
    const std::vector<uint8_t> token = ChallengeToken();
    Reply(req, ntstatus::kMoreProcessingRequired,
          Body(8)
              .U16(0, 9)
              .U16(4, 72)
              .U16(6, static_cast<uint16_t>(token.size()))
              .Append(token)
              .Take(),
          sink, 32, 0, kSessionId);
  } else {
    // SessionFlags IS_NULL (anonymous), IS_GUEST, or none: nothing signed either way.
    const uint16_t flags = options_.login == LoginTrick::kGuestSession       ? 1
                           : options_.login == LoginTrick::kUnsignedSuccess ? 0
                                                                             : 2;
    Reply(req, 0, Body(9).U16(0, 9).U16(2, flags).Take(), sink, 32, 0, kSessionId);
  }
}

ScriptedSmb2Server::Open* ScriptedSmb2Server::FindOpen(const FileId& id) {
  auto it = opens_.find(id.volatile_id);
  if (it == opens_.end() || id.persistent != id.volatile_id) return nullptr;
  return &it->second;
}

void ScriptedSmb2Server::Create(const Smb2Header& req, const std::vector<uint8_t>& frame,
                                FrameSink* sink) {
  // [MS-SMB2] 2.2.13: CreateDisposition at 36, NameOffset/NameLength at 44/46.
  Request q(frame);
  uint32_t disposition;
  uint16_t name_offset, name_length;
  absl::Span<const uint8_t> name16;
  if (!q.U32(36, &disposition) || !q.U16(44, &name_offset) || !q.U16(46, &name_length) ||
      !q.Range(name_offset, name_length, &name16)) {
    ReplyError(req, ntstatus::kInvalidParameter, sink);
    return;
  }
  absl::StatusOr<std::string> name = Utf16LeToUtf8(name16);
  if (!name.ok()) {
    ReplyError(req, ntstatus::kObjectNameInvalid, sink);
    return;
  }
  auto it = files_.find(*name);
  const bool exists = it != files_.end();
  uint32_t action = kFileOpened;
  switch (disposition) {
    case kFileOpen:
      if (!exists) return ReplyError(req, ntstatus::kObjectNameNotFound, sink);
      break;
    case kFileCreate:
      if (exists) return ReplyError(req, ntstatus::kObjectNameCollision, sink);
      action = kFileCreated;
      break;
    case kFileOpenIf:
      action = exists ? kFileOpened : kFileCreated;
      break;
    case kFileOverwrite:
      if (!exists) return ReplyError(req, ntstatus::kObjectNameNotFound, sink);
      action = kFileOverwritten;
      break;
    case kFileOverwriteIf:
    case kFileSupersede:
      action = exists ? (disposition == kFileSupersede ? kFileSuperseded : kFileOverwritten)
                      : kFileCreated;
      break;
    default:
      return ReplyError(req, ntstatus::kInvalidParameter, sink);
  }
  std::shared_ptr<std::vector<uint8_t>> data;
  if (!exists || action != kFileOpened) {
    data = std::make_shared<std::vector<uint8_t>>();
    files_[*name] = data;
  } else {
    data = it->second;
  }
  const uint64_t id = next_file_id_++;
  opens_[id] = Open{*name, data};
  // [MS-SMB2] 2.2.14: StructureSize 89, CreateAction, AllocationSize, EndofFile,
  // FileAttributes NORMAL, FileId.
  Reply(req, 0,
        Body(88)
            .U16(0, 89)
            .U32(4, action)
            .U64(40, data->size())
            .U64(48, data->size())
            .U32(56, 0x80)
            .U64(64, id)
            .U64(72, id)
            .Take(),
        sink);
}

void ScriptedSmb2Server::Close(const Smb2Header& req, const std::vector<uint8_t>& frame,
                               FrameSink* sink) {
  // [MS-SMB2] 2.2.15: Flags at 2, FileId at 8.
  Request q(frame);
  uint16_t flags;
  FileId id;
  if (!q.U16(2, &flags) || !q.FileIdAt(8, &id)) {
    return ReplyError(req, ntstatus::kInvalidParameter, sink);
  }
  Open* open = FindOpen(id);
  if (open == nullptr) return ReplyError(req, ntstatus::kFileClosed, sink);
  // [MS-SMB2] 2.2.16: StructureSize 60; with POSTQUERY_ATTRIB the sizes and attributes.
  Body body(60);
  body.U16(0, 60);
  if (flags & 1) {
    body.U16(2, 1).U64(40, open->data->size()).U64(48, open->data->size()).U32(56, 0x80);
  }
  opens_.erase(id.volatile_id);
  Reply(req, 0, body.Take(), sink);
}

void ScriptedSmb2Server::Flush(const Smb2Header& req, const std::vector<uint8_t>& frame,
                               FrameSink* sink) {
  // [MS-SMB2] 2.2.17: FileId at 8; 2.2.18: StructureSize 4.
  Request q(frame);
  FileId id;
  if (!q.FileIdAt(8, &id)) return ReplyError(req, ntstatus::kInvalidParameter, sink);
  if (FindOpen(id) == nullptr) return ReplyError(req, ntstatus::kFileClosed, sink);
  Reply(req, 0, Body(4).U16(0, 4).Take(), sink);
}

void ScriptedSmb2Server::Write(const Smb2Header& req, const std::vector<uint8_t>& frame,
                               FrameSink* sink) {
  writes_++;
  // [MS-SMB2] 2.2.21: DataOffset 2, Length 4, Offset 8, FileId 16, Channel 32, RemainingBytes
  // 36, WriteChannelInfoOffset 40, WriteChannelInfoLength 42.
  Request q(frame);
  uint16_t data_offset, info_offset, info_length;
  uint32_t length, channel, remaining;
  uint64_t offset;
  FileId id;
  if (!q.U16(2, &data_offset) || !q.U32(4, &length) || !q.U64(8, &offset) || !q.FileIdAt(16, &id) ||
      !q.U32(32, &channel) || !q.U32(36, &remaining) || !q.U16(40, &info_offset) ||
      !q.U16(42, &info_length)) {
    return ReplyError(req, ntstatus::kInvalidParameter, sink);
  }
  Open* open = FindOpen(id);
  if (open == nullptr) return ReplyError(req, ntstatus::kFileClosed, sink);
  std::vector<uint8_t> data;
  if (channel == kChannelRdmaV1 || channel == kChannelRdmaV1Invalidate) {
    // [MS-SMB2] 3.3.5.13: Length 0; RemainingBytes is what to RDMA-read from the descriptors.
    std::vector<BufferDescriptorV1> descriptors;
    uint64_t described = 0;
    if (!sink->has_rdma() || length != 0 ||
        !q.Descriptors(info_offset, info_length, &descriptors)) {
      return ReplyError(req, ntstatus::kInvalidParameter, sink);
    }
    for (const BufferDescriptorV1& d : descriptors) described += d.length;
    if (described < remaining || remaining > kMaxFileSize) {
      return ReplyError(req, ntstatus::kInvalidParameter, sink);
    }
    if (channel == kChannelRdmaV1Invalidate && !descriptors.empty()) {
      invalidate_with_answer_ = descriptors[0].token;
    }
    if (options_.misbehavior == Misbehavior::kRdmaWriteIntoWriteSource) {
      // The WRITE's source is the caller's data: exposed for reading only.
      std::vector<uint8_t> bytes(descriptors[0].length, kHostileByte);
      if (!Rdma(sink, true, descriptors[0].offset, descriptors[0].token, absl::MakeSpan(bytes))
               .ok()) {
        return;
      }
    }
    data.resize(remaining);
    uint64_t done = 0;
    for (const BufferDescriptorV1& d : descriptors) {
      if (done == data.size()) break;
      const uint64_t n = std::min<uint64_t>(d.length, data.size() - done);
      if (!Rdma(sink, false, d.offset, d.token, absl::MakeSpan(data).subspan(done, n)).ok()) {
        return;  // the connection is broken: nothing can be answered
      }
      done += n;
    }
  } else {
    absl::Span<const uint8_t> inline_data;
    if (!q.Range(data_offset, length, &inline_data)) {
      return ReplyError(req, ntstatus::kInvalidParameter, sink);
    }
    data.assign(inline_data.begin(), inline_data.end());
  }
  if (offset > kMaxFileSize || data.size() > kMaxFileSize - offset) {
    return ReplyError(req, ntstatus::kDiskFull, sink);
  }
  std::vector<uint8_t>& file = *open->data;
  if (file.size() < offset + data.size()) file.resize(offset + data.size(), 0);
  std::copy(data.begin(), data.end(), file.begin() + offset);
  // [MS-SMB2] 2.2.22: StructureSize 17, Count at 4.
  Reply(req, 0, Body(17).U16(0, 17).U32(4, static_cast<uint32_t>(data.size())).Take(), sink);
}

void ScriptedSmb2Server::Read(const Smb2Header& req, const std::vector<uint8_t>& frame,
                              FrameSink* sink) {
  const int nth_read = ++reads_;
  // [MS-SMB2] 2.2.19: Length 4, Offset 8, FileId 16, Channel 36, ReadChannelInfoOffset 44,
  // ReadChannelInfoLength 46.
  Request q(frame);
  uint32_t length, channel;
  uint64_t offset;
  uint16_t info_offset, info_length;
  FileId id;
  if (!q.U32(4, &length) || !q.U64(8, &offset) || !q.FileIdAt(16, &id) || !q.U32(36, &channel) ||
      !q.U16(44, &info_offset) || !q.U16(46, &info_length)) {
    return ReplyError(req, ntstatus::kInvalidParameter, sink);
  }
  std::vector<BufferDescriptorV1> descriptors;
  const bool rdma = channel == kChannelRdmaV1 || channel == kChannelRdmaV1Invalidate;
  if (rdma && (!sink->has_rdma() || !q.Descriptors(info_offset, info_length, &descriptors) ||
               descriptors.empty())) {
    return ReplyError(req, ntstatus::kInvalidParameter, sink);
  }
  if (rdma && channel == kChannelRdmaV1Invalidate) {
    invalidate_with_answer_ = descriptors[0].token;
    if (options_.misbehavior == Misbehavior::kRdmaInvalidateStaleToken) {
      if (nth_read == 1) {
        first_read_descriptors_ = descriptors;
      } else if (!first_read_descriptors_.empty()) {
        invalidate_with_answer_ = first_read_descriptors_[0].token;
      }
    }
  }
  Open* open = FindOpen(id);
  if (open == nullptr) return ReplyError(req, ntstatus::kFileClosed, sink);
  const std::vector<uint8_t>& file = *open->data;
  if (offset >= file.size()) return ReplyError(req, ntstatus::kEndOfFile, sink);
  const uint64_t n = std::min<uint64_t>(length, file.size() - offset);
  absl::Span<const uint8_t> data = absl::MakeConstSpan(file).subspan(offset, n);

  const Misbehavior m = options_.misbehavior;
  // The RDMA-channel misbehaviors first; without a channel they answer correctly.
  if (rdma) {
    switch (m) {
      case Misbehavior::kRdmaWritePastDescriptor: {
        // 64 bytes past the descriptor: the registration must not reach them.
        const BufferDescriptorV1& d = descriptors[0];
        std::vector<uint8_t> bytes(uint64_t{d.length} + 64, kHostileByte);
        if (!Rdma(sink, true, d.offset, d.token, absl::MakeSpan(bytes)).ok()) return;
        break;  // (not refused: answer as if all were well)
      }
      case Misbehavior::kRdmaStaleToken:
        if (nth_read == 1) {
          first_read_descriptors_ = descriptors;
        } else if (!first_read_descriptors_.empty()) {
          // The first READ completed long ago: its token must be dead.
          const BufferDescriptorV1& d = first_read_descriptors_[0];
          std::vector<uint8_t> bytes(d.length, kHostileByte);
          if (!Rdma(sink, true, d.offset, d.token, absl::MakeSpan(bytes)).ok()) return;
        }
        break;
      case Misbehavior::kRdmaRemainingMoreThanWritten: {
        absl::StatusOr<uint64_t> wrote = RdmaWriteAll(sink, descriptors, data.subspan(0, n / 2));
        if (!wrote.ok()) return;
        Reply(req, 0, Body(17).U16(0, 17).U8(2, 0x50).U32(8, static_cast<uint32_t>(n)).Take(),
              sink);
        return;
      }
      case Misbehavior::kRdmaRemainingMoreThanAsked: {
        absl::StatusOr<uint64_t> wrote = RdmaWriteAll(sink, descriptors, data);
        if (!wrote.ok()) return;
        Reply(req, 0, Body(17).U16(0, 17).U8(2, 0x50).U32(8, length + 4096).Take(), sink);
        return;
      }
      case Misbehavior::kDisconnectMidRdma:
        (void)RdmaWriteAll(sink, descriptors, data.subspan(0, n / 2));
        Hangup(sink);
        return;
      case Misbehavior::kRdmaReadReadDestination: {
        // Whatever the caller's buffer held before must not be readable.
        std::vector<uint8_t> peek(descriptors[0].length);
        if (!Rdma(sink, false, descriptors[0].offset, descriptors[0].token, absl::MakeSpan(peek))
                 .ok()) {
          return;
        }
        break;
      }
      default:
        break;
    }
  }

  // The correct answer ([MS-SMB2] 2.2.20, 3.3.5.12): inline, DataOffset 0x50, the data after the
  // 16-byte body; on the RDMA channel the data goes to the client's descriptors first, and the
  // response says DataLength 0, DataRemaining n.
  std::vector<uint8_t> good;
  const bool answers = m != Misbehavior::kPendingForever && m != Misbehavior::kDisconnect &&
                       m != Misbehavior::kGarbageFrame && m != Misbehavior::kHugeFrameLength &&
                       m != Misbehavior::kMoreDataThanAsked;
  if (rdma) {
    if (answers) {
      absl::StatusOr<uint64_t> wrote = RdmaWriteAll(sink, descriptors, data);
      if (!wrote.ok()) return;  // the connection is broken
    }
    good = Body(17).U16(0, 17).U8(2, 0x50).U32(8, static_cast<uint32_t>(n)).Take();
  } else {
    good = Body(16).U16(0, 17).U8(2, 0x50).U32(4, static_cast<uint32_t>(n)).Append(data).Take();
  }

  switch (m) {
    case Misbehavior::kGrantZeroForever:
      Reply(req, 0, good, sink, /*credits=*/0);
      return;
    case Misbehavior::kGrantHuge:
      Reply(req, 0, good, sink, 65535);
      return;
    case Misbehavior::kWrongMessageId: {
      Smb2Header h = req;
      h.message_id += 1000;
      Reply(h, 0, good, sink);
      return;
    }
    case Misbehavior::kDuplicateAnswer:
      Reply(req, 0, good, sink);
      Reply(req, 0, good, sink);
      return;
    case Misbehavior::kDataPastTheFrame: {
      std::vector<uint8_t> bad = good;
      bad[4] = 0xFF, bad[5] = 0xFF, bad[6] = 0xFF;  // DataLength ~16M
      Reply(req, 0, bad, sink);
      return;
    }
    case Misbehavior::kMoreDataThanAsked: {
      // Inline on either transport: 4 KiB more than asked.
      std::vector<uint8_t> more = Body(16).U16(0, 17).U8(2, 0x50).U32(4, length + 4096).Take();
      more.resize(16 + uint64_t{length} + 4096, 0xCD);
      Reply(req, 0, more, sink);
      return;
    }
    case Misbehavior::kTruncatedCompound: {
      Smb2Header h = req;
      h.flags = kFlagServerToRedir;
      h.status = 0;
      h.next_command = 4096;  // past the frame
      h.credits = 8;
      std::fill(std::begin(h.signature), std::end(h.signature), 0);
      (void)sink->Send(EncodeFrame(h, good));
      return;
    }
    case Misbehavior::kPendingForever: {
      Smb2Header h = req;
      h.async_id = 42;
      Reply(h, ntstatus::kPending, Body(9).U16(0, 9).Take(), sink, 1, kFlagAsyncCommand);
      return;
    }
    case Misbehavior::kOplockBreakUnknown: {
      Smb2Header brk;
      brk.command = Command::kOplockBreak;
      brk.message_id = ~uint64_t{0};
      Reply(brk, 0, Body(24).U16(0, 24).U8(2, 1).U64(8, 999).U64(16, 999).Take(), sink);
      Reply(req, 0, good, sink);
      return;
    }
    case Misbehavior::kLeaseBreakUnknown: {
      // [MS-SMB2] 2.2.23.2: StructureSize 44, NewEpoch, Flags (ACK_REQUIRED), LeaseKey,
      // CurrentLeaseState RWH, NewLeaseState none, BreakReason, AccessMaskHint, ShareMaskHint.
      Smb2Header brk;
      brk.command = Command::kOplockBreak;
      brk.message_id = ~uint64_t{0};
      for (uint32_t i = 0; i < 50; ++i) {
        Reply(brk, 0,
              Body(44).U16(0, 44).U16(2, 1).U32(4, 1).U32(8, i).U32(12, 0xB10C).U32(24, 7).Take(),
              sink);
      }
      Reply(req, 0, good, sink);
      return;
    }
    case Misbehavior::kDisconnect:
      Hangup(sink);
      return;
    case Misbehavior::kGarbageFrame: {
      std::vector<uint8_t> junk(300);
      for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<uint8_t>(i * 77 + 5);
      (void)sink->Send(junk);
      return;
    }
    case Misbehavior::kHugeFrameLength:
      (void)sink->SendFrameStartOnly((16 << 20) - 1);
      return;
    default:
      Reply(req, 0, good, sink);
      return;
  }
}

}  // namespace scripted
}  // namespace smbd
