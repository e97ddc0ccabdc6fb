#include "smb2/pdu/negotiate.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace smbd {
namespace {

constexpr absl::string_view kWhat = "NEGOTIATE response";
constexpr uint16_t kRequestStructureSize = 36;
constexpr uint16_t kResponseStructureSize = 65;
constexpr uint64_t kRequestFixed = 36;   // dialects follow ([MS-SMB2] 2.2.3)
constexpr uint64_t kResponseFixed = 64;  // security buffer follows ([MS-SMB2] 2.2.4)
constexpr uint64_t kContextHeader = 8;   // ContextType, DataLength, Reserved (2.2.3.1)

bool Offers311(absl::Span<const uint16_t> dialects) {
  return std::find(dialects.begin(), dialects.end(), kDialect311) != dialects.end();
}

// One context to send: its type, data size, and a writer for its data.
struct OutContext {
  uint16_t type;
  uint64_t size;
};

// Reads `count` 16-bit ids, checking first that they fit in `d`.
absl::Status ReadIds(WireReader* d, uint64_t count, absl::string_view field,
                     std::vector<uint16_t>* out) {
  if (count * 2 > d->remaining()) {
    return BadField(kWhat, field, count, "ids do not fit in the context's DataLength");
  }
  out->resize(static_cast<size_t>(count));
  for (uint16_t& id : *out) {
    if (!d->U16(&id)) return d->Error(absl::StrCat(kWhat, ": ", field));
  }
  return absl::OkStatus();
}

absl::Status DecodeContext(uint16_t type, WireReader d, NegotiateResponse* resp) {
  auto duplicate = [type]() {
    return BadField(kWhat, "ContextType", type, "appears twice");
  };
  uint16_t count;
  switch (type) {
    case kCtxPreauthIntegrity: {  // [MS-SMB2] 2.2.3.1.1
      if (resp->preauth.has_value()) return duplicate();
      uint16_t salt_length;
      if (!d.U16(&count) || !d.U16(&salt_length)) {
        return d.Error(absl::StrCat(kWhat, ": PREAUTH_INTEGRITY_CAPABILITIES"));
      }
      if (count == 0) return BadField(kWhat, "HashAlgorithmCount", 0, "is zero");
      PreauthIntegrityCapabilities p;
      SMBD_RETURN_IF_ERROR(ReadIds(&d, count, "HashAlgorithms", &p.hash_algorithms));
      if (salt_length > d.remaining()) {
        return BadField(kWhat, "SaltLength", salt_length, "runs past the context's DataLength");
      }
      p.salt.resize(salt_length);
      if (!d.Bytes(absl::MakeSpan(p.salt))) return d.Error(absl::StrCat(kWhat, ": Salt"));
      resp->preauth = std::move(p);
      return absl::OkStatus();
    }
    case kCtxEncryption: {  // [MS-SMB2] 2.2.3.1.2
      if (resp->ciphers.has_value()) return duplicate();
      if (!d.U16(&count)) return d.Error(absl::StrCat(kWhat, ": CipherCount"));
      std::vector<uint16_t> ids;
      SMBD_RETURN_IF_ERROR(ReadIds(&d, count, "Ciphers", &ids));
      resp->ciphers = std::move(ids);
      return absl::OkStatus();
    }
    case kCtxSigning: {  // [MS-SMB2] 2.2.3.1.7
      if (resp->signing_algorithms.has_value()) return duplicate();
      if (!d.U16(&count)) return d.Error(absl::StrCat(kWhat, ": SigningAlgorithmCount"));
      std::vector<uint16_t> ids;
      SMBD_RETURN_IF_ERROR(ReadIds(&d, count, "SigningAlgorithms", &ids));
      resp->signing_algorithms = std::move(ids);
      return absl::OkStatus();
    }
    case kCtxRdmaTransform: {  // [MS-SMB2] 2.2.3.1.6
      if (resp->rdma_transforms.has_value()) return duplicate();
      uint16_t reserved1;
      uint32_t reserved2;
      if (!d.U16(&count) || !d.U16(&reserved1) || !d.U32(&reserved2)) {
        return d.Error(absl::StrCat(kWhat, ": RDMA_TRANSFORM_CAPABILITIES"));
      }
      std::vector<uint16_t> ids;
      SMBD_RETURN_IF_ERROR(ReadIds(&d, count, "RDMATransformIds", &ids));
      resp->rdma_transforms = std::move(ids);
      return absl::OkStatus();
    }
    case kCtxNetname: {  // [MS-SMB2] 2.2.3.1.4
      if (resp->netname.has_value()) return duplicate();
      SMBD_ASSIGN_OR_RETURN(std::string name, ReadUtf16Le(&d, d.remaining(), kWhat, "NetName"));
      resp->netname = std::move(name);
      return absl::OkStatus();
    }
    default:
      // Compression, transport and future contexts: not interpreted here ([MS-SMB2] 3.2.5.2
      // has the client ignore what it does not understand).
      resp->other_context_types.push_back(type);
      return absl::OkStatus();
  }
}

}  // namespace

absl::Status EncodeNegotiateRequest(const NegotiateRequest& req, WireWriter* w) {
  if (req.dialects.empty() || req.dialects.size() > 0xFFFF) {
    return absl::InvalidArgumentError(
        absl::StrCat("NEGOTIATE: ", req.dialects.size(), " dialects"));
  }
  const bool v311 = Offers311(req.dialects);
  OutContext contexts[5];
  int n = 0;
  uint64_t netname_size = 0;
  if (v311) {
    if (req.preauth_salt.empty()) {
      return absl::InvalidArgumentError("NEGOTIATE: 3.1.1 offered without a preauth salt");
    }
    contexts[n++] = {kCtxPreauthIntegrity, 6 + req.preauth_salt.size()};
    if (!req.ciphers.empty()) contexts[n++] = {kCtxEncryption, 2 + 2 * req.ciphers.size()};
    if (!req.netname.empty()) {
      SMBD_ASSIGN_OR_RETURN(netname_size, Utf16LeSize(req.netname));
      contexts[n++] = {kCtxNetname, netname_size};
    }
    if (!req.rdma_transforms.empty()) {
      contexts[n++] = {kCtxRdmaTransform, 8 + 2 * req.rdma_transforms.size()};
    }
    if (!req.signing_algorithms.empty()) {
      contexts[n++] = {kCtxSigning, 2 + 2 * req.signing_algorithms.size()};
    }
    for (int i = 0; i < n; ++i) {
      if (contexts[i].size > 0xFFFF) {
        return absl::InvalidArgumentError(absl::StrCat("NEGOTIATE: context ", contexts[i].type,
                                                       " of ", contexts[i].size, " bytes"));
      }
    }
  }
  const uint64_t dialects_end = kSmb2HeaderSize + kRequestFixed + 2 * req.dialects.size();
  const uint64_t contexts_offset = AlignUp8(dialects_end);

  w->U16(kRequestStructureSize);
  w->U16(static_cast<uint16_t>(req.dialects.size()));
  w->U16(req.security_mode);
  w->U16(0);  // Reserved
  w->U32(req.capabilities);
  w->Bytes(absl::MakeConstSpan(req.client_guid));
  if (v311) {
    w->U32(static_cast<uint32_t>(contexts_offset));  // NegotiateContextOffset
    w->U16(static_cast<uint16_t>(n));                // NegotiateContextCount
    w->U16(0);                                       // Reserved2
  } else {
    w->U64(0);  // ClientStartTime
  }
  for (uint16_t d : req.dialects) w->U16(d);
  if (!v311) return absl::OkStatus();

  uint64_t at = dialects_end;
  for (int i = 0; i < n; ++i) {
    w->Zeros(AlignUp8(at) - at);  // contexts start 8-aligned; the last one is not padded
    at = AlignUp8(at);
    w->U16(contexts[i].type);
    w->U16(static_cast<uint16_t>(contexts[i].size));
    w->U32(0);  // Reserved
    switch (contexts[i].type) {
      case kCtxPreauthIntegrity:
        w->U16(1);  // HashAlgorithmCount
        w->U16(static_cast<uint16_t>(req.preauth_salt.size()));
        w->U16(kHashSha512);
        w->Bytes(req.preauth_salt);
        break;
      case kCtxEncryption:
        w->U16(static_cast<uint16_t>(req.ciphers.size()));
        for (uint16_t c : req.ciphers) w->U16(c);
        break;
      case kCtxNetname:
        WriteUtf16Le(req.netname, w);
        break;
      case kCtxRdmaTransform:
        w->U16(static_cast<uint16_t>(req.rdma_transforms.size()));
        w->U16(0);  // Reserved1
        w->U32(0);  // Reserved2
        for (uint16_t t : req.rdma_transforms) w->U16(t);
        break;
      case kCtxSigning:
        w->U16(static_cast<uint16_t>(req.signing_algorithms.size()));
        for (uint16_t a : req.signing_algorithms) w->U16(a);
        break;
    }
    at += kContextHeader + contexts[i].size;
  }
  return absl::OkStatus();
}

absl::StatusOr<NegotiateResponse> DecodeNegotiateResponse(WireReader r) {
  SMBD_RETURN_IF_ERROR(ExpectBody(&r, kResponseStructureSize, kWhat));
  NegotiateResponse resp;
  uint16_t context_count;
  uint32_t context_offset;
  if (!r.U16(&resp.security_mode) || !r.U16(&resp.dialect) || !r.U16(&context_count) ||
      !r.Bytes(absl::MakeSpan(resp.server_guid)) || !r.U32(&resp.capabilities) ||
      !r.U32(&resp.max_transact_size) || !r.U32(&resp.max_read_size) ||
      !r.U32(&resp.max_write_size) || !r.U64(&resp.system_time) ||
      !r.U64(&resp.server_start_time) || !r.U16(&resp.security_buffer_offset) ||
      !r.U16(&resp.security_buffer_length) || !r.U32(&context_offset)) {
    return r.Error(kWhat);
  }
  const uint64_t fixed_end = kSmb2HeaderSize + kResponseFixed;
  SMBD_RETURN_IF_ERROR(CheckBuffer(kWhat, "SecurityBufferOffset/Length",
                                   resp.security_buffer_offset, resp.security_buffer_length,
                                   fixed_end, r.size()));
  if (resp.dialect != kDialect311) return resp;  // the context fields are Reserved

  // [MS-SMB2] 2.2.4: NegotiateContextOffset is 8-byte aligned; the list runs to the end.
  if (context_count == 0) {
    // 3.2.5.2: a 3.1.1 response MUST carry the preauth integrity context.
    return BadField(kWhat, "NegotiateContextCount", 0, "for dialect 3.1.1");
  }
  if (context_offset < fixed_end || context_offset % 8 != 0 || context_offset >= r.size()) {
    return BadField(kWhat, "NegotiateContextOffset", context_offset,
                    absl::StrCat("is not an 8-aligned offset in the body [", fixed_end, ", ",
                                 r.size(), ")"));
  }
  uint64_t at = context_offset;
  for (uint16_t i = 0; i < context_count; ++i) {
    at = AlignUp8(at);
    if (at + kContextHeader > r.size()) {
      return BadField(kWhat, "NegotiateContextCount", context_count,
                      absl::StrCat("but context ", i, " starts past the end"));
    }
    SMBD_ASSIGN_OR_RETURN(WireReader h, r.Sub(at, kContextHeader));
    uint16_t type, data_length;
    uint32_t reserved;
    if (!h.U16(&type) || !h.U16(&data_length) || !h.U32(&reserved)) {
      return h.Error(absl::StrCat(kWhat, ": negotiate context"));
    }
    if (at + kContextHeader + data_length > r.size()) {
      return BadField(kWhat, "DataLength", data_length,
                      absl::StrCat("of context ", i, " runs past the end"));
    }
    SMBD_ASSIGN_OR_RETURN(WireReader d, r.Sub(at + kContextHeader, data_length));
    SMBD_RETURN_IF_ERROR(DecodeContext(type, d, &resp));
    at += kContextHeader + data_length;
  }
  if (!resp.preauth.has_value()) {
    return absl::DataLossError(
        absl::StrCat(kWhat, ": dialect 3.1.1 without a PREAUTH_INTEGRITY context"));
  }
  return resp;
}

}  // namespace smbd
