// A scripted SMB2 server for client and hostile-peer tests (testonly), independent of the
// transport under it. It speaks just enough SMB2 to take the real Client to a READ (NEGOTIATE, anonymous NTLM
// over SPNEGO, TREE_CONNECT, CREATE) and serves a small in-memory share (CREATE with the usual
// dispositions, READ and WRITE inline or on the RDMA channel, FLUSH, CLOSE, TREE_DISCONNECT,
// LOGOFF, ECHO). With a Misbehavior other than kNone it answers the client's READs wrongly on
// purpose.
//
// The transport is a FrameSink: Direct TCP (a socketpair and TcpTransport) or SMB Direct (a
// FakeSmbDirectServer on the fake verbs, whose Context gives the RDMA channel). The scripted logic
// is the same on both; only what the sink can do differs (RDMA, how a never-ending frame is
// announced).
#ifndef SMBD_SMB2_CLIENT_TESTING_SCRIPTED_SERVER_H_
#define SMBD_SMB2_CLIENT_TESTING_SCRIPTED_SERVER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "smb2/constants.h"
#include "smb2/header.h"
#include "smb2/pdu/common.h"

namespace smbd {
namespace scripted {

// What the server does with the client's READ.
enum class Misbehavior {
  kNone,                // answer correctly
  kGrantZeroForever,    // answer with 0 credits (the next request cannot go)
  kGrantHuge,           // grant 65535 with every answer
  kWrongMessageId,      // answer with an id that was never sent
  kDuplicateAnswer,     // answer twice
  kDataPastTheFrame,    // DataOffset/DataLength point outside the message
  kMoreDataThanAsked,   // DataLength (inline) larger than the READ asked for
  kTruncatedCompound,   // NextCommand points past the frame
  kPendingForever,      // interim STATUS_PENDING, never the final answer
  kOplockBreakUnknown,  // an oplock break for a file never opened, then a correct answer
  kLeaseBreakUnknown,   // 50 lease breaks (ACK_REQUIRED) for leases never granted, then the answer
  kDisconnect,          // close the connection instead of answering
  kGarbageFrame,        // random bytes
  kHugeFrameLength,     // announce a frame of 16 MiB - 1, send none of it (FrameSink)

  // SMB Direct only: the RDMA channel ([MS-SMB2] 3.3.5.12 READ, 3.3.5.13 WRITE).
  kRdmaWritePastDescriptor,       // RDMA-write 64 bytes more than the descriptor's Length
  kRdmaStaleToken,                // from the 2nd READ on, write through the 1st READ's token
  kRdmaRemainingMoreThanWritten,  // write half of the data, claim all of it in DataRemaining
  kRdmaRemainingMoreThanAsked,    // write all, claim Length + 4096 in DataRemaining
  kDisconnectMidRdma,             // write half of the data, then hang up
  kRdmaReadReadDestination,       // RDMA-read the READ's destination (exposed for writing only)
  kRdmaWriteIntoWriteSource,      // on a WRITE: RDMA-write into its source (exposed for reading)
  // RDMA_V1_INVALIDATE asked: answer with a plain send (the client must invalidate itself).
  kRdmaNoRemoteInvalidate,
  // From the 2nd READ on, invalidate the 1st READ's token (long dead) with every answer.
  kRdmaInvalidateStaleToken,
};
const char* MisbehaviorName(Misbehavior m);

// How the server ends SESSION_SETUP (tricks of a server that never checked the password).
enum class LoginTrick {
  kNullSession,      // NTLM challenge, then SUCCESS with SessionFlags IS_NULL (anonymous)
  kSuccessFirstLeg,  // STATUS_SUCCESS to the first SESSION_SETUP (no challenge at all)
  kGuestSession,     // NTLM challenge, then SUCCESS with SessionFlags IS_GUEST, unsigned
  kUnsignedSuccess,  // NTLM challenge, then SUCCESS, no flags, unsigned (never checks it)
};

// Where the scripted server's answers go. Called only from the thread running Handle().
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  // Sends one complete frame (one message or a compound chain).
  virtual absl::Status Send(const std::vector<uint8_t>& frame) = 0;
  // Sends a frame whose last message invalidates `rkey` at the client (SEND_WITH_INVALIDATE,
  // SMB Direct only; elsewhere a plain Send).
  virtual absl::Status SendInvalidating(const std::vector<uint8_t>& frame, uint32_t rkey) {
    return Send(frame);
  }
  // Drops the connection.
  virtual void Hangup() = 0;
  // Starts a frame announcing `announced` bytes and sends none of them: a raw length word over
  // TCP ([MS-SMB2] 2.1), a first fragment with RemainingDataLength over SMB Direct
  // ([MS-SMBD] 2.2.3).
  virtual absl::Status SendFrameStartOnly(uint32_t announced) = 0;
  // The RDMA channel: one-sided access to the client's memory through a buffer descriptor's
  // {Offset, Token}. Only SMB Direct has it.
  virtual bool has_rdma() const { return false; }
  virtual absl::Status RdmaWrite(uint64_t addr, uint32_t token, absl::Span<const uint8_t> bytes);
  virtual absl::Status RdmaRead(uint64_t addr, uint32_t token, absl::Span<uint8_t> out);
};

// One RDMA operation the server attempted, and how it ended.
struct RdmaOp {
  bool write = false;
  uint64_t addr = 0;
  uint32_t token = 0;
  uint64_t length = 0;
  absl::Status status;
};

class ScriptedSmb2Server {
 public:
  struct Options {
    Misbehavior misbehavior = Misbehavior::kNone;
    // The dialect chosen in the NEGOTIATE response. The client uses the RDMA channel only from
    // 3.0 on, so SMB Direct runs answer 3.0.2.
    uint16_t dialect = kDialect210;
    // MaxTransactSize / MaxReadSize / MaxWriteSize.
    uint32_t max_io = 1 << 20;
    LoginTrick login = LoginTrick::kNullSession;
    // NEGOTIATE answers SecurityMode SIGNING_REQUIRED too.
    bool signing_required = false;
    // QUERY_DIRECTORY: entries per answer, and whether the listing ever ends (false: a server
    // that streams new names forever).
    uint32_t directory_batch = 100;
    bool directory_ends = true;
    std::string directory_prefix = "f";  // entry i is named prefix + i
    bool directory_dots_only = false;     // every entry is named "."
  };
  // The share starts with one file, "file": 1 MiB of kFileByte.
  static constexpr uint8_t kFileByte = 0xAB;
  // What kRdmaWritePastDescriptor and kRdmaStaleToken write.
  static constexpr uint8_t kHostileByte = 0xEE;

  explicit ScriptedSmb2Server(Options options);

  // Handles one frame from the client, answering through `sink`. One thread at a time.
  void Handle(const std::vector<uint8_t>& frame, FrameSink* sink);

  // Thread-safe observations for the test.
  std::vector<RdmaOp> rdma_ops() const;
  int reads() const { return reads_.load(); }
  int writes() const { return writes_.load(); }
  bool hung_up() const { return hung_up_.load(); }

 private:
  struct Open {
    std::string name;
    std::shared_ptr<std::vector<uint8_t>> data;
  };

  void Reply(const Smb2Header& req, uint32_t status, const std::vector<uint8_t>& body,
             FrameSink* sink, uint16_t credits = 32, uint32_t extra_flags = 0, uint64_t session = 0,
             uint32_t tree = 0);
  void ReplyError(const Smb2Header& req, uint32_t status, FrameSink* sink);
  void Hangup(FrameSink* sink);
  absl::Status Rdma(FrameSink* sink, bool write, uint64_t addr, uint32_t token,
                    absl::Span<uint8_t> bytes);
  // Writes `data` through `descriptors` in order; the bytes written.
  absl::StatusOr<uint64_t> RdmaWriteAll(FrameSink* sink,
                                        const std::vector<BufferDescriptorV1>& descriptors,
                                        absl::Span<const uint8_t> data);

  void Negotiate(const Smb2Header& req, FrameSink* sink);
  void SessionSetup(const Smb2Header& req, FrameSink* sink);
  void Create(const Smb2Header& req, const std::vector<uint8_t>& frame, FrameSink* sink);
  void Close(const Smb2Header& req, const std::vector<uint8_t>& frame, FrameSink* sink);
  void Flush(const Smb2Header& req, const std::vector<uint8_t>& frame, FrameSink* sink);
  void Write(const Smb2Header& req, const std::vector<uint8_t>& frame, FrameSink* sink);
  void Read(const Smb2Header& req, const std::vector<uint8_t>& frame, FrameSink* sink);
  void QueryDirectory(const Smb2Header& req, const std::vector<uint8_t>& frame, FrameSink* sink);
  Open* FindOpen(const FileId& id);

  const Options options_;
  int setup_round_ = 0;
  std::map<std::string, std::shared_ptr<std::vector<uint8_t>>> files_;
  std::map<uint64_t, Open> opens_;  // by volatile FileId
  uint64_t next_file_id_ = 1;
  uint64_t listed_ = 0;  // directory entries sent so far
  std::vector<BufferDescriptorV1> first_read_descriptors_;  // kRdmaStaleToken
  // The token to invalidate with the next answer (RDMA_V1_INVALIDATE asked).
  std::optional<uint32_t> invalidate_with_answer_;
  std::atomic<int> reads_{0};
  std::atomic<int> writes_{0};
  std::atomic<bool> hung_up_{false};
  mutable std::mutex mu_;
  std::vector<RdmaOp> rdma_ops_;
};

}  // namespace scripted
}  // namespace smbd

#endif  // SMBD_SMB2_CLIENT_TESTING_SCRIPTED_SERVER_H_
