#include "smb2/client/context.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "smb2/ntstatus.h"
#include "smb2/pdu/echo.h"
#include "smb2/pdu/negotiate.h"

namespace smbd {
namespace client_internal {
namespace {

// [MS-SMB2] 2.2.3: the dialects this client can speak, lowest first.
constexpr uint16_t kAllDialects[] = {kDialect202, kDialect210, kDialect300, kDialect302,
                                     kDialect311};

absl::Status RandomBytes(absl::Span<uint8_t> out) {
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    return absl::InternalError("OpenSSL RAND_bytes failed");
  }
  return absl::OkStatus();
}

// A READ or WRITE size within the options, the server's and the transport's limits.
uint32_t IoLimit(uint32_t wanted, uint32_t server_max, uint32_t transport_rdma_max,
                 uint16_t dialect) {
  uint32_t m = std::min(wanted, server_max);
  if (transport_rdma_max > 0) m = std::min(m, transport_rdma_max);
  // [MS-SMB2] 3.2.4.7 / 3.2.4.6: 2.0.2 has no multi-credit requests, so 64 KiB at most.
  if (dialect == kDialect202) m = std::min<uint32_t>(m, 65536);
  return std::max<uint32_t>(m, 1);
}

}  // namespace

void IoCounters::CountRead(uint64_t bytes, bool rdma) {
  bytes_read += bytes;
  if (rdma) {
    rdma_reads++;
    rdma_bytes_read += bytes;
  }
}

void IoCounters::CountWrite(uint64_t bytes, bool rdma) {
  bytes_written += bytes;
  if (rdma) {
    rdma_writes++;
    rdma_bytes_written += bytes;
  }
}

absl::Status ResponseStatus(const SmbMessage& m, absl::string_view what) {
  return NtStatusToStatus(m.response_header.status, what);
}

absl::StatusOr<std::vector<uint8_t>> CopyBuffer(const SmbMessage& m, uint64_t offset,
                                                uint64_t length, absl::string_view what) {
  std::vector<uint8_t> out;
  if (length == 0) return out;
  SMBD_ASSIGN_OR_RETURN(WireReader buffer, Reader(m).Sub(offset, length));
  out.resize(length);
  if (!buffer.Bytes(absl::MakeSpan(out))) return buffer.Error(what);
  return out;
}

namespace {
thread_local bool t_replaying = false;
constexpr absl::string_view kRetryPayload = "smbd.retry-after-reconnect";
}  // namespace

ReplayScope::ReplayScope(bool replay) : saved_(t_replaying) { t_replaying = replay; }
ReplayScope::~ReplayScope() { t_replaying = saved_; }
bool Replaying() { return t_replaying; }

absl::Status RetryAfterReconnect(absl::string_view what) {
  absl::Status s = absl::UnavailableError(
      absl::StrCat(what, ": held back while the connection was re-established"));
  s.SetPayload(kRetryPayload, absl::Cord("1"));
  return s;
}

bool IsRetryAfterReconnect(const absl::Status& s) {
  return !s.ok() && s.GetPayload(kRetryPayload).has_value();
}

ClientContext::ClientContext(std::shared_ptr<PagePool> pool, const ClientOptions& options)
    : pool_(std::move(pool)),
      options_(options),
      frags_(pool_.get()),
      leases_(std::make_shared<LeaseTable>(this)) {}

ClientContext::~ClientContext() {
  closing_.store(true);
  {
    std::lock_guard<std::mutex> l(recover_mu_);
  }
  recover_cv_.notify_all();
  // Before the connections close: a reconnection in progress ends at its next step (each waits
  // on recover_cv_ or a round trip, which the closes below end).
  std::vector<Connection*> all;
  {
    std::lock_guard<std::mutex> l(conn_mu_);
    for (const std::unique_ptr<Connection>& c : connections_) all.push_back(c.get());
  }
  for (Connection* c : all) {
    c->SetNotificationHandler(nullptr);
    c->SetFailureHandler(nullptr);
    c->Close(absl::CancelledError("client closed"));
  }
  if (background_.joinable()) {
    // A re-establishment may have installed one more connection meanwhile: close it too.
    while (true) {
      {
        std::lock_guard<std::mutex> l(conn_mu_);
        for (const std::unique_ptr<Connection>& c : connections_) {
          c->Close(absl::CancelledError("client closed"));
        }
      }
      std::unique_lock<std::mutex> l(recover_mu_);
      if (recover_cv_.wait_for(l, std::chrono::milliseconds(10),
                               [this] { return !recovering_.load(); })) {
        break;
      }
    }
    background_.join();
  }
  // After the close, so that an acknowledgement in flight fails and the worker can be joined.
  leases_->Stop();
  // The connections go here, not as members after this body: their receive threads (joined by
  // their destructors) may still be reporting a failure into recover_mu_ and recover_cv_.
  std::vector<std::unique_ptr<Connection>> connections;
  {
    std::lock_guard<std::mutex> l(conn_mu_);
    connections.swap(connections_);
  }
  connections.clear();
}

absl::Status ClientContext::Start(std::unique_ptr<Transport> transport, TransportFactory factory) {
  if (options_.min_dialect > options_.max_dialect) {
    return absl::InvalidArgumentError("min_dialect is above max_dialect");
  }
  if (options_.require_encryption && options_.max_dialect < kDialect300) {
    return absl::InvalidArgumentError("encryption needs SMB 3.0 or later (max_dialect)");
  }
  factory_ = std::move(factory);
  SMBD_ASSIGN_OR_RETURN(Connection * c, Install(std::move(transport)));
  return Negotiate(c, NegotiateKind::kFirst);
}

absl::StatusOr<Connection*> ClientContext::Install(std::unique_ptr<Transport> transport,
                                                   bool live) {
  ConnectionOptions co;
  co.credits = options_.credits;
  co.credit_timeout = options_.request_timeout;
  SMBD_ASSIGN_OR_RETURN(std::unique_ptr<Connection> connection,
                        Connection::Create(std::move(transport), pool_.get(), co));
  std::weak_ptr<LeaseTable> leases = leases_;
  connection->SetNotificationHandler(
      [leases](const Smb2Header& h, const Bvecq& bytes, const Connection::NotificationOrigin& o) {
        if (std::shared_ptr<LeaseTable> table = leases.lock()) table->OnNotification(h, bytes, o);
      });
  if (reconnect_enabled()) {
    connection->SetFailureHandler([this](const absl::Status&) {
      {
        std::lock_guard<std::mutex> l(recover_mu_);
        drop_seen_ = true;
      }
      recover_cv_.notify_all();
    });
    if (!background_.joinable()) background_ = std::thread([this] { ReconnectInBackground(); });
  }
  Connection* c = connection.get();
  {
    std::lock_guard<std::mutex> l(conn_mu_);
    connections_.push_back(std::move(connection));
  }
  if (!live) return c;
  Connection* previous = live_.load(std::memory_order_acquire);
  {
    // A new record, first; the one of the connection this replaces is retired.
    std::lock_guard<std::mutex> l(channel_mu_);
    auto ch = std::make_shared<Channel>();
    ch->connection = c;
    ch->rdma = c->transport()->supports_rdma();
    for (auto it = channels_.begin(); it != channels_.end(); ++it) {
      if (previous != nullptr && (*it)->connection == previous) {
        (*it)->dropped.store(true);
        ch->link_speed_bps.store((*it)->link_speed_bps.load());
        retired_channels_.push_back(*it);
        channels_.erase(it);
        break;
      }
    }
    channels_.insert(channels_.begin(), std::move(ch));
  }
  // A reconnect is a new ChannelSequence ([MS-SMB2] 3.2.7.1).
  if (previous != nullptr) channel_sequence_.fetch_add(1, std::memory_order_acq_rel);
  live_.store(c, std::memory_order_release);
  return c;
}

std::vector<uint8_t> ClientContext::negotiate_token() const {
  std::lock_guard<std::mutex> l(conn_mu_);
  return negotiate_token_;
}

PreauthIntegrity ClientContext::preauth() const {
  std::lock_guard<std::mutex> l(conn_mu_);
  return preauth_.Fork();
}

uint64_t ClientContext::frames_sent() const {
  std::lock_guard<std::mutex> l(conn_mu_);
  uint64_t n = 0;
  for (const std::unique_ptr<Connection>& c : connections_) n += c->stats().frames_sent;
  return n;
}

bool ClientContext::reconnect_enabled() const {
  return factory_ != nullptr && options_.reconnect.max_outage > absl::ZeroDuration();
}

bool ClientContext::Lost(Connection* c) const {
  return reconnect_enabled() && !closing_.load() && c != nullptr && !c->status().ok();
}

void ClientContext::AddSession(Session* session, absl::Status (*reestablish)(Session*),
                               bool has_keys) {
  std::lock_guard<std::mutex> l(registry_mu_);
  sessions_.push_back({session, reestablish, has_keys});
  if (!has_keys) keyless_sessions_++;
}

void ClientContext::RemoveSession(Session* session) {
  for (const RegisteredSession& e : sessions_) {
    if (e.session == session && !e.has_keys) keyless_sessions_--;
  }
  sessions_.erase(std::remove_if(sessions_.begin(), sessions_.end(),
                                 [session](const auto& e) { return e.session == session; }),
                  sessions_.end());
}

void ClientContext::ReconnectInBackground() {
  const absl::Duration keepalive = options_.reconnect.keepalive;
  while (true) {
    {
      std::unique_lock<std::mutex> l(recover_mu_);
      auto woken = [this] { return drop_seen_ || closing_.load(); };
      if (keepalive > absl::ZeroDuration()) {
        if (!recover_cv_.wait_for(l, absl::ToChronoNanoseconds(keepalive), woken)) {
          l.unlock();
          // The keepalive: an answer that does not come within request_timeout closes the
          // connection (Await), which wakes this thread as a drop.
          if (!recovering_.load() && connection()->status().ok()) {
            (void)Exchange(Command::kEcho, 0, 0, EncodeEchoRequest, "ECHO");
          }
          continue;
        }
      } else {
        recover_cv_.wait(l, woken);
      }
      if (closing_.load()) return;
      drop_seen_ = false;
    }
    // Only the live connection matters (a failed attempt's own connection also reports), and
    // only while no re-establishment runs (that one is already on it). A failure ends the
    // outage window; the next call starts another.
    Connection* c = connection();
    if (!Lost(c)) continue;
    const absl::Status recovered = Recover(c);
    // The attempts' own connections reported their ends meanwhile: not a new drop. After a
    // failed window the thread waits for the next connection that drops (a call re-establishes
    // first, see ReadyForRequest); after a success, the new one may have dropped already.
    std::lock_guard<std::mutex> l(recover_mu_);
    drop_seen_ = recovered.ok() && Lost(connection());
  }
}

absl::Status ClientContext::ReadyForRequest() {
  // Multichannel: a live connection found dropped is replaced by a surviving channel first.
  if (Connection* live = connection(); !live->status().ok()) (void)Failover(live);
  if (!reconnect_enabled()) return absl::OkStatus();
  {
    std::lock_guard<std::mutex> l(recover_mu_);
    if (!broken_.ok()) return broken_;
  }
  (void)Gate();  // waits for a re-establishment in progress (its result is read below)
  Connection* c = connection();
  if (Lost(c)) return Recover(c);
  return absl::OkStatus();
}

absl::Status ClientContext::Recover(Connection* failed) {
  if (failed == nullptr) failed = connection();
  // Multichannel: another channel takes the lost one's requests, no reconnect needed.
  if (Failover(failed)) return absl::OkStatus();
  if (!reconnect_enabled()) {
    return failed->status().ok() ? absl::UnavailableError("connection lost") : failed->status();
  }
  // The re-establishment's own requests are not replays, whatever the caller was doing.
  ReplayScope not_a_replay(false);
  {
    std::unique_lock<std::mutex> l(recover_mu_);
    const uint64_t round = recovery_round_;
    while (recovering_.load()) {
      if (recovering_thread_ == std::this_thread::get_id()) {
        // A request of the re-establishment itself failed: its caller retries the attempt.
        return failed->status().ok() ? absl::UnavailableError("connection lost")
                                     : failed->status();
      }
      // The thread re-establishing ends by max_outage (each round trip by request_timeout).
      if (!recover_cv_.wait_for(l,
                                absl::ToChronoNanoseconds(options_.reconnect.max_outage +
                                                          2 * options_.request_timeout),
                                [this] { return !recovering_.load() || closing_.load(); })) {
        return absl::UnavailableError("waited too long for the connection to be re-established");
      }
    }
    if (closing_.load()) return absl::CancelledError("client closed");
    if (!broken_.ok()) return broken_;
    // Another thread re-established (or failed to) while this one waited: its result stands.
    if (recovery_round_ != round) return last_recovery_;
    // Up, or replaced by a newer one already: nothing to re-establish (the caller's request was
    // held back or failed otherwise, and runs again).
    if (failed->status().ok() || connection() != failed) return absl::OkStatus();
    recovering_.store(true);
    recovering_thread_ = std::this_thread::get_id();
  }
  const absl::Time started = absl::Now();
  absl::Status s = RunRecovery(failed);
  if (s.ok()) {
    const uint64_t us = static_cast<uint64_t>(absl::ToInt64Microseconds(absl::Now() - started));
    reconnect_counters_.us_total += us;
    uint64_t max = reconnect_counters_.us_max.load();
    while (us > max && !reconnect_counters_.us_max.compare_exchange_weak(max, us)) {
    }
  }
  {
    std::lock_guard<std::mutex> l(recover_mu_);
    recovering_.store(false);
    recovering_thread_ = std::thread::id();
    recovery_round_++;
    last_recovery_ = s;
    if (!s.ok() && !absl::IsUnavailable(s) && !absl::IsCancelled(s)) broken_ = s;
  }
  recover_cv_.notify_all();
  return s;
}

namespace {

// An error of the re-establishment that trying again may cure: the network's, not the
// server's answer.
bool Transient(const absl::Status& s, Connection* c) {
  return !c->status().ok() || absl::IsDeadlineExceeded(s) || absl::IsUnavailable(s);
}

}  // namespace

absl::Status ClientContext::RunRecovery(Connection* failed) {
  const ReconnectOptions& o = options_.reconnect;
  const absl::Time deadline = absl::Now() + o.max_outage;
  recovery_deadline_ns_.store(absl::ToUnixNanos(deadline));
  absl::Duration backoff = std::max(o.initial_backoff, absl::Milliseconds(1));
  absl::Status last = failed->status();
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0) {
      reconnect_counters_.attempts_failed++;
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) break;
      // Backoff, cut short by the client's destruction.
      std::unique_lock<std::mutex> l(recover_mu_);
      recover_cv_.wait_for(l, absl::ToChronoNanoseconds(std::min(backoff, left)),
                           [this] { return closing_.load(); });
      backoff = std::min(backoff * 2, std::max(o.max_backoff, o.initial_backoff));
    }
    if (closing_.load()) return absl::CancelledError("client closed");
    if (absl::Now() >= deadline) break;
    absl::StatusOr<std::unique_ptr<Transport>> transport = factory_();
    if (!transport.ok()) {
      last = transport.status();
      continue;
    }
    absl::Status s = Reestablish(*std::move(transport));
    if (s.ok()) {
      reconnect_counters_.reconnects++;
      return s;
    }
    last = s;
    Connection* c = connection();
    if (!Transient(s, c)) {
      // The server's answer on a connection that is up (a changed NEGOTIATE): trying again
      // would get it again, and must not be tried.
      c->Close(absl::CancelledError("reconnect refused"));
      return s;
    }
    // A timeout on a connection that is up (a server that stopped answering): a new one.
    c->Close(absl::UnavailableError(absl::StrCat("reconnect attempt failed: ", s.message())));
  }
  return absl::UnavailableError(absl::StrCat(
      "the connection dropped (", failed->status().message(), ") and was not re-established within ",
      absl::FormatDuration(o.max_outage), " (ClientOptions::reconnect.max_outage); last attempt: ",
      last.message()));
}

absl::Status ClientContext::Reestablish(std::unique_ptr<Transport> transport) {
  // The sessions come back under new ids, which the extra channels do not carry.
  DropExtraChannels("the client reconnected: its sessions were set up again without them");
  SMBD_ASSIGN_OR_RETURN(Connection * c, Install(std::move(transport)));
  SMBD_RETURN_IF_ERROR(Negotiate(c, NegotiateKind::kReconnect));
  // The server may still be letting go of the old connection's opens (File::Reopen): one
  // budget for that wait, for all of them together.
  reopen_patience_ns_.store(absl::ToUnixNanos(
      std::min(absl::Now() + absl::Seconds(2), recovery_deadline())));
  // What the sessions, trees and files hold stays alive and unchanged while they are walked:
  // their destructors and constructors take this lock too.
  std::lock_guard<std::mutex> l(registry_mu_);
  for (const RegisteredSession& e : sessions_) {
    SMBD_RETURN_IF_ERROR(e.reestablish(e.session));
    if (absl::Now() > recovery_deadline()) {
      return absl::DeadlineExceededError("re-establishing took longer than max_outage");
    }
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
  return absl::OkStatus();
}

std::vector<uint16_t> ClientContext::OfferedDialects() const {
  std::vector<uint16_t> dialects;
  for (uint16_t d : kAllDialects) {
    if (d >= options_.min_dialect && d <= options_.max_dialect) dialects.push_back(d);
  }
  return dialects;
}

uint16_t ClientContext::SecurityMode() const {
  return kSigningEnabled | (options_.require_signing ? kSigningRequired : 0);
}

SmbMessageRef ClientContext::NewMessage(Command command, uint64_t session_id, uint32_t tree_id,
                                        uint64_t payload) const {
  SmbMessageRef m = SmbMessage::New();
  m->header.command = command;
  m->header.session_id = session_id;
  m->header.tree_id = tree_id;
  m->header.credit_charge = Charge(payload);
  if (negotiated_.dialect >= kDialect300) {
    // [MS-SMB2] 2.2.1.2 ChannelSequence: bumped at each reconnect (as 3.2.7.1 has it for a lost
    // channel), so that the server tells requests of the new connection from the old one's
    // (3.3.5.2.10); a request sent again after the drop says it is a replay.
    m->header.status = channel_sequence_.load(std::memory_order_acquire);
    if (Replaying()) m->header.flags |= kFlagReplayOperation;
  }
  return m;
}

uint16_t ClientContext::Charge(uint64_t bytes) const {
  // [MS-SMB2] 3.2.4.1.5: CreditCharge only with 2.1+ and CAP_LARGE_MTU; 2.0.2 sends 0.
  const NegotiatedInfo& n = negotiated_;
  if (n.dialect == 0 || n.dialect == kDialect202 || (n.server_capabilities & kCapLargeMtu) == 0) {
    return n.dialect == kDialect202 ? 0 : 1;
  }
  return CreditChargeFor(bytes);
}

absl::Status ClientContext::Gate() {
  if (!recovering_.load(std::memory_order_acquire)) return absl::OkStatus();
  std::unique_lock<std::mutex> l(recover_mu_);
  if (!recovering_.load() || recovering_thread_ == std::this_thread::get_id()) {
    return absl::OkStatus();
  }
  // The re-establishment ends by max_outage (each of its round trips by request_timeout).
  recover_cv_.wait_for(
      l, absl::ToChronoNanoseconds(options_.reconnect.max_outage + options_.request_timeout),
      [this] { return !recovering_.load() || closing_.load(); });
  return RetryAfterReconnect("request");
}

absl::Status ClientContext::Submit(const SmbMessageRef& chain, Connection* on) {
  SMBD_RETURN_IF_ERROR(Gate());
  // One absolute deadline per request, from now: the send and the wait for the answer both end
  // by it, so a peer that stops reading cannot hold a caller past its timeout.
  for (SmbMessage* m = chain.get(); m != nullptr; m = m->next.get()) {
    m->SetDeadlineIn(options_.request_timeout);
  }
  return (on != nullptr ? on : connection())->Submit(chain);
}

absl::Status ClientContext::Await(SmbMessage* m) {
  const absl::Duration left = m->TimeLeft();
  absl::Status s = m->Wait(left == absl::InfiniteDuration() ? options_.request_timeout : left);
  if (s.ok()) return s;
  // The connection that holds it (a reconnect may have made another one live since).
  Connection* c = m->connection != nullptr ? m->connection : connection();
  if (s.code() == absl::StatusCode::kDeadlineExceeded) {
    // Ask the server to drop it ([MS-SMB2] 3.2.4.24): one that does answers STATUS_CANCELLED
    // and the request's credits come back instead of staying charged for good.
    (void)c->Cancel(m);
  }
  c->Abandon(m);  // its destination is not written after we return
  if (s.code() == absl::StatusCode::kDeadlineExceeded && reconnect_enabled() &&
      !closing_.load()) {
    // No answer within request_timeout: with reconnection on, the link is presumed dead (a
    // pulled cable or a hung server sends no FIN; [MS-SMB2] 3.2.6.1 lets the client drop the
    // connection), so the connection is closed and the caller re-establishes it.
    c->Close(absl::UnavailableError(absl::StrCat(
        "no answer within the request timeout (",
        absl::FormatDuration(options_.request_timeout), "): connection presumed dead")));
  }
  return s;
}

absl::Status ClientContext::RoundTrip(const SmbMessageRef& chain, Connection* on) {
  SMBD_RETURN_IF_ERROR(Submit(chain, on));
  for (SmbMessage* m = chain.get(); m != nullptr; m = m->next.get()) {
    SMBD_RETURN_IF_ERROR(Await(m));
  }
  return absl::OkStatus();
}

absl::Status ClientContext::Exchange(Command command, uint64_t session_id, uint32_t tree_id,
                                     const std::function<void(WireWriter*)>& body,
                                     absl::string_view what) {
  SmbMessageRef m = NewMessage(command, session_id, tree_id);
  SMBD_RETURN_IF_ERROR(EncodeOne(m.get(), *this, body));
  SMBD_RETURN_IF_ERROR(RoundTrip(m));
  return ResponseStatus(*m, what);
}

uint32_t ClientContext::MaxRead(bool rdma, const Transport* t) const {
  if (t == nullptr) t = transport();
  return IoLimit(rdma ? options_.max_rdma_io : options_.max_io, negotiated_.max_read_size,
                 t->limits().max_rdma_io, negotiated_.dialect);
}

uint32_t ClientContext::MaxWrite(bool rdma, const Transport* t) const {
  if (t == nullptr) t = transport();
  return IoLimit(rdma ? options_.max_rdma_io : options_.max_io, negotiated_.max_write_size,
                 t->limits().max_rdma_io, negotiated_.dialect);
}

Transport* ClientContext::BulkTransport(bool rdma_ok) const {
  if (rdma_ok) {
    std::lock_guard<std::mutex> l(channel_mu_);
    for (const std::shared_ptr<Channel>& ch : channels_) {
      if (ch->rdma && !ch->dropped.load() && ch->connection->status().ok()) {
        return ch->connection->transport();
      }
    }
  }
  return transport();
}

size_t ClientContext::Depth(uint32_t chunk) const {
  // Whatever was asked for, at most 1 GiB in flight: ReadTo allocates its window up front.
  constexpr uint64_t kMaxInFlight = uint64_t{1} << 30;
  chunk = std::max<uint32_t>(chunk, 1);
  const uint64_t wanted = options_.depth > 0 ? options_.depth : options_.window_bytes / chunk;
  return static_cast<size_t>(
      std::clamp<uint64_t>(wanted, 1, std::max<uint64_t>(1, kMaxInFlight / chunk)));
}

int ClientContext::Cancel() {
  cancel_epoch_.fetch_add(1, std::memory_order_acq_rel);
  int n = 0;
  for (const std::shared_ptr<Channel>& ch : channels()) {
    if (!ch->dropped.load()) n += ch->connection->CancelAll();
  }
  return n;
}

absl::Status ClientContext::Negotiate(Connection* on, NegotiateKind kind, Channel* channel) {
  const bool reconnect = kind != NegotiateKind::kFirst;
  const std::vector<uint16_t> dialects = OfferedDialects();
  if (dialects.empty()) return absl::InvalidArgumentError("no dialect in the requested range");
  const bool offer_311 = dialects.back() == kDialect311;

  NegotiateRequest req;
  req.dialects = dialects;
  req.security_mode = SecurityMode();
  req.capabilities = Capabilities();
  // The same ClientGuid on every connection: the server's leases and durable handles belong to
  // it ([MS-SMB2] 3.3.5.9.7, 3.3.5.9.12).
  if (!reconnect) SMBD_RETURN_IF_ERROR(RandomBytes(absl::MakeSpan(client_guid_)));
  std::memcpy(req.client_guid, client_guid_, 16);
  uint8_t salt[32];
  std::vector<uint16_t> ciphers, signing;
  if (offer_311) {
    SMBD_RETURN_IF_ERROR(RandomBytes(absl::MakeSpan(salt)));
    req.preauth_salt = salt;
    for (Cipher c : options_.ciphers) ciphers.push_back(static_cast<uint16_t>(c));
    req.ciphers = ciphers;
    if (options_.offer_gmac) signing.push_back(kSigningAesGmac);
    signing.push_back(kSigningAesCmac);
    signing.push_back(kSigningHmacSha256);
    req.signing_algorithms = signing;
    req.netname = options_.server_name;
  }

  SmbMessageRef m = SmbMessage::New();
  m->header.command = Command::kNegotiate;
  m->header.credit_charge = 0;  // not yet known whether the server does multi-credit
  SMBD_RETURN_IF_ERROR(EncodeOne(m.get(), *this,
                                 [&](WireWriter* w) { return EncodeNegotiateRequest(req, w); }));
  SMBD_RETURN_IF_ERROR(RoundTrip(m, on));
  SMBD_RETURN_IF_ERROR(ResponseStatus(*m, "NEGOTIATE"));
  SMBD_ASSIGN_OR_RETURN(NegotiateResponse resp, DecodeNegotiateResponse(Reader(*m)));

  // A dialect we did not offer (or the 2.x wildcard) is a protocol violation or a downgrade.
  if (std::find(dialects.begin(), dialects.end(), resp.dialect) == dialects.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "server chose dialect 0x", absl::Hex(resp.dialect), ", which was not offered"));
  }
  NegotiatedInfo n;
  PreauthIntegrity preauth;
  n.dialect = resp.dialect;
  n.server_security_mode = resp.security_mode;
  n.server_capabilities = resp.capabilities;
  n.max_transact_size = resp.max_transact_size;
  n.max_read_size = resp.max_read_size;
  n.max_write_size = resp.max_write_size;
  std::memcpy(n.server_guid, resp.server_guid, 16);
  n.signing = DefaultSigningAlgorithm(resp.dialect);
  SMBD_ASSIGN_OR_RETURN(std::vector<uint8_t> token,
                        CopyBuffer(*m, resp.security_buffer_offset, resp.security_buffer_length,
                                   "NEGOTIATE token"));
  if (n.max_read_size < 65536 || n.max_write_size < 65536) {
    return absl::DataLossError(absl::StrCat("server's MaxReadSize ", n.max_read_size,
                                            " / MaxWriteSize ", n.max_write_size,
                                            " are below the 64 KiB every dialect allows"));
  }

  if (n.dialect == kDialect311) {
    // [MS-SMB2] 3.2.5.2: the response MUST carry exactly one preauth context with SHA-512.
    if (!resp.preauth.has_value() ||
        std::find(resp.preauth->hash_algorithms.begin(), resp.preauth->hash_algorithms.end(),
                  kHashSha512) == resp.preauth->hash_algorithms.end()) {
      return absl::DataLossError("3.1.1 NEGOTIATE response without a SHA-512 preauth context");
    }
    SMBD_RETURN_IF_ERROR(preauth.Update(m->request.begin()));
    SMBD_RETURN_IF_ERROR(preauth.Update(m->response.begin()));
    if (resp.ciphers.has_value() && !resp.ciphers->empty() && (*resp.ciphers)[0] != 0) {
      const uint16_t c = (*resp.ciphers)[0];
      if (std::find(ciphers.begin(), ciphers.end(), c) == ciphers.end()) {
        return absl::DataLossError(absl::StrCat("server chose cipher ", c, ", not offered"));
      }
      n.cipher = static_cast<Cipher>(c);
      n.can_encrypt = true;
    }
    if (resp.signing_algorithms.has_value() && !resp.signing_algorithms->empty()) {
      const uint16_t a = (*resp.signing_algorithms)[0];
      if (std::find(signing.begin(), signing.end(), a) == signing.end()) {
        return absl::DataLossError(
            absl::StrCat("server chose signing algorithm ", a, ", not offered"));
      }
      n.signing = static_cast<SigningAlgorithm>(a);
    }
  } else if (n.dialect >= kDialect300) {
    n.can_encrypt = (n.server_capabilities & kCapEncryption) != 0;
    n.cipher = Cipher::kAes128Ccm;
  }
  if (options_.require_encryption && !n.can_encrypt) {
    return absl::FailedPreconditionError(
        absl::StrCat("encryption required, but the server (dialect 0x", absl::Hex(n.dialect),
                     ") offers none; refusing to continue unencrypted"));
  }
  if (reconnect) {
    // The same server, agreeing the same: anything else on a reconnect is a different server
    // or a downgrade, and the sessions' keys and the handles' state would not carry over.
    const NegotiatedInfo& o = negotiated_;
    const char* changed = nullptr;
    if (n.dialect != o.dialect) {
      changed = "dialect";
    } else if (std::memcmp(n.server_guid, o.server_guid, 16) != 0) {
      changed = "server GUID";
    } else if (n.can_encrypt != o.can_encrypt || (n.can_encrypt && n.cipher != o.cipher)) {
      changed = "cipher";
    } else if (n.signing != o.signing) {
      changed = "signing algorithm";
    } else if ((n.server_security_mode & kSigningRequired) !=
               (o.server_security_mode & kSigningRequired)) {
      changed = "signing requirement";
    } else if (n.max_read_size < o.max_read_size || n.max_write_size < o.max_write_size) {
      changed = "MaxReadSize/MaxWriteSize (smaller)";
    }
    if (changed != nullptr) {
      return absl::PermissionDeniedError(absl::StrCat(
          kind == NegotiateKind::kChannel ? "new channel" : "reconnect",
          ": the server's NEGOTIATE answer differs from the first connection's (", changed,
          "); refusing to continue on it"));
    }
  } else {
    negotiated_ = n;
  }
  if (kind == NegotiateKind::kChannel) {
    channel->negotiate_token = std::move(token);
    channel->preauth = preauth;
    return absl::OkStatus();
  }
  std::lock_guard<std::mutex> l(conn_mu_);
  negotiate_token_ = std::move(token);
  preauth_ = preauth;
  return absl::OkStatus();
}


uint32_t ClientContext::Capabilities() const {
  // [MS-SMB2] 2.2.3: MULTI_CHANNEL only when channels are wanted (a server that sees it may
  // expect bindings; without it, VALIDATE_NEGOTIATE checks the same value).
  return kCapLargeMtu | kCapEncryption |
         (options_.multichannel.max_channels > 1 ? kCapMultiChannel : 0);
}

bool ClientContext::MultichannelPossible(std::string* why) const {
  const char* reason = nullptr;
  if (options_.multichannel.max_channels <= 1) {
    reason = "not asked for (ClientOptions::multichannel.max_channels)";
  } else if (channel_factory_ == nullptr) {
    reason = "this client does not know how to connect to other addresses";
  } else if (negotiated_.dialect < kDialect300) {
    reason = "the dialect is below SMB 3.0";
  } else if ((negotiated_.server_capabilities & kCapMultiChannel) == 0) {
    reason = "the server does not offer it (no SMB2_GLOBAL_CAP_MULTI_CHANNEL)";
  }
  if (reason != nullptr && why != nullptr) *why = reason;
  return reason == nullptr;
}

absl::StatusOr<std::shared_ptr<Channel>> ClientContext::OpenChannel(const ServerInterface& to) {
  if (channel_factory_ == nullptr) return absl::FailedPreconditionError("no channel factory");
  SMBD_ASSIGN_OR_RETURN(std::unique_ptr<Transport> transport, channel_factory_(to));
  auto channel = std::make_shared<Channel>();
  channel->address = to.address;
  channel->link_speed_bps = to.link_speed_bps;
  channel->rdma = transport->supports_rdma();
  SMBD_ASSIGN_OR_RETURN(channel->connection, Install(std::move(transport), /*live=*/false));
  absl::Status s = Negotiate(channel->connection, NegotiateKind::kChannel, channel.get());
  if (!s.ok()) {
    channel->connection->Close(absl::CancelledError("channel not used"));
    return s;
  }
  return channel;
}

void ClientContext::ActivateChannel(std::shared_ptr<Channel> channel) {
  std::lock_guard<std::mutex> l(channel_mu_);
  // The first channel's speed, when the server listed no interface for its address: the
  // fastest one listed (it is one of them).
  if (!channels_.empty() && channels_[0]->link_speed_bps.load() == 0) {
    channels_[0]->link_speed_bps.store(channel->link_speed_bps.load());
  }
  channels_.push_back(std::move(channel));
}

void ClientContext::MarkBound(Channel* channel, uint64_t session_id, bool bound) {
  std::lock_guard<std::mutex> l(channel_mu_);
  std::vector<uint64_t>& ids = channel->bound_sessions;
  ids.erase(std::remove(ids.begin(), ids.end(), session_id), ids.end());
  if (bound) ids.push_back(session_id);
}

bool ClientContext::IsBound(Channel* channel, uint64_t session_id) const {
  std::lock_guard<std::mutex> l(channel_mu_);
  const std::vector<uint64_t>& ids = channel->bound_sessions;
  return std::find(ids.begin(), ids.end(), session_id) != ids.end();
}

Channel* ClientContext::PickChannel(uint64_t session_id, bool rdma_ok, uint64_t inline_bytes) {
  Connection* live = connection();
  // A live connection that dropped (even with nothing in flight on it) hands over first.
  if (!live->status().ok() && Failover(live)) live = connection();
  std::lock_guard<std::mutex> l(channel_mu_);
  if (channels_.size() <= 1) {
    return channels_.empty() ? nullptr : channels_[0].get();
  }
  // The ones that can carry it: up, and bound to the session (the live one carries all).
  // While the session may use the RDMA channel, SMB Direct channels take all of the bulk I/O
  // when there are any (the way Windows moves it off TCP).
  Channel* candidates[16];
  int n = 0;
  bool any_rdma = false;
  Channel* live_channel = nullptr;
  for (const std::shared_ptr<Channel>& ch : channels_) {
    if (ch->connection == live) live_channel = ch.get();
    if (ch->dropped.load()) continue;
    if (!ch->connection->status().ok()) {
      // Found dropped with nothing of ours in flight on it: left out from now on.
      if (ch->connection != live && !ch->dropped.exchange(true)) {
        channels_lost_++;
        channel_sequence_.fetch_add(1, std::memory_order_acq_rel);
      }
      continue;
    }
    if (ch->connection != live &&
        std::find(ch->bound_sessions.begin(), ch->bound_sessions.end(), session_id) ==
            ch->bound_sessions.end()) {
      continue;
    }
    // Data that goes inline must fit the channel's frames (with room for the headers and a
    // transform header); over SMB Direct with rdma_ok it goes by RDMA instead.
    if (inline_bytes > 0 && !(rdma_ok && ch->rdma)) {
      const TransportLimits lim = ch->connection->transport()->limits();
      if ((lim.max_send_frame != 0 && lim.max_send_frame < inline_bytes + 1024) ||
          (lim.max_receive_frame != 0 && lim.max_receive_frame < inline_bytes + 1024)) {
        continue;
      }
    }
    if (n < 16) candidates[n++] = ch.get();
    any_rdma |= ch->rdma;
  }
  if (n == 0) return live_channel != nullptr ? live_channel : channels_[0].get();
  // Smooth weighted round robin: each pick adds every candidate's weight to its running
  // score and takes the highest, which then gives back the total: over any window the picks
  // follow the weights, interleaved.
  int64_t total = 0;
  Channel* best = nullptr;
  for (int i = 0; i < n; ++i) {
    Channel* ch = candidates[i];
    if (rdma_ok && any_rdma && !ch->rdma) continue;
    const int64_t w =
        std::max<int64_t>(1, static_cast<int64_t>(ch->link_speed_bps.load() / 1000000));
    ch->current_weight += w;
    total += w;
    if (best == nullptr || ch->current_weight > best->current_weight) best = ch;
  }
  if (best == nullptr) best = candidates[0];
  best->current_weight -= total;
  return best;
}

Channel* ClientContext::primary_channel() {
  Connection* live = connection();
  std::lock_guard<std::mutex> l(channel_mu_);
  for (const std::shared_ptr<Channel>& ch : channels_) {
    if (ch->connection == live) return ch.get();
  }
  return channels_.empty() ? nullptr : channels_[0].get();
}

std::vector<std::shared_ptr<Channel>> ClientContext::channels() const {
  std::lock_guard<std::mutex> l(channel_mu_);
  return channels_;
}

bool ClientContext::CanFailover(Connection* c) const {
  if (c == nullptr || c->status().ok() || closing_.load()) return false;
  std::lock_guard<std::mutex> l(channel_mu_);
  if (channels_.size() <= 1) return false;
  for (const std::shared_ptr<Channel>& ch : channels_) {
    if (ch->connection != c && !ch->dropped.load() && ch->connection->status().ok()) return true;
  }
  return false;
}

bool ClientContext::Failover(Connection* failed) {
  if (failed == nullptr || failed->status().ok() || closing_.load()) return false;
  std::shared_ptr<Channel> promoted;
  {
    std::lock_guard<std::mutex> l(channel_mu_);
    Connection* live = live_.load(std::memory_order_acquire);
    std::shared_ptr<Channel> record;
    for (const std::shared_ptr<Channel>& ch : channels_) {
      if (ch->connection == failed) record = ch;
    }
    if (record == nullptr) {
      // Retired already (another thread handled this drop): nothing more to do, as long as the
      // live connection is not the one that failed.
      for (const std::shared_ptr<Channel>& ch : retired_channels_) {
        if (ch->connection == failed) return failed != live;
      }
      return false;
    }
    if (channels_.size() <= 1) return false;
    if (failed != live) {
      // An extra channel: out of the rotation; the others carry on.
      if (!record->dropped.exchange(true)) {
        channels_lost_++;
        channel_sequence_.fetch_add(1, std::memory_order_acq_rel);
      }
      return true;
    }
    // The live connection. A session without keys (guest, anonymous) lives on it alone: with
    // reconnection on, a reconnect sets it up again, which a takeover would not.
    if (keyless_sessions_.load() > 0 && reconnect_enabled()) return false;
    // A surviving channel that carries every session with keys takes over (the server keeps
    // a session while one of its channels lives).
    const std::vector<uint64_t> ids = failed->SecuredSessions();
    for (const std::shared_ptr<Channel>& ch : channels_) {
      if (ch == record || ch->dropped.load() || !ch->connection->status().ok()) continue;
      bool carries_all = true;
      for (uint64_t id : ids) {
        carries_all &= std::find(ch->bound_sessions.begin(), ch->bound_sessions.end(), id) !=
                       ch->bound_sessions.end();
      }
      if (carries_all) {
        promoted = ch;
        break;
      }
    }
    if (promoted == nullptr) return false;
    record->dropped.store(true);
    channels_lost_++;
    channel_failovers_++;
    channel_sequence_.fetch_add(1, std::memory_order_acq_rel);
    {
      std::lock_guard<std::mutex> c(conn_mu_);
      negotiate_token_ = promoted->negotiate_token;
      preauth_ = promoted->preauth.Fork();
    }
    live_.store(promoted->connection, std::memory_order_release);
  }
  // Wakes the reconnection thread should the new live connection drop too.
  if (reconnect_enabled()) {
    promoted->connection->SetFailureHandler([this](const absl::Status&) {
      {
        std::lock_guard<std::mutex> l(recover_mu_);
        drop_seen_ = true;
      }
      recover_cv_.notify_all();
    });
  }
  return true;
}

void ClientContext::DropExtraChannels(absl::string_view why) {
  Connection* live = connection();
  std::vector<Connection*> close;
  {
    std::lock_guard<std::mutex> l(channel_mu_);
    std::vector<std::shared_ptr<Channel>> keep;
    for (const std::shared_ptr<Channel>& ch : channels_) {
      if (ch->connection == live) {
        keep.insert(keep.begin(), ch);
      } else {
        ch->dropped.store(true);
        close.push_back(ch->connection);
        retired_channels_.push_back(ch);  // requests in flight may still point to it
      }
    }
    channels_.swap(keep);
    if (!close.empty()) {
      multichannel_note_ = absl::StrCat("multichannel: extra channels closed (", why,
                                        "); the next tree connect adds them again");
    }
  }
  multichannel_claimed_.store(false);
  for (Connection* c : close) {
    if (c != live) c->Close(absl::CancelledError(why));
  }
}

void ClientContext::set_primary_link_speed(uint64_t bps) {
  Connection* live = connection();
  std::lock_guard<std::mutex> l(channel_mu_);
  for (const std::shared_ptr<Channel>& ch : channels_) {
    if (ch->connection == live) ch->link_speed_bps.store(bps);
  }
}

std::string ClientContext::multichannel_note() const {
  std::lock_guard<std::mutex> l(channel_mu_);
  if (!multichannel_note_.empty()) return multichannel_note_;
  std::string why;
  if (!MultichannelPossible(&why)) return absl::StrCat("multichannel off: ", why);
  return "multichannel: no channel added yet (the first tree connect adds them)";
}

void ClientContext::set_multichannel_note(std::string note) {
  std::lock_guard<std::mutex> l(channel_mu_);
  multichannel_note_ = std::move(note);
}

}  // namespace client_internal
}  // namespace smbd
