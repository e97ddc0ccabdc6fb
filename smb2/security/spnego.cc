#include "smb2/security/spnego.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "buffers/wire.h"

namespace smbd {
namespace {

// X.690 identifier octets used here.
constexpr uint8_t kTagEnumerated = 0x0A;
constexpr uint8_t kTagOctetString = 0x04;
constexpr uint8_t kTagOid = 0x06;
constexpr uint8_t kTagBitString = 0x03;
constexpr uint8_t kTagSequence = 0x30;
constexpr uint8_t kTagApplication0 = 0x60;
constexpr uint8_t Context(int n) { return static_cast<uint8_t>(0xA0 | n); }

// ---- Encoder ----

void PutLength(std::vector<uint8_t>* out, size_t len) {
  if (len < 0x80) {
    out->push_back(static_cast<uint8_t>(len));
    return;
  }
  uint8_t bytes[8];
  int n = 0;
  for (size_t v = len; v != 0; v >>= 8) bytes[n++] = static_cast<uint8_t>(v);
  out->push_back(static_cast<uint8_t>(0x80 | n));
  while (n > 0) out->push_back(bytes[--n]);
}

std::vector<uint8_t> Tlv(uint8_t tag, absl::Span<const uint8_t> value) {
  std::vector<uint8_t> out;
  out.reserve(value.size() + 6);
  out.push_back(tag);
  PutLength(&out, value.size());
  out.insert(out.end(), value.begin(), value.end());
  return out;
}

void Append(std::vector<uint8_t>* out, const std::vector<uint8_t>& more) {
  out->insert(out->end(), more.begin(), more.end());
}

// ---- Decoder ----

struct Element {
  uint8_t tag;
  WireReader value;
};

// Reads one TLV from `r`; the value must lie inside `r`.
absl::StatusOr<Element> ReadElement(WireReader* r, absl::string_view what) {
  uint8_t tag = 0, first = 0;
  if (!r->U8(&tag)) return absl::DataLossError(absl::StrCat("SPNEGO ", what, ": missing tag"));
  if ((tag & 0x1F) == 0x1F) {
    return absl::DataLossError(absl::StrCat("SPNEGO ", what, ": high tag numbers not supported"));
  }
  if (!r->U8(&first)) return absl::DataLossError(absl::StrCat("SPNEGO ", what, ": missing length"));
  uint64_t len = first;
  if (first == 0x80) {
    return absl::DataLossError(absl::StrCat("SPNEGO ", what, ": indefinite length is not DER"));
  }
  if (first > 0x80) {
    const int n = first & 0x7F;
    if (n > 4) {
      return absl::DataLossError(
          absl::StrCat("SPNEGO ", what, ": length of ", n, " bytes overflows"));
    }
    len = 0;
    for (int i = 0; i < n; ++i) {
      uint8_t b = 0;
      if (!r->U8(&b)) return absl::DataLossError(absl::StrCat("SPNEGO ", what, ": truncated length"));
      len = (len << 8) | b;
    }
  }
  if (len > r->remaining()) {
    return absl::DataLossError(absl::StrCat("SPNEGO ", what, ": length ", len, " runs past the ",
                                            r->remaining(), " bytes left"));
  }
  absl::StatusOr<WireReader> value = r->Sub(r->position(), len);
  if (!value.ok()) return value.status();
  if (!r->Skip(len)) return r->Error(what);
  return Element{tag, *value};
}

absl::StatusOr<Element> Expect(WireReader* r, uint8_t tag, absl::string_view what) {
  SMBD_ASSIGN_OR_RETURN(Element e, ReadElement(r, what));
  if (e.tag != tag) {
    return absl::DataLossError(absl::StrCat("SPNEGO ", what, ": expected tag 0x", absl::Hex(tag),
                                            ", got 0x", absl::Hex(e.tag)));
  }
  return e;
}

absl::Status ExpectEnd(const WireReader& r, absl::string_view what) {
  if (r.remaining() != 0) {
    return absl::DataLossError(
        absl::StrCat("SPNEGO ", what, ": ", r.remaining(), " trailing bytes"));
  }
  return absl::OkStatus();
}

std::vector<uint8_t> Bytes(WireReader r) {
  std::vector<uint8_t> out(r.remaining());
  if (!r.Bytes(absl::MakeSpan(out))) out.clear();  // cannot happen: sized from remaining()
  return out;
}

// [n] EXPLICIT OCTET STRING
absl::StatusOr<std::vector<uint8_t>> ExplicitOctetString(WireReader value, absl::string_view what) {
  SMBD_ASSIGN_OR_RETURN(Element s, Expect(&value, kTagOctetString, what));
  SMBD_RETURN_IF_ERROR(ExpectEnd(value, what));
  return Bytes(s.value);
}

absl::StatusOr<Oid> ExplicitOid(WireReader value, absl::string_view what) {
  SMBD_ASSIGN_OR_RETURN(Element o, Expect(&value, kTagOid, what));
  SMBD_RETURN_IF_ERROR(ExpectEnd(value, what));
  if (o.value.remaining() == 0) return absl::DataLossError("SPNEGO: empty OBJECT IDENTIFIER");
  return Bytes(o.value);
}

}  // namespace

const Oid& SpnegoOid() {
  static const Oid* oid = new Oid{0x2B, 0x06, 0x01, 0x05, 0x05, 0x02};
  return *oid;
}
const Oid& NtlmsspOid() {
  static const Oid* oid = new Oid{0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0A};
  return *oid;
}
const Oid& KerberosOid() {
  static const Oid* oid = new Oid{0x2A, 0x86, 0x48, 0x86, 0xF7, 0x12, 0x01, 0x02, 0x02};
  return *oid;
}
const Oid& MsKerberosOid() {
  static const Oid* oid = new Oid{0x2A, 0x86, 0x48, 0x82, 0xF7, 0x12, 0x01, 0x02, 0x02};
  return *oid;
}
const Oid& NegoexOid() {
  static const Oid* oid = new Oid{0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x1E};
  return *oid;
}

std::vector<uint8_t> EncodeMechTypeList(absl::Span<const Oid> mech_types) {
  std::vector<uint8_t> oids;
  for (const Oid& oid : mech_types) Append(&oids, Tlv(kTagOid, oid));
  return Tlv(kTagSequence, oids);
}

std::vector<uint8_t> EncodeNegTokenInit(absl::Span<const Oid> mech_types,
                                        const std::optional<std::vector<uint8_t>>& mech_token) {
  std::vector<uint8_t> fields = Tlv(Context(0), EncodeMechTypeList(mech_types));
  if (mech_token.has_value()) {
    Append(&fields, Tlv(Context(2), Tlv(kTagOctetString, *mech_token)));
  }
  std::vector<uint8_t> inner = Tlv(kTagOid, SpnegoOid());
  Append(&inner, Tlv(Context(0), Tlv(kTagSequence, fields)));
  return Tlv(kTagApplication0, inner);
}

std::vector<uint8_t> EncodeNegTokenResp(const NegTokenResp& resp) {
  std::vector<uint8_t> fields;
  if (resp.neg_state.has_value()) {
    const uint8_t v = static_cast<uint8_t>(*resp.neg_state);
    Append(&fields, Tlv(Context(0), Tlv(kTagEnumerated, absl::MakeConstSpan(&v, 1))));
  }
  if (resp.supported_mech.has_value()) {
    Append(&fields, Tlv(Context(1), Tlv(kTagOid, *resp.supported_mech)));
  }
  if (resp.response_token.has_value()) {
    Append(&fields, Tlv(Context(2), Tlv(kTagOctetString, *resp.response_token)));
  }
  if (resp.mech_list_mic.has_value()) {
    Append(&fields, Tlv(Context(3), Tlv(kTagOctetString, *resp.mech_list_mic)));
  }
  return Tlv(Context(1), Tlv(kTagSequence, fields));
}

absl::StatusOr<NegTokenInit> ParseNegTokenInit(absl::Span<const uint8_t> token) {
  WireReader top(token);
  SMBD_ASSIGN_OR_RETURN(Element app, Expect(&top, kTagApplication0, "InitialContextToken"));
  SMBD_RETURN_IF_ERROR(ExpectEnd(top, "InitialContextToken"));
  SMBD_ASSIGN_OR_RETURN(Element oid, Expect(&app.value, kTagOid, "thisMech"));
  if (Bytes(oid.value) != SpnegoOid()) {
    return absl::DataLossError("InitialContextToken is not SPNEGO (thisMech is not 1.3.6.1.5.5.2)");
  }
  SMBD_ASSIGN_OR_RETURN(Element choice, Expect(&app.value, Context(0), "negTokenInit"));
  SMBD_RETURN_IF_ERROR(ExpectEnd(app.value, "InitialContextToken"));
  SMBD_ASSIGN_OR_RETURN(Element seq, Expect(&choice.value, kTagSequence, "NegTokenInit"));
  SMBD_RETURN_IF_ERROR(ExpectEnd(choice.value, "negTokenInit"));

  NegTokenInit out;
  int last = -1;
  while (seq.value.remaining() > 0) {
    SMBD_ASSIGN_OR_RETURN(Element field, ReadElement(&seq.value, "NegTokenInit field"));
    const int n = field.tag & 0x1F;
    if ((field.tag & 0xE0) != 0xA0 || n > 4 || n <= last) {
      return absl::DataLossError(
          absl::StrCat("SPNEGO NegTokenInit: unexpected field tag 0x", absl::Hex(field.tag)));
    }
    last = n;
    if (n == 0) {
      SMBD_ASSIGN_OR_RETURN(Element list, Expect(&field.value, kTagSequence, "mechTypes"));
      SMBD_RETURN_IF_ERROR(ExpectEnd(field.value, "mechTypes"));
      while (list.value.remaining() > 0) {
        SMBD_ASSIGN_OR_RETURN(Element mech, Expect(&list.value, kTagOid, "MechType"));
        if (mech.value.remaining() == 0) {
          return absl::DataLossError("SPNEGO: empty OBJECT IDENTIFIER");
        }
        out.mech_types.push_back(Bytes(mech.value));
      }
    } else if (n == 1) {
      SMBD_ASSIGN_OR_RETURN(Element flags, Expect(&field.value, kTagBitString, "reqFlags"));
      (void)flags;
      SMBD_RETURN_IF_ERROR(ExpectEnd(field.value, "reqFlags"));
    } else if (n == 2) {
      SMBD_ASSIGN_OR_RETURN(out.mech_token, ExplicitOctetString(field.value, "mechToken"));
    } else {
      // [3] negHints (NegTokenInit2) or mechListMIC, [4] mechListMIC: one well-formed element.
      SMBD_ASSIGN_OR_RETURN(Element any, ReadElement(&field.value, "NegTokenInit field"));
      (void)any;
      SMBD_RETURN_IF_ERROR(ExpectEnd(field.value, "NegTokenInit field"));
    }
  }
  return out;
}

absl::StatusOr<NegTokenResp> ParseNegTokenResp(absl::Span<const uint8_t> token) {
  WireReader top(token);
  SMBD_ASSIGN_OR_RETURN(Element choice, Expect(&top, Context(1), "negTokenResp"));
  SMBD_RETURN_IF_ERROR(ExpectEnd(top, "negTokenResp"));
  SMBD_ASSIGN_OR_RETURN(Element seq, Expect(&choice.value, kTagSequence, "NegTokenResp"));
  SMBD_RETURN_IF_ERROR(ExpectEnd(choice.value, "negTokenResp"));
  NegTokenResp out;
  int last = -1;
  while (seq.value.remaining() > 0) {
    SMBD_ASSIGN_OR_RETURN(Element field, ReadElement(&seq.value, "NegTokenResp field"));
    const int n = field.tag & 0x1F;
    if ((field.tag & 0xE0) != 0xA0 || n > 3 || n <= last) {
      return absl::DataLossError(
          absl::StrCat("SPNEGO NegTokenResp: unexpected field tag 0x", absl::Hex(field.tag)));
    }
    last = n;
    if (n == 0) {
      SMBD_ASSIGN_OR_RETURN(Element e, Expect(&field.value, kTagEnumerated, "negState"));
      SMBD_RETURN_IF_ERROR(ExpectEnd(field.value, "negState"));
      uint8_t v = 0;
      if (e.value.remaining() != 1 || !e.value.U8(&v) || v > 3) {
        return absl::DataLossError("SPNEGO negState is not a one-byte value 0..3");
      }
      out.neg_state = static_cast<NegState>(v);
    } else if (n == 1) {
      SMBD_ASSIGN_OR_RETURN(out.supported_mech, ExplicitOid(field.value, "supportedMech"));
    } else if (n == 2) {
      SMBD_ASSIGN_OR_RETURN(out.response_token, ExplicitOctetString(field.value, "responseToken"));
    } else {
      SMBD_ASSIGN_OR_RETURN(out.mech_list_mic, ExplicitOctetString(field.value, "mechListMIC"));
    }
  }
  return out;
}

}  // namespace smbd
