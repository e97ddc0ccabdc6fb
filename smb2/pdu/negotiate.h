// SMB2 NEGOTIATE ([MS-SMB2] 2.2.3 request, 2.2.4 response) with the SMB 3.1.1 negotiate
// contexts of 2.2.3.1 / 2.2.4.1: preauth integrity (2.2.3.1.1), encryption (2.2.3.1.2),
// netname (2.2.3.1.4), RDMA transform (2.2.3.1.6) and signing (2.2.3.1.7) capabilities.
//
// Negotiate runs once per connection, so the decoded contexts are owned vectors and strings.
#ifndef SMBD_SMB2_PDU_NEGOTIATE_H_
#define SMBD_SMB2_PDU_NEGOTIATE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "buffers/wire.h"
#include "smb2/constants.h"
#include "smb2/pdu/common.h"

namespace smbd {

struct NegotiateRequest {
  absl::Span<const uint16_t> dialects;  // e.g. kDialect202 ... kDialect311
  uint16_t security_mode = kSigningEnabled;
  uint32_t capabilities = 0;
  uint8_t client_guid[16] = {};
  // The 3.1.1 contexts, sent (in this order) only when `dialects` offers 3.1.1.
  // PREAUTH_INTEGRITY_CAPABILITIES: SHA-512 with this salt (32 bytes in practice). Required.
  absl::Span<const uint8_t> preauth_salt;
  // ENCRYPTION_CAPABILITIES, in order of preference; empty: context not sent.
  absl::Span<const uint16_t> ciphers;
  // NETNAME_NEGOTIATE_CONTEXT_ID: the server name the client connects to (UTF-8); empty: not
  // sent.
  absl::string_view netname;
  // RDMA_TRANSFORM_CAPABILITIES; empty: not sent.
  absl::Span<const uint16_t> rdma_transforms;
  // SIGNING_CAPABILITIES, in order of preference; empty: not sent.
  absl::Span<const uint16_t> signing_algorithms;
};

// Writes the body: the fixed part, the dialects, and for 3.1.1 the contexts, each 8-byte
// aligned (counted from the SMB2 header), with NegotiateContextOffset/Count. InvalidArgument
// for no dialects, 3.1.1 without a salt, or an invalid netname.
absl::Status EncodeNegotiateRequest(const NegotiateRequest& request, WireWriter* w);

struct PreauthIntegrityCapabilities {
  std::vector<uint16_t> hash_algorithms;
  std::vector<uint8_t> salt;
};

struct NegotiateResponse {
  uint16_t security_mode = 0;
  uint16_t dialect = 0;
  uint8_t server_guid[16] = {};
  uint32_t capabilities = 0;
  uint32_t max_transact_size = 0;
  uint32_t max_read_size = 0;
  uint32_t max_write_size = 0;
  FileTime system_time = 0;
  FileTime server_start_time = 0;
  // The SPNEGO token (GSS NegTokenInit2) is bytes [offset, offset + length) of the message.
  uint16_t security_buffer_offset = 0;
  uint16_t security_buffer_length = 0;
  // 3.1.1 contexts present in the response.
  std::optional<PreauthIntegrityCapabilities> preauth;
  std::optional<std::vector<uint16_t>> ciphers;
  std::optional<std::vector<uint16_t>> signing_algorithms;
  std::optional<std::vector<uint16_t>> rdma_transforms;
  std::optional<std::string> netname;
  // Context types this decoder does not interpret (compression, transport, ...), skipped.
  std::vector<uint16_t> other_context_types;
};

// Decodes a NEGOTIATE response from a reader over the whole message. For dialect 3.1.1 the
// negotiate contexts are parsed (NegotiateContextOffset 8-aligned and inside the message, each
// context's DataLength inside it, a known context type at most once, unknown ones skipped).
absl::StatusOr<NegotiateResponse> DecodeNegotiateResponse(WireReader message);

}  // namespace smbd

#endif  // SMBD_SMB2_PDU_NEGOTIATE_H_
