#include "smb2/client/client.h"

#include <algorithm>
#include <utility>

#include "base/status_macros.h"
#include "smb2/client/context.h"
#include "smb2/client/login.h"

namespace smbd {

using client_internal::ClientContext;

Client::Client(std::unique_ptr<ClientContext> context) : context_(std::move(context)) {}

Client::~Client() = default;

absl::StatusOr<std::unique_ptr<Client>> Client::Create(std::unique_ptr<Transport> transport,
                                                       std::shared_ptr<PagePool> pool,
                                                       const ClientOptions& options,
                                                       TransportFactory reconnect,
                                                       ChannelFactory channels) {
  auto context = std::make_unique<ClientContext>(std::move(pool), options);
  context->set_channel_factory(std::move(channels));
  SMBD_RETURN_IF_ERROR(context->Start(std::move(transport), std::move(reconnect)));
  return std::unique_ptr<Client>(new Client(std::move(context)));
}

absl::StatusOr<std::unique_ptr<Session>> Client::Login(const Credentials& credentials) {
  return context_->Resilient(true, "SESSION_SETUP", [&]() -> absl::StatusOr<std::unique_ptr<Session>> {
    const uint64_t generation = context_->generation();
    SMBD_ASSIGN_OR_RETURN(client_internal::LoginResult login,
                          client_internal::Login(context_.get(), credentials));
    auto session =
        std::make_unique<Session>(context_.get(), this, std::move(login), credentials);
    // Set up on a connection that dropped before the session was listed for the reconnect:
    // log in again on the new one.
    if (context_->generation() != generation) {
      return client_internal::RetryAfterReconnect("SESSION_SETUP");
    }
    return session;
  });
}

bool Client::reconnects() const { return context_->reconnect_enabled(); }

const NegotiatedInfo& Client::negotiated() const { return context_->negotiated(); }
const ClientOptions& Client::options() const { return context_->options(); }
Connection* Client::connection() const { return context_->connection(); }
PagePool* Client::pool() const { return context_->pool(); }

ClientStats Client::stats() const {
  const client_internal::IoCounters& c = context_->counters();
  ClientStats s;
  s.round_trips = context_->frames_sent();
  s.bytes_read = c.bytes_read.load();
  s.bytes_written = c.bytes_written.load();
  s.rdma_reads = c.rdma_reads.load();
  s.rdma_writes = c.rdma_writes.load();
  s.rdma_bytes_read = c.rdma_bytes_read.load();
  s.rdma_bytes_written = c.rdma_bytes_written.load();
  s.bytes_placed = c.bytes_placed.load();
  s.bytes_copied = c.bytes_copied.load();
  const client_internal::LeaseCounters& l = context_->leases()->counters();
  s.lease_breaks = l.breaks.load();
  s.lease_break_acks = l.acks.load();
  s.lease_break_ack_failures = l.ack_failures.load();
  s.unknown_lease_breaks = l.unknown.load();
  s.unauthenticated_lease_breaks = l.unauthenticated.load();
  const client_internal::ReconnectCounters& r = context_->reconnect_counters();
  s.reconnects = r.reconnects.load();
  s.reconnect_attempts_failed = r.attempts_failed.load();
  s.handles_reopened = r.handles_reopened.load();
  s.handles_lost = r.handles_lost.load();
  s.requests_replayed = r.requests_replayed.load();
  s.reconnect_us_total = r.us_total.load();
  s.reconnect_us_max = r.us_max.load();
  uint64_t up = 0;
  for (const std::shared_ptr<client_internal::Channel>& ch : context_->channels()) {
    up += !ch->dropped.load() && ch->connection->status().ok();
  }
  s.channels = std::max<uint64_t>(up, 1);
  s.channels_lost = context_->channels_lost();
  s.channel_failovers = context_->channel_failovers();
  return s;
}

std::vector<ChannelInfo> Client::channels() const {
  std::vector<ChannelInfo> out;
  Connection* live = context_->connection();
  for (const std::shared_ptr<client_internal::Channel>& ch : context_->channels()) {
    ChannelInfo i;
    i.address = ch->address;
    i.rdma = ch->rdma;
    i.first = ch->connection == live;
    i.up = !ch->dropped.load() && ch->connection->status().ok();
    i.link_speed_bps = ch->link_speed_bps.load();
    i.bytes_read = ch->bytes_read.load();
    i.bytes_written = ch->bytes_written.load();
    i.connection = ch->connection;
    out.push_back(std::move(i));
  }
  return out;
}

std::string Client::multichannel_note() const { return context_->multichannel_note(); }

int Client::Cancel() { return context_->Cancel(); }

absl::StatusOr<std::unique_ptr<RegisteredBuffer>> Client::RegisterBuffer(
    absl::Span<uint8_t> memory) {
  return context_->transport()->RegisterBuffer(memory);
}

std::string Client::registration_note() const {
  return context_->transport()->registration_note();
}

uint32_t Client::max_read(bool rdma) const { return context_->MaxRead(rdma); }
uint32_t Client::max_write(bool rdma) const { return context_->MaxWrite(rdma); }

}  // namespace smbd
