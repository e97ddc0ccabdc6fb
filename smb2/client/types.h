// The plain types of the client API: options, credentials, what negotiation agreed, what stat
// and listings return, I/O counters.
#ifndef SMBD_SMB2_CLIENT_TYPES_H_
#define SMBD_SMB2_CLIENT_TYPES_H_

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "smb2/credits.h"
#include "smb2/pdu/change_notify.h"
#include "smb2/security/algorithms.h"
#include "smb2/security/secret.h"

namespace smbd {

class Connection;
class Transport;

// Reconnection after a dropped connection ([MS-SMB2] 3.2.4.4, 3.2.7.1): see README "Sessions
// that survive the network". Off by default (max_outage zero): a drop fails what is in flight.
struct ReconnectOptions {
  // Longest outage the caller does not see: from the moment an operation finds the connection
  // gone, the client reconnects (the same way it first connected), sets up every session again
  // (PreviousSessionId), reconnects every tree and reopens every durable handle (DH2C), then
  // replays what was lost in flight. Past this, the operation fails with kUnavailable.
  absl::Duration max_outage = absl::ZeroDuration();
  // Wait between attempts: doubles from initial_backoff up to max_backoff.
  absl::Duration initial_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(2);
  // An SMB2 ECHO ([MS-SMB2] 3.2.4.13) goes out this often, so that a link gone silent (no FIN:
  // a pulled cable, a hung server) is noticed by its unanswered request_timeout even while the
  // client makes no call, and the durable handles are reopened in time (0: none).
  absl::Duration keepalive = absl::Seconds(30);
};

// Multichannel ([MS-SMB2] 3.2.4.2.3 binding, 3.2.7.1): see README "Multichannel". Off by
// default. When on, the first tree connect of a session that has keys asks the server for its
// interfaces (FSCTL_QUERY_NETWORK_INTERFACE_INFO) and binds up to max_channels - 1 extra
// connections to the session, one per interface address other than the first connection's,
// fastest first. Pipelined READs and WRITEs are then spread over the channels in proportion to
// the link speeds the server reports; a channel that drops is left out and its requests are
// sent again on the others (with reconnection off too), and when the first connection drops a
// surviving channel takes its place.
struct MultichannelOptions {
  // Connections in all, the first one included; 1: multichannel off (and
  // SMB2_GLOBAL_CAP_MULTI_CHANNEL is not offered).
  uint32_t max_channels = 1;
};

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
  // Over SMB Direct the RDMA channel ([MS-SMB2] 2.2.19) carries READs and WRITEs of at least
  // rdma_threshold bytes when the I/O gets a memory window (its memory lies in a
  // Client::RegisterBuffer region and the transport binds windows), and of at least
  // rdma_threshold_per_io bytes when its memory must be registered for it alone (ibv_reg_mr and
  // ibv_dereg_mr per I/O); smaller ones go inline. Measured one at a time over rxe
  // (BENCHMARKS.md 2e): a window beats inline from 4 KiB on; a per-I/O registration loses to
  // inline up to 32 KiB (4 KiB: 1550 vs 1132 us) and wins from 64 KiB (3385 vs 6917 us).
  // The channel is not used on signed or sealed sessions: RDMA-placed bytes are covered by
  // neither the signature nor the encryption, so such sessions keep their data inline (as the
  // Linux client does).
  uint32_t rdma_threshold = 4096;
  uint32_t rdma_threshold_per_io = 64 << 10;
  // Tree::List refuses a directory with more entries than this, or whose entries (names and
  // FileInfo records) take more bytes: a server can stream names forever. Tree::ListEach has no
  // such limit; its visitor decides.
  uint64_t max_list_entries = uint64_t{1} << 20;
  uint64_t max_list_bytes = uint64_t{256} << 20;
  // Page pool for a client made by ConnectTcp or ConnectClient (connect/connect.h).
  size_t pool_bytes = size_t{256} << 20;
  // Name sent in the 3.1.1 NETNAME context (the server's name as the user wrote it).
  std::string server_name;
  // Reconnection (needs a client made by connect/connect.h, over TCP or SMB Direct, which knows
  // how to connect again; off by default).
  ReconnectOptions reconnect;
  // Extra channels (needs a client made by connect/connect.h; off by default).
  MultichannelOptions multichannel;
};

// One connection of a client (Client::channels()): the first, or an extra channel of
// multichannel, and the READ/WRITE payload that pipelined I/O sent over it.
struct ChannelInfo {
  std::string address;  // the server interface it goes to ("" for the first connection)
  bool rdma = false;    // SMB Direct
  bool first = false;   // the live connection (the first one, or the one that took over)
  bool up = false;      // not dropped
  uint64_t link_speed_bps = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  // The connection itself (valid as long as the client): its stats, or Close() to take it down.
  Connection* connection = nullptr;
};

// Whether SESSION_SETUP uses Kerberos (GSS-API through MIT krb5; smb2/security/kerberos.h).
enum class KerberosUse {
  // Kerberos when the server offers it and a ticket is present (default cache, KRB5CCNAME, or a
  // client keytab in KRB5_CLIENT_KTNAME) whose user is the one given (any, if none is given);
  // NTLM otherwise, and NTLM again, on a new SESSION_SETUP, when Kerberos is refused (KDC error,
  // unknown principal, the server rejecting the ticket) and a password was given. Never after a
  // server answer that claimed to accept the ticket and did not prove it (login.cc). Session::
  // auth_note() says which ran and why.
  kAuto,
  // Kerberos or nothing: no NTLM, whatever happens.
  kRequire,
  // NTLM (or anonymous/guest) only.
  kNever,
};

// File::Lock.
struct LockOptions {
  bool exclusive = true;  // false: shared
  // Wait for a conflicting lock to go instead of failing at once, up to wait_timeout.
  bool wait = false;
  absl::Duration wait_timeout = absl::Seconds(30);
};

struct Credentials {
  std::string user;      // empty with anonymous
  std::string domain;
  SecretBytes password;
  std::string workstation = "SMBD-CLIENT";
  bool anonymous = false;
  bool guest = false;  // log in as guest (any password is accepted by a guest-mapping server)
  KerberosUse kerberos = KerberosUse::kAuto;
  // The server's Kerberos principal; empty: "cifs/" + ClientOptions::server_name in the default
  // realm (the name as the user typed it: no DNS canonicalization). "cifs/fs1@OTHER.REALM"
  // names another realm.
  std::string kerberos_principal;
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

// One of the server's network interfaces (FSCTL_QUERY_NETWORK_INTERFACE_INFO, [MS-SMB2]
// 2.2.32.5), as multichannel chooses between them.
struct ServerInterface {
  uint32_t if_index = 0;
  bool rss = false;
  bool rdma = false;
  uint64_t link_speed_bps = 0;
  std::string address;  // "10.0.0.5" or "fd00::5"
};

// How an extra channel reaches one of the server's interfaces (multichannel): a new transport
// to that address, made the way the first one was (connect/connect.h passes one; tests route
// it through a proxy).
using ChannelFactory =
    std::function<absl::StatusOr<std::unique_ptr<Transport>>(const ServerInterface& to)>;

// SMB2 lease caching states ([MS-SMB2] 2.2.13.2.8), for OpenOptions::lease.
namespace lease {
inline constexpr uint32_t kRead = 0x01;
inline constexpr uint32_t kHandle = 0x02;
inline constexpr uint32_t kWrite = 0x04;
}  // namespace lease

struct OpenOptions {
  bool read = true;
  bool write = false;
  // kFileOpen (1), kFileCreate (2), kFileOpenIf (3), kFileOverwriteIf (5) ...
  uint32_t disposition = 1;
  bool directory = false;
  // Ask for a lease with these caching states (lease::kRead | kHandle | kWrite; 0: none) on SMB
  // 2.1 or later where the server advertises leasing ([MS-SMB2] 3.2.4.3.8; version 2 from 3.0;
  // elsewhere the open gets none). The client caches no data itself;
  // the server's breaks are acknowledged at once and File::lease_state() follows them.
  uint32_t lease = 0;
  // Ask for a durable handle ([MS-SMB2] 3.2.4.3.5, DH2Q) that the server keeps this long after
  // the connection drops (0: none); SMB 3.0 or later, and the server grants it only with a
  // lease that caches handles (or a batch oplock). With ClientOptions::reconnect, a durable
  // handle is reopened after a dropped connection (DH2C); a handle that is not is lost there.
  absl::Duration durable_timeout = absl::ZeroDuration();
};

// What a handle needs to come back after a reconnect (ClientOptions::reconnect): a durable
// handle kept at least `keep` (and a minute) by the server, with the lease that caches handles
// which the server grants it with (Samba, Windows: [MS-SMB2] 3.3.5.9.10), plus write caching
// when writing. smbd-cat --reconnect and the C API's reconnect_ms open files this way.
inline void MakeDurable(OpenOptions* o, absl::Duration keep) {
  o->durable_timeout = std::max(keep, absl::Minutes(1));
  o->lease = lease::kRead | lease::kHandle | (o->write ? lease::kWrite : 0);
}

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
  // Inline READ data (not RDMA) the client copied in user space from receive buffers into the
  // destination: answers the transport could not place (SMB Direct's inline path, a READ inside
  // a compound answer). bytes_placed + bytes_copied + rdma_bytes_read = bytes_read.
  uint64_t bytes_copied = 0;
  // Lease breaks the server sent for this client's leases, the acknowledgements it accepted,
  // those that failed, and breaks for leases this client does not hold (closed files).
  uint64_t lease_breaks = 0;
  uint64_t lease_break_acks = 0;
  uint64_t lease_break_ack_failures = 0;
  uint64_t unknown_lease_breaks = 0;
  // Plaintext breaks for a lease whose session encrypts: dropped (anyone could have sent them).
  uint64_t unauthenticated_lease_breaks = 0;
  // Reconnection (ClientOptions::reconnect): connections re-established, the attempts that
  // failed on the way, durable handles reopened (DH2C), handles lost (not durable, or refused),
  // and READ/WRITE requests sent again because their connection dropped before the answer.
  uint64_t reconnects = 0;
  uint64_t reconnect_attempts_failed = 0;
  uint64_t handles_reopened = 0;
  uint64_t handles_lost = 0;
  uint64_t requests_replayed = 0;
  // Time spent re-establishing (from the start of the first attempt to the end of the one that
  // worked, reopened handles included), in total and the longest, in microseconds.
  uint64_t reconnect_us_total = 0;
  uint64_t reconnect_us_max = 0;
  // Multichannel: connections up now (1 without extra channels), extra channels dropped, and
  // times a surviving channel took over from a dropped first connection.
  uint64_t channels = 1;
  uint64_t channels_lost = 0;
  uint64_t channel_failovers = 0;
};

}  // namespace smbd

#endif  // SMBD_SMB2_CLIENT_TYPES_H_
