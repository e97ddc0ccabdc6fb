// The SMB2 packet header ([MS-SMB2] 2.2.1), encoded and decoded field by field.
#ifndef SMBD_SMB2_HEADER_H_
#define SMBD_SMB2_HEADER_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "buffers/wire.h"
#include "smb2/constants.h"

namespace smbd {

struct Smb2Header {
  uint16_t credit_charge = 0;
  // Responses: the NTSTATUS. Requests (3.x): ChannelSequence (low 16 bits) + Reserved.
  uint32_t status = 0;
  Command command = Command::kNegotiate;
  // CreditRequest in requests, CreditResponse (granted) in responses.
  uint16_t credits = 0;
  uint32_t flags = 0;
  uint32_t next_command = 0;
  uint64_t message_id = 0;
  // Async form (flags & kFlagAsyncCommand): AsyncId. Sync form: Reserved (ProcessId) + TreeId.
  uint64_t async_id = 0;
  uint32_t process_id = 0;
  uint32_t tree_id = 0;
  uint64_t session_id = 0;
  uint8_t signature[16] = {};

  bool is_response() const { return (flags & kFlagServerToRedir) != 0; }
  bool is_async() const { return (flags & kFlagAsyncCommand) != 0; }
  bool is_related() const { return (flags & kFlagRelatedOperations) != 0; }
  bool is_signed() const { return (flags & kFlagSigned) != 0; }
};

// Writes the 64 header bytes.
void EncodeHeader(const Smb2Header& header, WireWriter* w);

// Reads and validates 64 header bytes: ProtocolId 0xFE 'SMB', StructureSize 64, a known command.
absl::StatusOr<Smb2Header> DecodeHeader(WireReader* r);

}  // namespace smbd

#endif  // SMBD_SMB2_HEADER_H_
