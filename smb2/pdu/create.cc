#include "smb2/pdu/create.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace smbd {
namespace {

constexpr absl::string_view kWhat = "CREATE response";
constexpr uint16_t kRequestStructureSize = 57;
constexpr uint16_t kResponseStructureSize = 89;
constexpr uint64_t kRequestFixed = 56;   // name follows at 0x78 ([MS-SMB2] 2.2.13)
constexpr uint64_t kResponseFixed = 88;  // contexts follow at 0x98 ([MS-SMB2] 2.2.14)
constexpr uint64_t kContextHeader = 16;  // Next .. DataLength ([MS-SMB2] 2.2.13.2)
constexpr uint32_t kDurableV2RequestSize = 32;
constexpr uint32_t kMaxContextName = 0xFFFF;

// A context to send: name, data size, and which data (typed or raw).
enum class Kind { kMaximalAccess, kOnDiskId, kLease, kDurableV2, kRaw };
struct OutContext {
  Kind kind;
  absl::string_view name;
  uint64_t data_size;
  absl::Span<const uint8_t> raw;
};

uint64_t DataOffsetOf(const OutContext& c) {
  return c.data_size == 0 ? 0 : AlignUp8(kContextHeader + c.name.size());
}
uint64_t SizeOf(const OutContext& c) {
  return c.data_size == 0 ? kContextHeader + c.name.size() : DataOffsetOf(c) + c.data_size;
}

template <typename F>
void ForEachOutContext(const CreateRequest& req, F f) {
  if (req.query_maximal_access) {
    f(OutContext{Kind::kMaximalAccess, kCreateContextMaximalAccess, 0, {}});
  }
  if (req.query_on_disk_id) {
    f(OutContext{Kind::kOnDiskId, kCreateContextQueryOnDiskId, 0, {}});
  }
  if (req.lease) {
    f(OutContext{Kind::kLease, kCreateContextLease,
                 req.lease->version == 1 ? kLeaseV1Size : kLeaseV2Size, {}});
  }
  if (req.durable_v2) {
    f(OutContext{Kind::kDurableV2, kCreateContextDurableV2, kDurableV2RequestSize, {}});
  }
  for (const CreateContext& c : req.extra_contexts) {
    f(OutContext{Kind::kRaw, c.name, c.data.size(), c.data});
  }
}

void WriteContextData(const CreateRequest& req, const OutContext& c, WireWriter* w) {
  switch (c.kind) {
    case Kind::kMaximalAccess:
    case Kind::kOnDiskId:
      break;
    case Kind::kLease:  // [MS-SMB2] 2.2.13.2.8 / 2.2.13.2.10
      w->Bytes(absl::MakeConstSpan(req.lease->key));
      w->U32(req.lease->state);
      w->U32(req.lease->flags);
      w->U64(0);  // LeaseDuration
      if (req.lease->version != 1) {
        w->Bytes(absl::MakeConstSpan(req.lease->parent_key));
        w->U16(req.lease->epoch);
        w->U16(0);  // Reserved
      }
      break;
    case Kind::kDurableV2:  // [MS-SMB2] 2.2.13.2.11
      w->U32(req.durable_v2->timeout_ms);
      w->U32(req.durable_v2->flags);
      w->U64(0);  // Reserved
      w->Bytes(absl::MakeConstSpan(req.durable_v2->create_guid));
      break;
    case Kind::kRaw:
      w->Bytes(c.raw);
      break;
  }
}

absl::Status DecodeKnownContext(const WireReader& message, const CreateContextView& v,
                                CreateResponse* resp) {
  const absl::string_view name = v.name_length == 4 ? v.short_name() : absl::string_view();
  auto data = [&]() { return message.Sub(v.data_offset, v.data_length); };
  auto too_short = [&](uint32_t need) {
    return BadField(kWhat, absl::StrCat(name, " DataLength"), v.data_length,
                    absl::StrCat("is below ", need));
  };
  auto twice = [&]() {
    return absl::DataLossError(absl::StrCat(kWhat, ": create context ", name, " appears twice"));
  };
  if (name == kCreateContextMaximalAccess) {  // [MS-SMB2] 2.2.14.2.5
    if (resp->maximal_access) return twice();
    if (v.data_length < 8) return too_short(8);
    SMBD_ASSIGN_OR_RETURN(WireReader d, data());
    MaximalAccessResponse m;
    if (!d.U32(&m.query_status) || !d.U32(&m.maximal_access)) return d.Error(kWhat);
    resp->maximal_access = m;
  } else if (name == kCreateContextQueryOnDiskId) {  // [MS-SMB2] 2.2.14.2.9
    if (resp->on_disk_id) return twice();
    if (v.data_length < 16) return too_short(16);
    SMBD_ASSIGN_OR_RETURN(WireReader d, data());
    OnDiskIdResponse o;
    if (!d.U64(&o.disk_file_id) || !d.U64(&o.volume_id)) return d.Error(kWhat);
    resp->on_disk_id = o;
  } else if (name == kCreateContextLease) {  // [MS-SMB2] 2.2.14.2.10 / 2.2.14.2.11
    if (resp->lease) return twice();
    if (v.data_length < kLeaseV1Size) return too_short(kLeaseV1Size);
    SMBD_ASSIGN_OR_RETURN(WireReader d, data());
    LeaseResponse l;
    uint64_t duration;
    if (!d.Bytes(absl::MakeSpan(l.key)) || !d.U32(&l.state) || !d.U32(&l.flags) ||
        !d.U64(&duration)) {
      return d.Error(kWhat);
    }
    if (v.data_length >= kLeaseV2Size) {
      uint16_t reserved;
      l.version = 2;
      if (!d.Bytes(absl::MakeSpan(l.parent_key)) || !d.U16(&l.epoch) || !d.U16(&reserved)) {
        return d.Error(kWhat);
      }
    }
    resp->lease = l;
  } else if (name == kCreateContextDurableV2) {  // [MS-SMB2] 2.2.14.2.12
    if (resp->durable_v2) return twice();
    if (v.data_length < 8) return too_short(8);
    SMBD_ASSIGN_OR_RETURN(WireReader d, data());
    DurableHandleResponseV2 dh;
    if (!d.U32(&dh.timeout_ms) || !d.U32(&dh.flags)) return d.Error(kWhat);
    resp->durable_v2 = dh;
  } else {
    ++resp->other_contexts;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status EncodeCreateRequest(const CreateRequest& req, WireWriter* w) {
  SMBD_ASSIGN_OR_RETURN(const uint64_t name_size, Utf16LeSize(req.name));
  if (name_size > 0xFFFF) {
    return absl::InvalidArgumentError(absl::StrCat("CREATE: name of ", name_size, " bytes"));
  }
  absl::Status bad;
  uint64_t contexts_size = 0;
  ForEachOutContext(req, [&](const OutContext& c) {
    if (c.name.empty() || c.name.size() > kMaxContextName || c.data_size > 0xFFFFFFFF) {
      bad = absl::InvalidArgumentError(absl::StrCat("CREATE: malformed create context '",
                                                    c.name, "'"));
    }
    contexts_size = AlignUp8(contexts_size) + SizeOf(c);  // padded, except the last
  });
  SMBD_RETURN_IF_ERROR(bad);
  const uint64_t name_offset = kSmb2HeaderSize + kRequestFixed;
  const uint64_t contexts_offset = contexts_size == 0 ? 0 : AlignUp8(name_offset + name_size);
  if (contexts_size > 0xFFFFFFFF) {
    return absl::InvalidArgumentError("CREATE: create contexts too large");
  }

  w->U16(kRequestStructureSize);
  w->U8(req.security_flags);
  w->U8(req.oplock_level);
  w->U32(req.impersonation_level);
  w->U64(0);  // SmbCreateFlags
  w->U64(0);  // Reserved
  w->U32(req.desired_access);
  w->U32(req.file_attributes);
  w->U32(req.share_access);
  w->U32(req.create_disposition);
  w->U32(req.create_options);
  w->U16(static_cast<uint16_t>(name_offset));  // NameOffset: 0x78 even when empty
  w->U16(static_cast<uint16_t>(name_size));
  w->U32(static_cast<uint32_t>(contexts_offset));
  w->U32(static_cast<uint32_t>(contexts_size));
  WriteUtf16Le(req.name, w);
  if (contexts_size == 0) {
    if (name_size == 0) w->U8(0);  // StructureSize 57 counts one Buffer byte
    return absl::OkStatus();
  }
  w->Zeros(contexts_offset - (name_offset + name_size));
  uint64_t at = 0;  // within the chain
  ForEachOutContext(req, [&](const OutContext& c) {
    const uint64_t size = SizeOf(c);
    const bool last = (at + size == contexts_size);
    w->U32(last ? 0 : static_cast<uint32_t>(AlignUp8(size)));  // Next
    w->U16(static_cast<uint16_t>(kContextHeader));                // NameOffset
    w->U16(static_cast<uint16_t>(c.name.size()));
    w->U16(0);  // Reserved
    w->U16(static_cast<uint16_t>(DataOffsetOf(c)));
    w->U32(static_cast<uint32_t>(c.data_size));
    w->Bytes(c.name);
    if (c.data_size > 0) {
      w->Zeros(DataOffsetOf(c) - kContextHeader - c.name.size());
      WriteContextData(req, c, w);
    }
    if (!last) w->Zeros(AlignUp8(size) - size);
    at += last ? size : AlignUp8(size);
  });
  return absl::OkStatus();
}

absl::Status ForEachCreateContext(const WireReader& message, uint64_t offset, uint64_t length,
                                  absl::string_view what,
                                  absl::FunctionRef<absl::Status(const CreateContextView&)> visit) {
  if (length == 0) return absl::OkStatus();
  SMBD_RETURN_IF_ERROR(CheckBuffer(what, "CreateContextsOffset/Length", offset, length,
                                   kSmb2HeaderSize + kResponseFixed, message.size()));
  if (offset % 8 != 0) {
    return BadField(what, "CreateContextsOffset", offset, "is not 8-byte aligned");
  }
  const uint64_t end = offset + length;
  uint64_t at = offset;
  while (true) {
    const uint64_t left = end - at;
    if (left < kContextHeader) {
      return BadField(what, "create context", at - offset,
                      absl::StrCat("has ", left, " bytes, less than its header"));
    }
    SMBD_ASSIGN_OR_RETURN(WireReader r, message.Sub(at, kContextHeader));
    uint32_t next, data_length;
    uint16_t name_offset, name_length, reserved, data_offset;
    if (!r.U32(&next) || !r.U16(&name_offset) || !r.U16(&name_length) || !r.U16(&reserved) ||
        !r.U16(&data_offset) || !r.U32(&data_length)) {
      return r.Error(what);
    }
    if (next != 0 && (next % 8 != 0 || next < kContextHeader || next > left - kContextHeader)) {
      return BadField(what, "create context Next", next,
                      absl::StrCat("at chain offset ", at - offset,
                                   " is unaligned, overlaps this context or runs past the ",
                                   left, " bytes left"));
    }
    const uint64_t extent = next != 0 ? next : left;
    if (name_length == 0 || name_offset < kContextHeader ||
        uint64_t{name_offset} + name_length > extent) {
      return BadField(what, "create context NameOffset/NameLength", name_offset,
                      absl::StrCat("+", name_length, " is outside its context of ", extent,
                                   " bytes"));
    }
    if (data_length != 0 &&
        (data_offset < kContextHeader || uint64_t{data_offset} + data_length > extent)) {
      return BadField(what, "create context DataOffset/DataLength", data_offset,
                      absl::StrCat("+", data_length, " is outside its context of ", extent,
                                   " bytes"));
    }
    CreateContextView v;
    v.name_length = name_length;
    SMBD_ASSIGN_OR_RETURN(WireReader n, message.Sub(at + name_offset, name_length));
    if (!n.Bytes(absl::MakeSpan(v.name, name_length < 16 ? name_length : 16))) {
      return n.Error(what);
    }
    v.data_offset = data_length != 0 ? at + data_offset : 0;
    v.data_length = data_length;
    SMBD_RETURN_IF_ERROR(visit(v));
    if (next == 0) return absl::OkStatus();
    at += next;
  }
}

absl::StatusOr<CreateResponse> DecodeCreateResponse(WireReader r) {
  SMBD_RETURN_IF_ERROR(ExpectBody(&r, kResponseStructureSize, kWhat));
  CreateResponse resp;
  uint32_t reserved2;
  if (!r.U8(&resp.oplock_level) || !r.U8(&resp.flags) || !r.U32(&resp.create_action) ||
      !r.U64(&resp.creation_time) || !r.U64(&resp.last_access_time) ||
      !r.U64(&resp.last_write_time) || !r.U64(&resp.change_time) ||
      !r.U64(&resp.allocation_size) || !r.U64(&resp.end_of_file) ||
      !r.U32(&resp.file_attributes) || !r.U32(&reserved2) || !DecodeFileId(&r, &resp.file_id) ||
      !r.U32(&resp.create_contexts_offset) || !r.U32(&resp.create_contexts_length)) {
    return r.Error(kWhat);
  }
  // Samba and Windows end the body after the 88 fixed bytes when there are no contexts
  // (StructureSize 89 notwithstanding), so no Buffer byte is required.
  SMBD_RETURN_IF_ERROR(ForEachCreateContext(
      r, resp.create_contexts_offset, resp.create_contexts_length, kWhat,
      [&r, &resp](const CreateContextView& v) { return DecodeKnownContext(r, v, &resp); }));
  return resp;
}

}  // namespace smbd
