// What a Client shares with the Sessions, Trees and Files made from it: the connection, what
// negotiation agreed, the request helpers every operation uses, and the I/O counters. Internal
// to smb2/client: each API object holds a pointer to this instead of reaching into the private
// members of the object it came from.
#ifndef SMBD_SMB2_CLIENT_CONTEXT_H_
#define SMBD_SMB2_CLIENT_CONTEXT_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "buffers/page_pool.h"
#include "buffers/wire.h"
#include "smb2/client/leases.h"
#include "smb2/client/lost_state.h"
#include "smb2/client/types.h"
#include "smb2/compound.h"
#include "smb2/connection.h"
#include "smb2/constants.h"
#include "smb2/header.h"
#include "smb2/message.h"
#include "smb2/security/preauth.h"
#include "smb2/transport.h"

namespace smbd {

class Session;

namespace client_internal {

// Counters behind ClientStats, updated by reads and writes on any thread.
struct IoCounters {
  std::atomic<uint64_t> bytes_read{0};
  std::atomic<uint64_t> bytes_written{0};
  std::atomic<uint64_t> rdma_reads{0};
  std::atomic<uint64_t> rdma_writes{0};
  std::atomic<uint64_t> rdma_bytes_read{0};
  std::atomic<uint64_t> rdma_bytes_written{0};
  std::atomic<uint64_t> bytes_placed{0};  // READ data the transport put straight into dst
  std::atomic<uint64_t> bytes_copied{0};  // READ data copied from receive buffers into dst

  void CountRead(uint64_t bytes, bool rdma);
  void CountWrite(uint64_t bytes, bool rdma);
};

// Counters behind the reconnection fields of ClientStats.
struct ReconnectCounters {
  std::atomic<uint64_t> reconnects{0};
  std::atomic<uint64_t> attempts_failed{0};
  std::atomic<uint64_t> handles_reopened{0};
  std::atomic<uint64_t> handles_lost{0};
  std::atomic<uint64_t> requests_replayed{0};
  std::atomic<uint64_t> us_total{0};
  std::atomic<uint64_t> us_max{0};
};

// One connection of the client and what multichannel knows of it. The first is the one the
// client was made with (a reconnect makes a new record); the others were bound to the sessions
// by Session::AddChannels ([MS-SMB2] 3.2.4.2.3, 3.2.5.3.3). A record is never freed before the
// client (a dropped or replaced one is retired, not deleted): requests in flight keep pointers
// to it. Its connection, address and transport kind never change once it is listed.
struct Channel {
  Connection* connection = nullptr;
  std::string address;         // the server interface's address ("" for the first)
  bool rdma = false;           // over SMB Direct
  // As the server reports it (weights the I/O it gets).
  std::atomic<uint64_t> link_speed_bps{0};
  // The sessions whose binding to this channel completed (guarded by the context's channel
  // lock): only their requests go here. The live connection carries every session.
  std::vector<uint64_t> bound_sessions;
  // Its NEGOTIATE answer's SPNEGO hint and preauth hash: the binding SESSION_SETUP starts from
  // them ([MS-SMB2] 3.2.5.3.1: the channel's own preauth hash).
  std::vector<uint8_t> negotiate_token;
  PreauthIntegrity preauth;
  // READ/WRITE payload it carried.
  std::atomic<uint64_t> bytes_read{0};
  std::atomic<uint64_t> bytes_written{0};
  std::atomic<bool> dropped{false};
  int64_t current_weight = 0;  // smooth weighted round robin, under the context's channel lock
};

// While one lives on a thread, the requests that thread makes are (or, with false, are not)
// replays of requests lost with a dropped connection: SMB2_FLAGS_REPLAY_OPERATION on 3.x
// ([MS-SMB2] 3.2.4.1.1, 3.3.5.2.10). The innermost one decides.
class ReplayScope {
 public:
  explicit ReplayScope(bool replay);
  ~ReplayScope();
  ReplayScope(const ReplayScope&) = delete;
  ReplayScope& operator=(const ReplayScope&) = delete;

 private:
  bool saved_;
};
bool Replaying();

// The error an operation gets when its request was held back while the connection was
// re-established (its ids were of the old connection): Resilient() runs it again.
absl::Status RetryAfterReconnect(absl::string_view what);
bool IsRetryAfterReconnect(const absl::Status& s);
inline const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

class ClientContext {
 public:
  ClientContext(std::shared_ptr<PagePool> pool, const ClientOptions& options);
  // Closes the connection: whatever is still in flight fails.
  ~ClientContext();
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  // Opens the connection over `transport` and negotiates ([MS-SMB2] 3.2.4.2.1). With a
  // `factory`, a dropped connection can be re-established (ClientOptions::reconnect).
  absl::Status Start(std::unique_ptr<Transport> transport, TransportFactory factory = nullptr);

  PagePool* pool() const { return pool_.get(); }
  // Where request encoders take their bytes from (EncodeOne).
  FragArena* frags() { return &frags_; }
  const std::shared_ptr<PagePool>& shared_pool() const { return pool_; }
  const ClientOptions& options() const { return options_; }
  // The live connection (a newer one after a reconnect; earlier ones stay allocated, closed,
  // until the client is destroyed, so that a pointer a thread still holds stays valid).
  Connection* connection() const { return live_.load(std::memory_order_acquire); }
  Transport* transport() const { return connection()->transport(); }
  // What the first NEGOTIATE agreed; a reconnect must agree the same (or is refused).
  const NegotiatedInfo& negotiated() const { return negotiated_; }
  // The server's SPNEGO hint from the live connection's NEGOTIATE answer (empty if none).
  std::vector<uint8_t> negotiate_token() const;
  // The live connection's preauth integrity hash after NEGOTIATE (3.1.1); sessions fork it.
  PreauthIntegrity preauth() const;
  const uint8_t* client_guid() const { return client_guid_; }
  // Leases of this client's open files, and the acknowledgement of their breaks.
  LeaseTable* leases() const { return leases_.get(); }
  IoCounters& counters() { return counters_; }
  const IoCounters& counters() const { return counters_; }
  ReconnectCounters& reconnect_counters() { return reconnect_counters_; }
  const ReconnectCounters& reconnect_counters() const { return reconnect_counters_; }
  // frames_sent of every connection this client has had.
  uint64_t frames_sent() const;

  // Reconnection ([MS-SMB2] 3.2.4.4 re-establishing durable opens, 3.2.7.1).
  bool reconnect_enabled() const;
  // Bumped each time the client is re-established on a new connection.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // Whether `c`, the connection an operation ran on, has dropped while reconnection is on: the
  // operation's error came from the network, and Recover() may help.
  bool Lost(Connection* c) const;
  // Re-establishes the client after `failed` dropped (new connection, NEGOTIATE, every session,
  // tree and durable handle), or waits for the thread doing it. OK at once when a newer
  // connection is already up. kUnavailable when nothing worked within max_outage; a refusal
  // that is not the network's (a session refused, a server that answers NEGOTIATE differently)
  // is permanent: every later call gets it.
  absl::Status Recover(Connection* failed);
  // When the outage allowed by the latest re-establishment ends, and until when a reopen may
  // wait for the server to let go of the old open (File::Reopen).
  absl::Time recovery_deadline() const {
    return absl::FromUnixNanos(recovery_deadline_ns_.load(std::memory_order_acquire));
  }
  absl::Time reopen_patience() const {
    return absl::FromUnixNanos(reopen_patience_ns_.load(std::memory_order_acquire));
  }
  // Before an operation: waits for a re-establishment in progress, and starts one if the live
  // connection is known to be down.
  absl::Status ReadyForRequest();
  // Runs `op` (which must encode its requests from the current ids each time it runs). When it
  // fails because its connection dropped, the client is re-established and `op` runs again with
  // its requests marked as replays. `idempotent`: false for an operation whose second run could
  // change the result (mkdir, rename, delete, lock): it then fails with kUnavailable saying the
  // outcome is unknown, after the client is re-established.
  template <typename F>
  auto Resilient(bool idempotent, absl::string_view what, F&& op) -> decltype(op());

  // Sessions to set up again on a reconnect (Session registers itself with the function that
  // does it: this package's internals know no Session). RemoveSession: under registry_mutex().
  // `has_keys`: false for a guest or anonymous session, which no other channel can carry.
  void AddSession(Session* session, absl::Status (*reestablish)(Session*), bool has_keys = true);
  void RemoveSession(Session* session);
  // Held while the client is re-established, and by Session / Tree / File while they change
  // their lists: what the re-establishment walks stays alive and unchanged.
  std::mutex& registry_mutex() { return registry_mu_; }

  // Multichannel ([MS-SMB2] 3.2.4.2.3 binding, 3.2.7.1 losing a channel).
  // Whether extra channels are wanted and possible: ClientOptions::multichannel asks for more
  // than one, a ChannelFactory is known, the dialect is 3.x and the server offers
  // SMB2_GLOBAL_CAP_MULTI_CHANNEL. Otherwise *why says why not.
  bool MultichannelPossible(std::string* why) const;
  // A new connection to `to`, NEGOTIATEd like the first (same ClientGuid; the answer must
  // agree with the first one). Not used for requests until ActivateChannel.
  absl::StatusOr<std::shared_ptr<Channel>> OpenChannel(const ServerInterface& to);
  // The channel, its sessions bound, joins the ones I/O is spread over.
  void ActivateChannel(std::shared_ptr<Channel> channel);
  // `session_id`'s binding to `channel` completed (or, unbound, the session logged off): its
  // requests may (may no longer) go there.
  void MarkBound(Channel* channel, uint64_t session_id, bool bound);
  bool IsBound(Channel* channel, uint64_t session_id) const;
  // Where the next READ/WRITE of `session_id` goes: the channels that carry the session and are
  // up, by smooth weighted round robin on their link speeds (a channel over SMB Direct is
  // preferred over TCP ones while the session can use the RDMA channel: `rdma_ok`). A channel
  // whose frames cannot hold `inline_bytes` of data (SMB Direct's fragmented-size limit) is
  // passed over for data that goes inline. Never null.
  Channel* PickChannel(uint64_t session_id, bool rdma_ok, uint64_t inline_bytes = 0);
  // The first channel's record (for its counters).
  Channel* primary_channel();
  // Every channel, the first one included (ClientStats, Client::channels()).
  std::vector<std::shared_ptr<Channel>> channels() const;
  // Whether `c` dropped while another channel is up that may take its requests (Failover).
  bool CanFailover(Connection* c) const;
  // After `failed` dropped: an extra channel is taken out of the rotation; the live connection
  // is replaced by a surviving channel that carries every session with keys (the server keeps a session
  // while one of its channels lives). Both bump ChannelSequence ([MS-SMB2] 3.2.7.1). True when
  // requests can go on without a reconnect.
  bool Failover(Connection* failed);
  // Channels dropped, and connections that took over from a dropped live one.
  uint64_t channels_lost() const { return channels_lost_.load(); }
  uint64_t channel_failovers() const { return channel_failovers_.load(); }
  // Closes every extra channel (a reconnect makes new sessions, which they do not carry).
  void DropExtraChannels(absl::string_view why);
  void set_channel_factory(ChannelFactory f) { channel_factory_ = std::move(f); }
  // True for the one caller that is to set up the extra channels (the first session with
  // keys); false once that was claimed (others bind to the channels already there).
  bool ClaimMultichannelSetup() { return !multichannel_claimed_.exchange(true); }
  void set_primary_link_speed(uint64_t bps);
  std::string multichannel_note() const;
  void set_multichannel_note(std::string note);
  // SMB2 capabilities this client sends in NEGOTIATE and VALIDATE_NEGOTIATE.
  uint32_t Capabilities() const;

  // Dialects in the options' range, lowest first, as NEGOTIATE offered them.
  std::vector<uint16_t> OfferedDialects() const;
  // Security mode this client sends in NEGOTIATE, SESSION_SETUP and VALIDATE_NEGOTIATE.
  uint16_t SecurityMode() const;

  // A request of `command` for the session and tree, charged for `payload` bytes.
  SmbMessageRef NewMessage(Command command, uint64_t session_id, uint32_t tree_id,
                           uint64_t payload = 0) const;
  // CreditCharge for `bytes` of payload under the negotiated dialect ([MS-SMB2] 3.2.4.1.5).
  uint16_t Charge(uint64_t bytes) const;

  // Submits a chain with each member's deadline request_timeout from now, on `on` (null: the
  // live connection). While the client is being re-established, a request from any other
  // thread waits for the end and fails with RetryAfterReconnect (its ids are the old
  // connection's).
  absl::Status Submit(const SmbMessageRef& chain, Connection* on = nullptr);
  // That wait alone, for requests submitted to the connection directly (asynchronous ones).
  absl::Status Gate();
  // Waits for one submitted message until its deadline; on timeout cancels it at the server
  // and abandons it (its destination is not written after this returns).
  absl::Status Await(SmbMessage* m);
  // Submit, then Await every member.
  absl::Status RoundTrip(const SmbMessageRef& chain, Connection* on = nullptr);
  // One request whose body `body` writes, sent and answered; the answer's NTSTATUS as a Status.
  absl::Status Exchange(Command command, uint64_t session_id, uint32_t tree_id,
                        const std::function<void(WireWriter*)>& body, absl::string_view what);

  // Largest READ / WRITE with inline data, or on the RDMA channel, over `t` (null: the live
  // connection's transport).
  uint32_t MaxRead(bool rdma, const Transport* t = nullptr) const;
  uint32_t MaxWrite(bool rdma, const Transport* t = nullptr) const;
  // The transport pipelined I/O is sized for: an SMB Direct channel's when there is one up and
  // `rdma_ok` (PickChannel sends the bulk I/O there), else the live connection's.
  Transport* BulkTransport(bool rdma_ok) const;
  // Requests in flight for pipelined I/O of `chunk`-byte requests.
  size_t Depth(uint32_t chunk) const;

  // Bumped by Client::Cancel(); running pipelines compare it with the value they started with.
  uint64_t cancel_epoch() const { return cancel_epoch_.load(std::memory_order_acquire); }
  // Cancels everything in flight (Client::Cancel); returns the CANCELs sent.
  int Cancel();

 private:
  // A new connection over `transport`, kept for the client's life; `live`: made the live one.
  absl::StatusOr<Connection*> Install(std::unique_ptr<Transport> transport, bool live = true);
  // NEGOTIATE on `on`. kFirst fills negotiated_ and makes the client GUID; a reconnect or a
  // new channel keeps the GUID and must agree what the first did. kFirst and kReconnect keep
  // the answer's token and preauth hash for logins; kChannel puts them in *channel.
  enum class NegotiateKind { kFirst, kReconnect, kChannel };
  absl::Status Negotiate(Connection* on, NegotiateKind kind, Channel* channel = nullptr);
  // Recover()'s work, on the thread that won the right to do it.
  absl::Status RunRecovery(Connection* failed);
  // The reconnection thread: re-establishes a dropped connection as soon as it drops, so that
  // an idle client's durable handles come back before the server's timeout ends them.
  void ReconnectInBackground();
  // One attempt: a new connection, NEGOTIATE, sessions, trees, files.
  absl::Status Reestablish(std::unique_ptr<Transport> transport);

  const std::shared_ptr<PagePool> pool_;
  const ClientOptions options_;
  // Request bytes (destroyed before pool_, whose pages it holds).
  FragArena frags_;
  NegotiatedInfo negotiated_;
  uint8_t client_guid_[16] = {};
  IoCounters counters_;
  ReconnectCounters reconnect_counters_;
  // Shared with the connection's notification handler (which holds a weak reference).
  std::shared_ptr<LeaseTable> leases_;
  std::atomic<uint64_t> cancel_epoch_{0};

  // The live connection, and every one this client has had (guarded by conn_mu_).
  std::atomic<Connection*> live_{nullptr};
  mutable std::mutex conn_mu_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::vector<uint8_t> negotiate_token_;  // guarded by conn_mu_
  PreauthIntegrity preauth_;              // guarded by conn_mu_

  // Reconnection state.
  TransportFactory factory_;
  std::atomic<uint64_t> generation_{0};
  // [MS-SMB2] 2.2.1.2 ChannelSequence of 3.x requests: bumped at each reconnect and each
  // channel lost (3.2.7.1).
  std::atomic<uint16_t> channel_sequence_{0};
  // Multichannel.
  ChannelFactory channel_factory_;
  mutable std::mutex channel_mu_;
  std::vector<std::shared_ptr<Channel>> channels_;  // guarded by channel_mu_; [0]: the first
  // Records taken out of channels_ (dropped extra channels, replaced first connections): kept
  // until the client goes, since requests may still point to them. Guarded by channel_mu_.
  std::vector<std::shared_ptr<Channel>> retired_channels_;
  std::atomic<int> keyless_sessions_{0};
  std::atomic<uint64_t> channels_lost_{0};
  std::atomic<uint64_t> channel_failovers_{0};
  std::atomic<bool> multichannel_claimed_{false};
  std::string multichannel_note_;  // guarded by channel_mu_
  std::atomic<bool> closing_{false};
  std::atomic<bool> recovering_{false};
  std::mutex recover_mu_;
  std::condition_variable recover_cv_;
  std::thread::id recovering_thread_;  // guarded by recover_mu_
  uint64_t recovery_round_ = 0;        // guarded by recover_mu_: re-establishments ended
  absl::Status last_recovery_;         // guarded by recover_mu_: how the latest one ended
  std::atomic<int64_t> recovery_deadline_ns_{0};
  std::atomic<int64_t> reopen_patience_ns_{0};
  absl::Status broken_;                // guarded by recover_mu_: a permanent refusal
  bool drop_seen_ = false;  // guarded by recover_mu_: wakes the reconnection thread
  std::thread background_;  // started with the first connection when reconnection is on
  std::mutex registry_mu_;
  // Guarded by registry_mu_.
  struct RegisteredSession {
    Session* session;
    absl::Status (*reestablish)(Session*);
    bool has_keys;
  };
  std::vector<RegisteredSession> sessions_;
};

template <typename F>
auto ClientContext::Resilient(bool idempotent, absl::string_view what, F&& op) -> decltype(op()) {
  for (int attempt = 0;; ++attempt) {
    absl::Status ready = ReadyForRequest();
    if (!ready.ok()) return ready;
    Connection* c = connection();
    const uint64_t generation = this->generation();
    ReplayScope replay(attempt > 0);
    auto result = op();
    const absl::Status& s = StatusOf(result);
    if (s.ok()) return result;
    if (!reconnect_enabled()) {
      // Multichannel without reconnection: a surviving channel may take over.
      if (attempt >= 8 || !CanFailover(c) || !Failover(c)) return result;
      if (!idempotent) {
        return absl::UnavailableError(absl::StrCat(
            what, ": its channel dropped before the answer came (", s.message(),
            "); another channel took over, but whether the server did it is unknown, so it is "
            "not sent again"));
      }
      continue;
    }
    const bool held_back = IsRetryAfterReconnect(s);
    if (!held_back && this->generation() == generation && !Lost(c)) return result;
    if (attempt >= 8) return result;  // the link keeps dropping under this one operation
    absl::Status recovered = Recover(c);
    if (!recovered.ok()) return recovered;
    if (!idempotent && !held_back) {
      return absl::UnavailableError(absl::StrCat(
          what, ": the connection dropped before the answer came (", s.message(),
          "); reconnected, but whether the server did it is unknown, so it is not sent again"));
    }
  }
}

// Encodes one request member into m->request with `body` writing the command's body; `body`
// returns void or absl::Status. The bytes are packed into a page fragment of the context's
// arena (a request of ~100 bytes no longer takes a 4 KiB page).
template <typename Body>
absl::Status EncodeOne(SmbMessage* m, ClientContext& context, Body&& body) {
  FragArena::Lease frags = context.frags()->Acquire();
  CompoundWriter cw(&m->request, context.pool(), frags.get());
  WireWriter* w = cw.Begin(m, false);
  absl::Status s;
  if constexpr (std::is_void_v<decltype(body(w))>) {
    body(w);
  } else {
    s = body(w);
  }
  cw.End();
  if (!s.ok()) return s;
  return cw.Finish();
}

// The member's answer as a reader.
inline WireReader Reader(const SmbMessage& m) { return WireReader(m.response.begin()); }

// An answer's NTSTATUS as a Status (OK for success and warnings).
absl::Status ResponseStatus(const SmbMessage& m, absl::string_view what);

// A copy of bytes [offset, offset+length) of an answer (a security token), bounds-checked.
absl::StatusOr<std::vector<uint8_t>> CopyBuffer(const SmbMessage& m, uint64_t offset,
                                                uint64_t length, absl::string_view what);

}  // namespace client_internal
}  // namespace smbd

#endif  // SMBD_SMB2_CLIENT_CONTEXT_H_
