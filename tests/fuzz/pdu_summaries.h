// Summaries of every SMB2 response decoder for the fuzz targets: each decodes one message (a
// WireReader over header + body, as the stack hands it over) with the decoders of one command,
// follows every offset and iterator the decoded response leads to, and renders the result (the
// status, or every decoded field) as a string, so that the span and Bvecq decodes can be
// compared. Header-only: each target includes it and uses what it needs.
#ifndef SMBD_TESTS_FUZZ_PDU_SUMMARIES_H_
#define SMBD_TESTS_FUZZ_PDU_SUMMARIES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "buffers/wire.h"
#include "smb2/constants.h"
#include "smb2/header.h"
#include "smb2/pdu/close.h"
#include "smb2/pdu/create.h"
#include "smb2/pdu/echo.h"
#include "smb2/pdu/error.h"
#include "smb2/pdu/flush.h"
#include "smb2/pdu/ioctl.h"
#include "smb2/pdu/logoff.h"
#include "smb2/pdu/negotiate.h"
#include "smb2/pdu/oplock_break.h"
#include "smb2/pdu/query_directory.h"
#include "smb2/pdu/query_info.h"
#include "smb2/pdu/read.h"
#include "smb2/pdu/session_setup.h"
#include "smb2/pdu/set_info.h"
#include "smb2/pdu/tree_connect.h"
#include "smb2/pdu/tree_disconnect.h"
#include "smb2/pdu/write.h"
#include "tests/fuzz/fuzz_common.h"

namespace smbd {
namespace fuzz {

inline std::string Ids(const std::vector<uint16_t>& v) {
  std::string s;
  for (uint16_t x : v) absl::StrAppend(&s, x, ",");
  return s;
}

inline std::string FileIdText(const FileId& id) {
  return absl::StrCat(id.persistent, ":", id.volatile_id);
}

// The bytes a sub-reader covers, read through it (so a bad sub-reader is exercised too).
inline std::string ReaderBytes(WireReader r) {
  std::vector<uint8_t> b(r.remaining());
  if (!r.Bytes(absl::MakeSpan(b))) return "<unreadable>";
  return Hex(b);
}

inline std::string SummarizeHeader(WireReader r) {
  absl::StatusOr<Smb2Header> h = DecodeHeader(&r);
  if (!h.ok()) return StatusText(h);
  return absl::StrCat("hdr ", h->credit_charge, "/", h->status, "/",
                      static_cast<int>(h->command), "/", h->credits, "/", h->flags, "/",
                      h->next_command, "/", h->message_id, "/", h->async_id, "/", h->process_id,
                      "/", h->tree_id, "/", h->session_id, "/",
                      Hex(absl::MakeConstSpan(h->signature)), " @", r.position());
}

inline std::string SummarizeNegotiate(WireReader m) {
  absl::StatusOr<NegotiateResponse> r = DecodeNegotiateResponse(m);
  if (!r.ok()) return StatusText(r);
  std::string s = absl::StrCat(
      "neg ", r->security_mode, "/", r->dialect, "/", Hex(absl::MakeConstSpan(r->server_guid)),
      "/", r->capabilities, "/", r->max_transact_size, "/", r->max_read_size, "/",
      r->max_write_size, "/", r->system_time, "/", r->server_start_time, "/",
      r->security_buffer_offset, "/", r->security_buffer_length, "/other ",
      Ids(r->other_context_types));
  if (r->preauth) {
    absl::StrAppend(&s, "/preauth ", Ids(r->preauth->hash_algorithms), " ",
                    Hex(r->preauth->salt));
  }
  if (r->ciphers) absl::StrAppend(&s, "/ciphers ", Ids(*r->ciphers));
  if (r->signing_algorithms) absl::StrAppend(&s, "/signing ", Ids(*r->signing_algorithms));
  if (r->rdma_transforms) absl::StrAppend(&s, "/rdma ", Ids(*r->rdma_transforms));
  if (r->netname) absl::StrAppend(&s, "/netname ", *r->netname);
  // The security buffer the client hands to SPNEGO.
  if (r->security_buffer_length > 0) {
    absl::StatusOr<WireReader> sb = m.Sub(r->security_buffer_offset, r->security_buffer_length);
    absl::StrAppend(&s, "/sb ", sb.ok() ? ReaderBytes(*sb) : StatusText(sb));
  }
  return s;
}

inline std::string SummarizeSessionSetup(WireReader m) {
  absl::StatusOr<SessionSetupResponse> r = DecodeSessionSetupResponse(m);
  if (!r.ok()) return StatusText(r);
  std::string s = absl::StrCat("ss ", r->session_flags, "/", r->security_buffer_offset, "/",
                               r->security_buffer_length);
  if (r->security_buffer_length > 0) {
    absl::StatusOr<WireReader> sb = m.Sub(r->security_buffer_offset, r->security_buffer_length);
    absl::StrAppend(&s, "/sb ", sb.ok() ? ReaderBytes(*sb) : StatusText(sb));
  }
  return s;
}

inline std::string SummarizeTreeConnect(WireReader m) {
  absl::StatusOr<TreeConnectResponse> r = DecodeTreeConnectResponse(m);
  if (!r.ok()) return StatusText(r);
  return absl::StrCat("tc ", r->share_type, "/", r->share_flags, "/", r->capabilities, "/",
                      r->maximal_access);
}

inline std::string SummarizeCreate(WireReader m) {
  absl::StatusOr<CreateResponse> r = DecodeCreateResponse(m);
  if (!r.ok()) return StatusText(r);
  std::string s = absl::StrCat(
      "create ", r->oplock_level, "/", r->flags, "/", r->create_action, "/", r->creation_time,
      "/", r->last_access_time, "/", r->last_write_time, "/", r->change_time, "/",
      r->allocation_size, "/", r->end_of_file, "/", r->file_attributes, "/",
      FileIdText(r->file_id), "/", r->create_contexts_offset, "/", r->create_contexts_length,
      "/", r->other_contexts);
  if (r->maximal_access) {
    absl::StrAppend(&s, "/MxAc ", r->maximal_access->query_status, " ",
                    r->maximal_access->maximal_access);
  }
  if (r->on_disk_id) {
    absl::StrAppend(&s, "/QFid ", r->on_disk_id->disk_file_id, " ", r->on_disk_id->volume_id);
  }
  if (r->lease) {
    absl::StrAppend(&s, "/RqLs ", r->lease->version, " ", Hex(absl::MakeConstSpan(r->lease->key)),
                    " ", r->lease->state, " ", r->lease->flags, " ",
                    Hex(absl::MakeConstSpan(r->lease->parent_key)), " ", r->lease->epoch);
  }
  if (r->durable_v2) {
    absl::StrAppend(&s, "/DH2Q ", r->durable_v2->timeout_ms, " ", r->durable_v2->flags);
  }
  // Walk the contexts again as a caller looking for other names would.
  absl::Status walk = ForEachCreateContext(
      m, r->create_contexts_offset, r->create_contexts_length, "CREATE response",
      [&s, &m](const CreateContextView& v) {
        absl::StrAppend(&s, "/ctx ", Hex(absl::MakeConstSpan(v.name, v.name_length < 16
                                                                         ? v.name_length
                                                                         : 16)),
                        " ", v.data_offset, " ", v.data_length);
        absl::StatusOr<WireReader> d = m.Sub(v.data_offset, v.data_length);
        absl::StrAppend(&s, " ", d.ok() ? ReaderBytes(*d) : StatusText(d));
        return absl::OkStatus();
      });
  absl::StrAppend(&s, "/walk ", StatusText(walk));
  return s;
}

// ForEachCreateContext over an arbitrary (offset, length) taken from the message's last 8 bytes,
// for contexts found in places DecodeCreateResponse would not look.
inline std::string SummarizeCreateContexts(WireReader m) {
  if (m.size() < 8) return "short";
  WireReader tail = m;
  uint32_t offset = 0, length = 0;
  if (!tail.Skip(m.size() - 8) || !tail.U32(&offset) || !tail.U32(&length)) return "tail";
  std::string s;
  absl::Status walk =
      ForEachCreateContext(m, offset, length, "fuzz", [&s](const CreateContextView& v) {
        absl::StrAppend(&s, "ctx ", v.short_name().size(), " ", v.data_offset, " ",
                        v.data_length, ";");
        return absl::OkStatus();
      });
  return absl::StrCat(s, StatusText(walk));
}

inline std::string SummarizeClose(WireReader m) {
  absl::StatusOr<CloseResponse> r = DecodeCloseResponse(m);
  if (!r.ok()) return StatusText(r);
  return absl::StrCat("close ", r->flags, "/", r->creation_time, "/", r->last_access_time, "/",
                      r->last_write_time, "/", r->change_time, "/", r->allocation_size, "/",
                      r->end_of_file, "/", r->file_attributes);
}

inline std::string SummarizeRead(WireReader m) {
  absl::StatusOr<ReadResponse> r = DecodeReadResponse(m);
  if (!r.ok()) return StatusText(r);
  std::string s = absl::StrCat("read ", r->data_offset, "/", r->data_length, "/",
                               r->data_remaining, "/", r->flags);
  // The client copies the inline data from [DataOffset, +DataLength): it must be inside.
  if (r->data_length > 0) {
    absl::StatusOr<WireReader> d = m.Sub(r->data_offset, r->data_length);
    if (!d.ok()) Fail(absl::StrCat("READ response accepted with data outside the message: ", s));
    absl::StrAppend(&s, "/", ReaderBytes(*d));
  }
  return s;
}

inline std::string SummarizeWrite(WireReader m) {
  absl::StatusOr<WriteResponse> r = DecodeWriteResponse(m);
  if (!r.ok()) return StatusText(r);
  return absl::StrCat("write ", r->count, "/", r->remaining);
}

inline std::string SummarizeQueryInfoBuffer(WireReader b) {
  std::string s;
  {
    auto r = DecodeFileBasicInformation(b);
    absl::StrAppend(&s, "basic ", r.ok() ? absl::StrCat(r->creation_time, " ",
                                                         r->last_access_time, " ",
                                                         r->last_write_time, " ", r->change_time,
                                                         " ", r->file_attributes)
                                         : StatusText(r), ";");
  }
  {
    auto r = DecodeFileStandardInformation(b);
    absl::StrAppend(&s, "std ", r.ok() ? absl::StrCat(r->allocation_size, " ", r->end_of_file,
                                                       " ", r->number_of_links, " ",
                                                       r->delete_pending, " ", r->directory)
                                       : StatusText(r), ";");
  }
  {
    auto r = DecodeFileNetworkOpenInformation(b);
    absl::StrAppend(&s, "netopen ", r.ok() ? absl::StrCat(r->creation_time, " ",
                                                           r->allocation_size, " ",
                                                           r->end_of_file, " ", r->file_attributes)
                                           : StatusText(r), ";");
  }
  {
    auto r = DecodeFileAllInformation(b);
    absl::StrAppend(&s, "all ", r.ok() ? absl::StrCat(r->basic.creation_time, " ",
                                                       r->standard.end_of_file, " ",
                                                       r->index_number, " ", r->ea_size, " ",
                                                       r->access_flags, " ",
                                                       r->current_byte_offset, " ", r->mode, " ",
                                                       r->alignment_requirement, " ", r->name)
                                       : StatusText(r), ";");
  }
  {
    auto r = DecodeFsSizeInformation(b);
    absl::StrAppend(&s, "fssize ", r.ok() ? absl::StrCat(r->total_allocation_units, " ",
                                                          r->available_allocation_units, " ",
                                                          r->sectors_per_allocation_unit, " ",
                                                          r->bytes_per_sector)
                                          : StatusText(r), ";");
  }
  {
    auto r = DecodeFsFullSizeInformation(b);
    absl::StrAppend(&s, "fsfull ", r.ok() ? absl::StrCat(r->total_allocation_units, " ",
                                                          r->caller_available_allocation_units,
                                                          " ",
                                                          r->actual_available_allocation_units,
                                                          " ", r->sectors_per_allocation_unit,
                                                          " ", r->bytes_per_sector)
                                          : StatusText(r), ";");
  }
  {
    auto r = DecodeFsAttributeInformation(b);
    absl::StrAppend(&s, "fsattr ", r.ok() ? absl::StrCat(r->file_system_attributes, " ",
                                                          r->maximum_component_name_length, " ",
                                                          r->file_system_name)
                                          : StatusText(r), ";");
  }
  return s;
}

inline std::string SummarizeQueryInfo(WireReader m) {
  absl::StatusOr<QueryInfoResponse> r = DecodeQueryInfoResponse(m);
  if (!r.ok()) return StatusText(r);
  std::string s = absl::StrCat("qi ", r->output_buffer_offset, "/", r->output_buffer_length);
  absl::StatusOr<WireReader> out = QueryInfoOutput(m, *r);
  if (!out.ok()) return absl::StrCat(s, "/", StatusText(out));
  return absl::StrCat(s, "/", SummarizeQueryInfoBuffer(*out));
}

inline std::string SummarizeQueryDirectory(WireReader m) {
  absl::StatusOr<QueryDirectoryResponse> r = DecodeQueryDirectoryResponse(m);
  if (!r.ok()) return StatusText(r);
  std::string s = absl::StrCat("qd ", r->output_buffer_offset, "/", r->output_buffer_length);
  absl::StatusOr<DirectoryEntryIterator> it = DirectoryEntryIterator::Create(m, *r);
  if (!it.ok()) return absl::StrCat(s, "/", StatusText(it));
  // Entries are at least 104 bytes: a bounded message cannot hold more than this many.
  const uint64_t bound = m.size() / DirectoryEntryIterator::kFixedSize + 1;
  for (uint64_t n = 0;; ++n) {
    if (n > bound) Fail(absl::StrCat("DirectoryEntryIterator: more than ", bound, " entries"));
    DirectoryEntry e;
    absl::StatusOr<bool> more = it->Next(&e);
    if (!more.ok()) return absl::StrCat(s, "/", StatusText(more));
    if (!*more) break;
    absl::StrAppend(&s, "/e ", e.file_index, " ", e.creation_time, " ", e.last_access_time, " ",
                    e.last_write_time, " ", e.change_time, " ", e.end_of_file, " ",
                    e.allocation_size, " ", e.file_attributes, " ", e.ea_size, " ",
                    e.short_name, " ", e.file_id, " ", e.name);
  }
  // After the end, Next keeps saying so.
  DirectoryEntry e;
  absl::StatusOr<bool> again = it->Next(&e);
  if (!again.ok() || *again) Fail("DirectoryEntryIterator: Next after the end did not say false");
  return s;
}

inline std::string SummarizeIoctl(WireReader m) {
  absl::StatusOr<IoctlResponse> r = DecodeIoctlResponse(m);
  if (!r.ok()) return StatusText(r);
  std::string s = absl::StrCat("ioctl ", r->ctl_code, "/", FileIdText(r->file_id), "/",
                               r->input_offset, "/", r->input_count, "/", r->output_offset, "/",
                               r->output_count, "/", r->flags);
  absl::StatusOr<WireReader> out = IoctlOutput(m, *r);
  if (!out.ok()) return absl::StrCat(s, "/", StatusText(out));
  // Both FSCTL output decoders, whatever the CtlCode says.
  absl::StatusOr<ValidateNegotiateInfoResponse> v = DecodeValidateNegotiateInfo(*out);
  if (v.ok()) {
    absl::StrAppend(&s, "/vni ", v->capabilities, " ", Hex(absl::MakeConstSpan(v->guid)), " ",
                    v->security_mode, " ", v->dialect);
  } else {
    absl::StrAppend(&s, "/vni ", StatusText(v));
  }
  absl::StatusOr<std::vector<NetworkInterfaceInfo>> nics = DecodeNetworkInterfaceInfo(*out);
  if (nics.ok()) {
    for (const NetworkInterfaceInfo& n : *nics) {
      absl::StrAppend(&s, "/nic ", n.if_index, " ", n.capability, " ", n.link_speed, " ",
                      n.family, " ", n.port, " ", Hex(absl::MakeConstSpan(n.address)), " ",
                      n.flow_info, " ", n.scope_id);
    }
  } else {
    absl::StrAppend(&s, "/nic ", StatusText(nics));
  }
  return s;
}

inline std::string SummarizeError(WireReader m) {
  std::string s;
  absl::StatusOr<ErrorResponse> e = DecodeErrorResponse(m);
  if (e.ok()) {
    absl::StrAppend(&s, "err ", e->error_context_count, "/", e->byte_count);
    absl::StatusOr<std::vector<ErrorContext>> c = DecodeErrorContexts(m, *e);
    if (c.ok()) {
      for (const ErrorContext& x : *c) {
        absl::StrAppend(&s, "/ctx ", x.error_id, " ", x.data_offset, " ", x.data_length);
      }
    } else {
      absl::StrAppend(&s, "/", StatusText(c));
    }
  } else {
    absl::StrAppend(&s, StatusText(e));
  }
  absl::StatusOr<SymlinkError> l = DecodeSymlinkErrorResponse(m);
  if (l.ok()) {
    absl::StrAppend(&s, ";syml ", l->unparsed_path_length, " ", l->substitute_name, " ",
                    l->print_name, " ", l->flags);
  } else {
    absl::StrAppend(&s, ";", StatusText(l));
  }
  absl::StatusOr<uint32_t> small = DecodeBufferTooSmallResponse(m);
  absl::StrAppend(&s, ";small ", small.ok() ? absl::StrCat(*small) : StatusText(small));
  return s;
}

inline std::string SummarizeBreak(WireReader m) {
  std::string s;
  absl::StatusOr<BreakNotification> n = DecodeBreakNotification(m);
  if (n.ok()) {
    absl::StrAppend(&s, "brk ", n->is_lease, " ", n->oplock.oplock_level, " ",
                    FileIdText(n->oplock.file_id), " ", n->lease.new_epoch, " ", n->lease.flags,
                    " ", Hex(absl::MakeConstSpan(n->lease.lease_key)), " ",
                    n->lease.current_lease_state, " ", n->lease.new_lease_state, " ",
                    n->lease.break_reason, " ", n->lease.access_mask_hint, " ",
                    n->lease.share_mask_hint);
  } else {
    absl::StrAppend(&s, StatusText(n));
  }
  absl::StatusOr<BreakResponse> r = DecodeBreakResponse(m);
  if (r.ok()) {
    absl::StrAppend(&s, ";ack ", r->is_lease, " ", r->oplock.oplock_level, " ",
                    FileIdText(r->oplock.file_id), " ", r->lease.flags, " ",
                    Hex(absl::MakeConstSpan(r->lease.lease_key)), " ", r->lease.lease_state);
  } else {
    absl::StrAppend(&s, ";", StatusText(r));
  }
  return s;
}

// The responses with a 4-byte (or FileId-free) body: flush, echo, logoff, tree disconnect,
// set info.
inline std::string SummarizeEmptyBodies(WireReader m) {
  return absl::StrCat("flush ", StatusText(DecodeFlushResponse(m)), ";echo ",
                      StatusText(DecodeEchoResponse(m)), ";logoff ",
                      StatusText(DecodeLogoffResponse(m)), ";tdis ",
                      StatusText(DecodeTreeDisconnectResponse(m)), ";setinfo ",
                      StatusText(DecodeSetInfoResponse(m)));
}

// The decoder the client would pick for a member with this header: the error decoders for an
// error status (and always, since a server may send an ERROR body with any status), then the
// command's own decoder.
inline std::string SummarizeByCommand(const Smb2Header& h, WireReader m) {
  std::string s = SummarizeError(m);
  switch (h.command) {
    case Command::kNegotiate: return s + "|" + SummarizeNegotiate(m);
    case Command::kSessionSetup: return s + "|" + SummarizeSessionSetup(m);
    case Command::kTreeConnect: return s + "|" + SummarizeTreeConnect(m);
    case Command::kCreate: return s + "|" + SummarizeCreate(m);
    case Command::kClose: return s + "|" + SummarizeClose(m);
    case Command::kRead: return s + "|" + SummarizeRead(m);
    case Command::kWrite: return s + "|" + SummarizeWrite(m);
    case Command::kIoctl: return s + "|" + SummarizeIoctl(m);
    case Command::kQueryDirectory: return s + "|" + SummarizeQueryDirectory(m);
    case Command::kQueryInfo: return s + "|" + SummarizeQueryInfo(m);
    case Command::kOplockBreak: return s + "|" + SummarizeBreak(m);
    default: return s + "|" + SummarizeEmptyBodies(m);
  }
}

}  // namespace fuzz
}  // namespace smbd

#endif  // SMBD_TESTS_FUZZ_PDU_SUMMARIES_H_
