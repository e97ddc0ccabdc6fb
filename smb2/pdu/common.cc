#include "smb2/pdu/common.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace smbd {

void EncodeFileId(const FileId& id, WireWriter* w) {
  w->U64(id.persistent);
  w->U64(id.volatile_id);
}

bool DecodeFileId(WireReader* r, FileId* id) {
  return r->U64(&id->persistent) && r->U64(&id->volatile_id);
}

void EncodeBufferDescriptors(absl::Span<const BufferDescriptorV1> descriptors, WireWriter* w) {
  for (const BufferDescriptorV1& d : descriptors) {
    w->U64(d.offset);
    w->U32(d.token);
    w->U32(d.length);
  }
}

absl::Status ExpectBody(WireReader* r, uint16_t structure_size, absl::string_view what) {
  if (r->position() < kSmb2HeaderSize && !r->Skip(kSmb2HeaderSize - r->position())) {
    return r->Error(absl::StrCat(what, ": header"));
  }
  uint16_t got;
  if (!r->U16(&got)) return r->Error(absl::StrCat(what, ": StructureSize"));
  if (got != structure_size) {
    return absl::DataLossError(
        absl::StrCat(what, ": StructureSize ", got, ", expected ", structure_size));
  }
  return absl::OkStatus();
}

void EncodeEmptyBody(WireWriter* w) {
  w->U16(4);  // StructureSize
  w->U16(0);  // Reserved
}

absl::Status DecodeEmptyBody(WireReader r, absl::string_view what) {
  absl::Status s = ExpectBody(&r, 4, what);
  if (!s.ok()) return s;
  uint16_t reserved;
  if (!r.U16(&reserved)) return r.Error(absl::StrCat(what, ": Reserved"));
  return absl::OkStatus();
}

absl::Status BadField(absl::string_view what, absl::string_view field, uint64_t value,
                      absl::string_view why) {
  return absl::DataLossError(absl::StrCat(what, ": ", field, " ", value, " ", why));
}

absl::Status CheckBuffer(absl::string_view what, absl::string_view field, uint64_t offset,
                         uint64_t length, uint64_t fixed_end, uint64_t message_size) {
  if (length == 0) return absl::OkStatus();
  if (offset < fixed_end || offset > message_size || length > message_size - offset) {
    return absl::DataLossError(absl::StrCat(what, ": ", field, " [", offset, ", +", length,
                                            ") is outside the message body [", fixed_end, ", ",
                                            message_size, ")"));
  }
  return absl::OkStatus();
}

namespace {

// Calls `emit(unit)` for each UTF-16 code unit of `utf8`; InvalidArgument for invalid UTF-8
// (bad lead or continuation bytes, truncation, overlong forms, surrogates, > U+10FFFF).
template <typename Emit>
absl::Status ForEachUtf16Unit(absl::string_view utf8, Emit emit) {
  size_t i = 0;
  while (i < utf8.size()) {
    const uint8_t c = static_cast<uint8_t>(utf8[i]);
    uint32_t cp;
    int extra;
    if (c < 0x80) {
      cp = c, extra = 0;
    } else if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F, extra = 1;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F, extra = 2;
    } else if ((c & 0xF8) == 0xF0) {
      cp = c & 0x07, extra = 3;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("invalid UTF-8 at byte ", i));
    }
    for (int k = 1; k <= extra; ++k) {
      if (i + k >= utf8.size()) {
        return absl::InvalidArgumentError(absl::StrCat("truncated UTF-8 at byte ", i));
      }
      const uint8_t cc = static_cast<uint8_t>(utf8[i + k]);
      if ((cc & 0xC0) != 0x80) {
        return absl::InvalidArgumentError(absl::StrCat("invalid UTF-8 at byte ", i + k));
      }
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return absl::InvalidArgumentError(absl::StrCat("invalid UTF-8 code point at byte ", i));
    }
    i += extra + 1;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      emit(static_cast<uint16_t>(0xD800 + (cp >> 10)));
      emit(static_cast<uint16_t>(0xDC00 + (cp & 0x3FF)));
    } else {
      emit(static_cast<uint16_t>(cp));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> Utf8ToUtf16Le(absl::string_view utf8) {
  std::string out;
  out.reserve(utf8.size() * 2);
  absl::Status s = ForEachUtf16Unit(utf8, [&out](uint16_t u) {
    out.push_back(static_cast<char>(u & 0xFF));
    out.push_back(static_cast<char>(u >> 8));
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<uint64_t> Utf16LeSize(absl::string_view utf8) {
  uint64_t n = 0;
  absl::Status s = ForEachUtf16Unit(utf8, [&n](uint16_t) { n += 2; });
  if (!s.ok()) return s;
  return n;
}

void WriteUtf16Le(absl::string_view utf8, WireWriter* w) {
  // Invalid input writes nothing past the first bad sequence; callers validate with
  // Utf16LeSize first (the size fields they write come from it).
  (void)ForEachUtf16Unit(utf8, [w](uint16_t u) { w->U16(u); });
}

absl::StatusOr<std::string> ReadUtf16Le(WireReader* r, uint64_t length, absl::string_view what,
                                        absl::string_view field) {
  if (length > r->remaining()) {
    return BadField(what, field, length, "runs past the end of its buffer");
  }
  std::string raw(static_cast<size_t>(length), '\0');
  if (!r->Bytes(absl::MakeSpan(reinterpret_cast<uint8_t*>(&raw[0]), raw.size()))) {
    return r->Error(absl::StrCat(what, ": ", field));
  }
  absl::StatusOr<std::string> utf8 = Utf16LeToUtf8(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(raw.data()), raw.size()));
  if (!utf8.ok()) {
    return absl::DataLossError(absl::StrCat(what, ": ", field, ": ", utf8.status().message()));
  }
  return utf8;
}

absl::StatusOr<std::string> Utf16LeToUtf8(absl::Span<const uint8_t> utf16) {
  if (utf16.size() % 2 != 0) {
    return absl::DataLossError(absl::StrCat("UTF-16 string of odd length ", utf16.size()));
  }
  std::string out;
  out.reserve(utf16.size());
  for (size_t i = 0; i < utf16.size(); i += 2) {
    uint32_t cp = utf16[i] | (uint32_t{utf16[i + 1]} << 8);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (i + 3 >= utf16.size()) return absl::DataLossError("UTF-16: unpaired high surrogate");
      const uint32_t lo = utf16[i + 2] | (uint32_t{utf16[i + 3]} << 8);
      if (lo < 0xDC00 || lo > 0xDFFF) return absl::DataLossError("UTF-16: bad low surrogate");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      i += 2;
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
      return absl::DataLossError("UTF-16: unpaired low surrogate");
    }
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

}  // namespace smbd
