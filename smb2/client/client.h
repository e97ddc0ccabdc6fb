// The client API: Client (one connection, negotiated) -> Session (authenticated) -> Tree (a
// share) -> File (an open handle). Blocking calls with timeouts; large reads and writes are
// pipelined over many multi-credit requests; small-file reads and stats are compounded into one
// round trip.
//
// Works over any Transport (Direct TCP here; SMB Direct from smbdirect/). Thread-safe: several
// threads may use the same Tree and File concurrently.
//
// Lifetimes: a Session, Tree or File refers to the object it came from, so destroy them in
// reverse order of creation (files, trees, sessions, then the client), as scoped variables do.
#ifndef SMBD_SMB2_CLIENT_CLIENT_H_
#define SMBD_SMB2_CLIENT_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "buffers/page_pool.h"
#include "buffers/wire.h"
#include "smb2/connection.h"
#include "smb2/pdu/change_notify.h"
#include "smb2/security/algorithms.h"
#include "smb2/security/preauth.h"
#include "smb2/security/secret.h"
#include "smb2/transport.h"

namespace smbd {

struct ClientOptions {
  // Dialect range offered ([MS-SMB2] 2.2.3); the highest common one is used.
  uint16_t min_dialect = 0x0202;
  uint16_t max_dialect = 0x0311;
  // Refuse a session that is not signed / not encrypted (never downgrade).
  bool require_signing = false;
  // Sign SMB 2.0.2/2.1 sessions that have a key even when neither side requires it: those
  // dialects have nothing else that proves the server knows the password (a man in the middle
  // can downgrade the NEGOTIATE to 2.1). They never use the RDMA channel, so only CPU is lost.
  bool sign_unproven_sessions = true;
  bool require_encryption = false;
  // Cipher preference for 3.1.1 (first is preferred); 3.0/3.0.2 always use AES-128-CCM.
  std::vector<Cipher> ciphers = {Cipher::kAes128Gcm, Cipher::kAes256Gcm, Cipher::kAes128Ccm,
                                 Cipher::kAes256Ccm};
  // Offer AES-GMAC signing on 3.1.1 ([MS-SMB2] 2.2.3.1.7).
  bool offer_gmac = true;
  // Every request's answer must come within this. On the RDMA channel a request that times out
  // has its buffer deregistered at once: a server that still writes it afterwards breaks the
  // SMB Direct connection (its queue pair fails, and the other requests in flight with it);
  // the caller's memory comes first.
  absl::Duration request_timeout = absl::Seconds(60);
  // Largest single READ/WRITE with inline data (further capped by the server's
  // MaxReadSize/MaxWriteSize and the transport).
  uint32_t max_io = 1 << 20;
  // Largest single READ/WRITE on the RDMA channel (also capped by the peer's MaxReadWriteSize):
  // fewer, larger RDMA transfers. Measured over rxe (BENCHMARKS.md): 4 MiB reads 78.7 MiB/s,
  // 1 MiB reads 74.8 MiB/s.
  uint32_t max_rdma_io = 4 << 20;
  // Bytes in flight for pipelined reads and writes (Samba's cli_pull uses 16 MiB).
  uint64_t window_bytes = 16 << 20;
  // Requests in flight for pipelined reads and writes; 0: window_bytes / request size.
  uint32_t depth = 0;
  CreditOptions credits;
  // Over SMB Direct: READs and WRITEs of at least this many bytes use the RDMA channel
  // ([MS-SMB2] 2.2.19 SMB2_CHANNEL_RDMA_V1); smaller ones go inline. The channel is not used on
  // signed or sealed sessions: RDMA-placed bytes are covered by neither the signature nor the
  // encryption, so such sessions keep their data inline (as the Linux client does).
  uint32_t rdma_threshold = 4096;
  // Tree::List refuses a directory with more entries than this, or whose entries (names and
  // FileInfo records) take more bytes: a server can stream names forever (issue 13). Tree::
  // ListEach has no such limit; its visitor decides.
  uint64_t max_list_entries = uint64_t{1} << 20;
  uint64_t max_list_bytes = uint64_t{256} << 20;
  // Page pool for a client made by ConnectTcp.
  size_t pool_bytes = size_t{256} << 20;
  // Name sent in the 3.1.1 NETNAME context (the server's name as the user wrote it).
  std::string server_name;
};

struct Credentials {
  std::string user;      // empty with anonymous
  std::string domain;
  SecretBytes password;
  std::string workstation = "SMBD-CLIENT";
  bool anonymous = false;
  bool guest = false;  // log in as guest (any password is accepted by a guest-mapping server)
};

struct NegotiatedInfo {
  uint16_t dialect = 0;
  uint16_t server_security_mode = 0;
  uint32_t server_capabilities = 0;
  uint32_t max_transact_size = 0;
  uint32_t max_read_size = 0;
  uint32_t max_write_size = 0;
  Cipher cipher = Cipher::kAes128Ccm;
  bool can_encrypt = false;
  SigningAlgorithm signing = SigningAlgorithm::kHmacSha256;
  uint8_t server_guid[16] = {};
};

// What stat and directory listings return ([MS-FSCC] 2.4.7 / 2.4.41 in one).
struct FileInfo {
  std::string name;
  uint64_t size = 0;
  uint64_t allocation_size = 0;
  uint32_t attributes = 0;
  uint64_t creation_time = 0;      // FILETIME: 100 ns since 1601-01-01 UTC
  uint64_t last_access_time = 0;
  uint64_t last_write_time = 0;
  uint64_t change_time = 0;
  bool is_directory() const { return (attributes & 0x10) != 0; }
};

struct OpenOptions {
  bool read = true;
  bool write = false;
  // kFileOpen (1), kFileCreate (2), kFileOpenIf (3), kFileOverwriteIf (5) ...
  uint32_t disposition = 1;
  bool directory = false;
};

// What File::WaitForChanges watches ([MS-SMB2] 2.2.35).
struct ChangeNotifyOptions {
  uint32_t filter = notify_filter::kFileName | notify_filter::kDirName |
                    notify_filter::kSize | notify_filter::kLastWrite;
  bool watch_tree = false;  // the whole subtree, not only the directory's own entries
  uint32_t buffer_bytes = 64 << 10;
  // How long to wait for a change; then the request is cancelled. Zero: the client's
  // request_timeout.
  absl::Duration timeout = absl::ZeroDuration();
};

struct ClientStats {
  uint64_t round_trips = 0;  // frames sent
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint64_t bytes_placed = 0;  // READ data received straight into the destination
  uint64_t rdma_reads = 0;    // READs whose data the server placed by RDMA
  uint64_t rdma_writes = 0;   // WRITEs whose data the server fetched by RDMA
  uint64_t rdma_bytes_read = 0;     // of bytes_read: placed by the server's RDMA writes
  uint64_t rdma_bytes_written = 0;  // of bytes_written: fetched by the server's RDMA reads
};

class Session;
class Tree;
class File;

class Client {
 public:
  // Connects over Direct TCP to host:port and negotiates.
  static absl::StatusOr<std::unique_ptr<Client>> ConnectTcp(absl::string_view host,
                                                            uint16_t port,
                                                            const ClientOptions& options);
  // Negotiates over a connected transport, with buffers from `pool` (which must outlive the
  // client; for RDMA it is registered with the device).
  static absl::StatusOr<std::unique_ptr<Client>> Create(std::unique_ptr<Transport> transport,
                                                        std::shared_ptr<PagePool> pool,
                                                        const ClientOptions& options);
  ~Client();

  // Authenticates (NTLMv2 over SPNEGO, anonymous or guest).
  absl::StatusOr<std::unique_ptr<Session>> Login(const Credentials& credentials);

  const NegotiatedInfo& negotiated() const { return negotiated_; }
  const ClientOptions& options() const { return options_; }
  Connection* connection() const { return connection_.get(); }
  PagePool* pool() const { return pool_.get(); }
  ClientStats stats() const;

  // Cancels what this client is doing: every request in flight gets an SMB2 CANCEL ([MS-SMB2]
  // 3.2.4.24), and pipelined reads and writes running now stop issuing requests and return
  // kCancelled once the ones in flight have ended (so no buffer is written after they return).
  // A request the server cancels fails with kCancelled; one it had already finished completes
  // normally. Calls started afterwards are not affected. Thread-safe (not async-signal-safe:
  // call it from a thread, e.g. one that sigwait()s). Returns the number of CANCELs sent.
  int Cancel();

  // Largest READ / WRITE this client sends with inline data, or on the RDMA channel.
  uint32_t max_read(bool rdma = false) const;
  uint32_t max_write(bool rdma = false) const;

 private:
  friend class Session;
  friend class Tree;
  friend class File;
  Client(std::shared_ptr<PagePool> pool, const ClientOptions& options);
  absl::Status Negotiate();
  // Submits a chain with each member's deadline request_timeout from now.
  absl::Status Submit(const SmbMessageRef& chain);
  // Sends a chain and waits for every member; times out per options.
  absl::Status RoundTrip(const SmbMessageRef& chain);
  // Waits for one submitted message until its deadline (request_timeout after it was
  // submitted); on timeout cancels it at the server and abandons it.
  absl::Status Await(SmbMessage* m);
  uint16_t Charge(uint64_t bytes) const;
  // Requests in flight for pipelined I/O of `chunk`-byte requests.
  size_t Depth(uint32_t chunk) const;

  std::shared_ptr<PagePool> pool_;
  const ClientOptions options_;
  std::unique_ptr<Connection> connection_;
  NegotiatedInfo negotiated_;
  std::vector<uint8_t> negotiate_token_;  // the server's SPNEGO hint
  PreauthIntegrity preauth_;               // connection-level (3.1.1)
  uint8_t client_guid_[16] = {};
  std::atomic<uint64_t> bytes_read_{0};
  std::atomic<uint64_t> bytes_written_{0};
  std::atomic<uint64_t> rdma_reads_{0};
  std::atomic<uint64_t> rdma_writes_{0};
  std::atomic<uint64_t> rdma_bytes_read_{0};
  std::atomic<uint64_t> rdma_bytes_written_{0};
  std::atomic<uint64_t> cancel_epoch_{0};  // bumped by Cancel(); pipelines compare it
};

class SessionKeys;

class Session {
 public:
  ~Session();
  absl::StatusOr<std::unique_ptr<Tree>> TreeConnect(absl::string_view share);
  absl::Status Logoff();

  uint64_t id() const { return id_; }
  bool is_guest() const { return guest_; }
  bool is_anonymous() const { return anonymous_; }
  bool signs() const;
  bool seals() const;
  Client* client() const { return client_; }

 private:
  friend class Client;
  friend class Tree;
  friend class File;
  explicit Session(Client* client) : client_(client) {}
  SmbMessageRef NewMessage(Command command, uint32_t tree_id, uint64_t payload = 0) const;
  absl::Status ValidateNegotiate(uint32_t tree_id);
  // One request whose body `body` writes, sent and answered; the response's NTSTATUS as a Status.
  absl::Status Exchange(Command command, uint32_t tree_id,
                        const std::function<void(WireWriter*)>& body, absl::string_view what);

  Client* const client_;
  uint64_t id_ = 0;
  bool guest_ = false;
  bool anonymous_ = false;
  bool logged_off_ = false;
  std::shared_ptr<class Smb2SessionSecurity> security_;
};

class Tree {
 public:
  ~Tree();
  absl::StatusOr<std::unique_ptr<File>> Open(absl::string_view path, const OpenOptions& options);
  // CREATE + QUERY_INFO + CLOSE in one compound round trip.
  absl::StatusOr<FileInfo> Stat(absl::string_view path);
  // CREATE + READ + CLOSE in one compound round trip for files up to the max read size; larger
  // files fall back to a pipelined read. Returns the bytes read.
  absl::StatusOr<std::string> ReadSmallFile(absl::string_view path, uint32_t max_bytes);
  // Directory entries of `dir` ("" for the share's root), without "." and "..".
  absl::StatusOr<std::vector<FileInfo>> List(absl::string_view dir);
  // Streams the entries of `dir` ("." and ".." left out) to `visit` as they arrive, one
  // QUERY_DIRECTORY answer at a time; a visitor error stops the listing and is returned.
  absl::Status ListEach(absl::string_view dir,
                        const std::function<absl::Status(const FileInfo&)>& visit);
  absl::Status Mkdir(absl::string_view path);
  absl::Status Rmdir(absl::string_view path);
  absl::Status Delete(absl::string_view path);
  absl::Status Rename(absl::string_view from, absl::string_view to, bool replace = false);
  absl::Status Disconnect();

  uint32_t id() const { return id_; }
  bool encrypted() const { return encrypt_; }
  Session* session() const { return session_; }

 private:
  friend class Session;
  friend class File;
  explicit Tree(Session* session) : session_(session) {}
  absl::Status OpenDoClose(const struct CreateRequest& create, Command middle_command,
                           const std::function<absl::Status(WireWriter*)>& encode_middle,
                           absl::string_view what);

  Session* const session_;
  uint32_t id_ = 0;
  bool encrypt_ = false;
  bool disconnected_ = false;
};

class File {
 public:
  // Closes the handle if still open (errors ignored; use Close() to see them).
  ~File();

  // Reads up to dst.size() bytes at `offset`, pipelined in chunks; returns bytes read (short at
  // end of file).
  absl::StatusOr<uint64_t> Read(uint64_t offset, absl::Span<uint8_t> dst);
  // Streams [offset, offset+length) (length UINT64_MAX: to end of file) to `sink` in order,
  // with up to window_bytes in flight. Returns bytes delivered.
  absl::StatusOr<uint64_t> ReadTo(uint64_t offset, uint64_t length,
                                  const std::function<absl::Status(absl::Span<const uint8_t>)>& sink);
  // Writes all of `src` at `offset`, pipelined.
  absl::Status Write(uint64_t offset, absl::Span<const uint8_t> src);
  absl::StatusOr<FileInfo> Stat();
  // For an open directory: waits for changes in it ([MS-SMB2] 3.2.4.18) and returns them. An
  // empty result means the server saw more than fits the buffer (STATUS_NOTIFY_ENUM_DIR): list
  // the directory again. With nothing changed within options.timeout the request is cancelled
  // and DeadlineExceeded returned; Client::Cancel() ends it with kCancelled.
  absl::StatusOr<std::vector<FileNotification>> WaitForChanges(
      const ChangeNotifyOptions& options = {});
  absl::Status Truncate(uint64_t size);
  absl::Status Flush();
  absl::Status Close();

  // Asynchronous read of up to dst.size() (<= the max read size, inline or RDMA as the read will
  // go) bytes at `offset`: returns once
  // the request is sent; `callback(arg, bytes read or error)` runs later on the connection's
  // receive thread, or, if no answer came within the request timeout, with DeadlineExceeded on
  // its watchdog thread (the request is then cancelled at the server and dst is no longer
  // written). Callbacks of different reads may run concurrently on those two threads; a
  // callback must not destroy the Client. dst must stay valid until the callback has run.
  using ReadCallback = void (*)(void* arg, absl::StatusOr<uint32_t> result);
  absl::Status ReadAsync(uint64_t offset, absl::Span<uint8_t> dst, ReadCallback callback,
                         void* arg);

  const FileId& id() const { return id_; }
  uint64_t size_at_open() const { return size_at_open_; }

 private:
  friend class Tree;
  explicit File(Tree* tree) : tree_(tree) {}
  // Pipelined reads of [offset, offset+length): `destination(at, n)` gives the buffer for the
  // chunk at `at`, `deliver` gets each chunk's bytes in file order. Returns bytes delivered.
  absl::StatusOr<uint64_t> PipelinedRead(
      uint64_t offset, uint64_t length,
      const std::function<absl::Span<uint8_t>(uint64_t at, size_t n)>& destination,
      const std::function<absl::Status(absl::Span<const uint8_t>)>& deliver);
  // One READ request for [offset, offset+len) into dst, encoded (and its buffer registered for
  // the peer when it goes by RDMA), not submitted.
  absl::StatusOr<SmbMessageRef> PrepareRead(uint64_t offset, absl::Span<uint8_t> dst,
                                            std::unique_ptr<RdmaRegistration>* reg);
  // PrepareRead, then submitted, not waited.
  absl::StatusOr<SmbMessageRef> SubmitRead(uint64_t offset, absl::Span<uint8_t> dst,
                                           std::unique_ptr<RdmaRegistration>* reg = nullptr);
  // Waits for a READ and makes its data land in dst; returns bytes read (0 at end of file).
  absl::StatusOr<uint32_t> FinishRead(const SmbMessageRef& m, absl::Span<uint8_t> dst,
                                      bool rdma);
  absl::StatusOr<SmbMessageRef> SubmitWrite(uint64_t offset, absl::Span<const uint8_t> src,
                                            std::unique_ptr<RdmaRegistration>* reg = nullptr);
  // Whether an I/O of `bytes` goes through the RDMA channel.
  bool UseRdma(uint64_t bytes) const;
  // Bytes per READ/WRITE request for pipelined I/O.
  uint32_t ChunkSize(bool write) const;
  absl::Status FinishWrite(const SmbMessageRef& m, uint32_t expected);
  // Decodes a completed READ and makes its data land in dst.
  static absl::StatusOr<uint32_t> ReadResult(SmbMessage* m, absl::Span<uint8_t> dst, bool rdma);

  Tree* const tree_;
  FileId id_;
  uint64_t size_at_open_ = 0;
  bool closed_ = false;
};

}  // namespace smbd

#endif  // SMBD_SMB2_CLIENT_CLIENT_H_
