// SMB2/3 protocol constants, each from [MS-SMB2] section 2.2 unless noted.
#ifndef SMBD_SMB2_CONSTANTS_H_
#define SMBD_SMB2_CONSTANTS_H_

#include <cstdint>

namespace smbd {

// [MS-SMB2] 2.2.1: the 64-byte SMB2 packet header.
inline constexpr uint32_t kSmb2HeaderSize = 64;
inline constexpr uint8_t kSmb2ProtocolId[4] = {0xFE, 'S', 'M', 'B'};
// [MS-SMB2] 2.2.41 / 2.2.42: transform and compression headers.
inline constexpr uint8_t kSmb2TransformProtocolId[4] = {0xFD, 'S', 'M', 'B'};
inline constexpr uint8_t kSmb2CompressionProtocolId[4] = {0xFC, 'S', 'M', 'B'};

// Header field offsets ([MS-SMB2] 2.2.1.1 sync / 2.2.1.2 async).
namespace hdr {
inline constexpr uint32_t kProtocolId = 0;
inline constexpr uint32_t kStructureSize = 4;
inline constexpr uint32_t kCreditCharge = 6;
inline constexpr uint32_t kStatus = 8;
inline constexpr uint32_t kCommand = 12;
inline constexpr uint32_t kCredits = 14;
inline constexpr uint32_t kFlags = 16;
inline constexpr uint32_t kNextCommand = 20;
inline constexpr uint32_t kMessageId = 24;
inline constexpr uint32_t kAsyncId = 32;    // async form
inline constexpr uint32_t kReserved = 32;   // sync form (ProcessId)
inline constexpr uint32_t kTreeId = 36;     // sync form
inline constexpr uint32_t kSessionId = 40;
inline constexpr uint32_t kSignature = 48;
inline constexpr uint32_t kSignatureSize = 16;
}  // namespace hdr

enum class Command : uint16_t {
  kNegotiate = 0x0000,
  kSessionSetup = 0x0001,
  kLogoff = 0x0002,
  kTreeConnect = 0x0003,
  kTreeDisconnect = 0x0004,
  kCreate = 0x0005,
  kClose = 0x0006,
  kFlush = 0x0007,
  kRead = 0x0008,
  kWrite = 0x0009,
  kLock = 0x000A,
  kIoctl = 0x000B,
  kCancel = 0x000C,
  kEcho = 0x000D,
  kQueryDirectory = 0x000E,
  kChangeNotify = 0x000F,
  kQueryInfo = 0x0010,
  kSetInfo = 0x0011,
  kOplockBreak = 0x0012,
};
inline constexpr uint16_t kMaxCommand = 0x0012;
const char* CommandName(Command command);

// [MS-SMB2] 2.2.1.2 Flags.
inline constexpr uint32_t kFlagServerToRedir = 0x00000001;
inline constexpr uint32_t kFlagAsyncCommand = 0x00000002;
inline constexpr uint32_t kFlagRelatedOperations = 0x00000004;
inline constexpr uint32_t kFlagSigned = 0x00000008;
inline constexpr uint32_t kFlagPriorityMask = 0x00000070;
inline constexpr uint32_t kFlagDfsOperations = 0x10000000;
inline constexpr uint32_t kFlagReplayOperation = 0x20000000;

// Dialects ([MS-SMB2] 2.2.3).
inline constexpr uint16_t kDialect202 = 0x0202;
inline constexpr uint16_t kDialect210 = 0x0210;
inline constexpr uint16_t kDialect300 = 0x0300;
inline constexpr uint16_t kDialect302 = 0x0302;
inline constexpr uint16_t kDialect311 = 0x0311;
inline constexpr uint16_t kDialectWildcard = 0x02FF;

// Security mode ([MS-SMB2] 2.2.3).
inline constexpr uint16_t kSigningEnabled = 0x0001;
inline constexpr uint16_t kSigningRequired = 0x0002;

// Global capabilities ([MS-SMB2] 2.2.3).
inline constexpr uint32_t kCapDfs = 0x00000001;
inline constexpr uint32_t kCapLeasing = 0x00000002;
inline constexpr uint32_t kCapLargeMtu = 0x00000004;
inline constexpr uint32_t kCapMultiChannel = 0x00000008;
inline constexpr uint32_t kCapPersistentHandles = 0x00000010;
inline constexpr uint32_t kCapDirectoryLeasing = 0x00000020;
inline constexpr uint32_t kCapEncryption = 0x00000040;
inline constexpr uint32_t kCapNotifications = 0x00000080;

// The FileId of related compound members ([MS-SMB2] 3.2.4.1.4).
inline constexpr uint64_t kRelatedFileId = 0xFFFFFFFFFFFFFFFFull;

struct FileId {
  uint64_t persistent = 0;
  uint64_t volatile_id = 0;
  static constexpr FileId Related() { return FileId{kRelatedFileId, kRelatedFileId}; }
  bool operator==(const FileId& o) const {
    return persistent == o.persistent && volatile_id == o.volatile_id;
  }
  bool operator!=(const FileId& o) const { return !(*this == o); }
};

// Credits: one credit per 64 KiB of payload ([MS-SMB2] 3.1.5.2).
inline constexpr uint32_t kCreditUnit = 65536;
inline uint16_t CreditChargeFor(uint64_t payload_bytes) {
  if (payload_bytes == 0) return 1;
  const uint64_t c = (payload_bytes - 1) / kCreditUnit + 1;
  return c > 0xFFFF ? 0xFFFF : static_cast<uint16_t>(c);
}

// [MS-SMB2] 2.2.19 / 2.2.21 Channel values for READ and WRITE.
inline constexpr uint32_t kChannelNone = 0;
inline constexpr uint32_t kChannelRdmaV1 = 1;
inline constexpr uint32_t kChannelRdmaV1Invalidate = 2;
inline constexpr uint32_t kChannelRdmaTransform = 3;

// [MS-SMB2] 2.2.3.1 negotiate context types.
inline constexpr uint16_t kCtxPreauthIntegrity = 0x0001;
inline constexpr uint16_t kCtxEncryption = 0x0002;
inline constexpr uint16_t kCtxCompression = 0x0003;
inline constexpr uint16_t kCtxNetname = 0x0005;
inline constexpr uint16_t kCtxTransport = 0x0006;
inline constexpr uint16_t kCtxRdmaTransform = 0x0007;
inline constexpr uint16_t kCtxSigning = 0x0008;

inline constexpr uint16_t kHashSha512 = 0x0001;

// Cipher ids ([MS-SMB2] 2.2.3.1.2).
inline constexpr uint16_t kCipherAes128Ccm = 0x0001;
inline constexpr uint16_t kCipherAes128Gcm = 0x0002;
inline constexpr uint16_t kCipherAes256Ccm = 0x0003;
inline constexpr uint16_t kCipherAes256Gcm = 0x0004;

// Signing algorithm ids ([MS-SMB2] 2.2.3.1.7).
inline constexpr uint16_t kSigningHmacSha256 = 0x0000;
inline constexpr uint16_t kSigningAesCmac = 0x0001;
inline constexpr uint16_t kSigningAesGmac = 0x0002;

// RDMA transform ids ([MS-SMB2] 2.2.3.1.6).
inline constexpr uint16_t kRdmaTransformNone = 0x0000;
inline constexpr uint16_t kRdmaTransformEncryption = 0x0001;
inline constexpr uint16_t kRdmaTransformSigning = 0x0002;

}  // namespace smbd

#endif  // SMBD_SMB2_CONSTANTS_H_
