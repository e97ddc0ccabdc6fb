#include "smb2/client/testing/harness.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <utility>

#include "base/status_macros.h"
#include "buffers/alloc_scope.h"
#include "buffers/wire.h"
#include "smb2/tcp_transport.h"

namespace smbd {
namespace scripted {
namespace {

std::unique_ptr<PagePool> NewPool(MemoryRegistrar* registrar) {
  PagePoolOptions po;
  po.max_bytes = 64 << 20;
  po.huge_pages = false;
  po.registrar = registrar;
  absl::StatusOr<std::unique_ptr<PagePool>> pool = PagePool::Create(po);
  return pool.ok() ? *std::move(pool) : nullptr;
}

// The server end over Direct TCP: a thread receives frames and runs the script on each.
class TcpServerEnd : public ServerEnd, private FrameSink {
 public:
  TcpServerEnd(int fd, const ScriptedSmb2Server::Options& options)
      : ServerEnd(options), pool_(NewPool(nullptr)), raw_fd_(dup(fd)) {
    transport_ = TcpTransport::FromSocket(fd, pool_.get());
    thread_ = std::thread([this] { Run(); });
  }
  ~TcpServerEnd() override {
    transport_->Shutdown(absl::CancelledError("test over"));
    thread_.join();
    if (raw_fd_ >= 0) close(raw_fd_);
  }

 private:
  void Run() {
    UncountedAllocations uncounted;  // a stand-in peer: not the client's allocations
    while (!closed_) {
      absl::StatusOr<Bvecq> f = transport_->Receive(absl::Seconds(30));
      if (!f.ok()) return;
      std::vector<uint8_t> bytes(f->size());
      f->begin().CopyOut(absl::MakeSpan(bytes));
      script_.Handle(bytes, this);
    }
  }

  absl::Status Send(const std::vector<uint8_t>& frame) override {
    Bvecq q;
    WireWriter w(&q, pool_.get());
    w.Bytes(absl::MakeConstSpan(frame));
    SMBD_RETURN_IF_ERROR(w.Finish());
    return transport_->Send(q);
  }
  void Hangup() override {
    closed_ = true;
    transport_->Shutdown(absl::CancelledError("hostile server hung up"));
  }
  absl::Status SendFrameStartOnly(uint32_t announced) override {
    // [MS-SMB2] 2.1 Direct TCP: a zero byte and a 24-bit big-endian length, written around the
    // transport, which would send the frame too.
    const uint8_t word[4] = {0, static_cast<uint8_t>(announced >> 16),
                             static_cast<uint8_t>(announced >> 8), static_cast<uint8_t>(announced)};
    if (write(raw_fd_, word, 4) != 4) return absl::UnavailableError("raw write failed");
    return absl::OkStatus();
  }

  std::unique_ptr<PagePool> pool_;  // outlives the transport
  const int raw_fd_;
  std::unique_ptr<TcpTransport> transport_;
  std::atomic<bool> closed_{false};
  std::thread thread_;
};

// The server end over SMB Direct: the FakeSmbDirectServer reassembles each frame and calls the
// script on its own thread; the sink lives for one handler call, as the RDMA Context does.
class SmbDirectServerEnd : public ServerEnd {
 public:
  SmbDirectServerEnd(std::unique_ptr<FakeRdmaEndpoint> peer, const FakeSmbDirectServerOptions& so,
                     const ScriptedSmb2Server::Options& options)
      : ServerEnd(options) {
    server_ = std::make_unique<FakeSmbDirectServer>(
        std::move(peer), so,
        [this](const std::vector<uint8_t>& frame, FakeSmbDirectServer::Context& ctx) {
          Sink sink(server_ptr_.load(), &ctx);
          script_.Handle(frame, &sink);
          return std::vector<std::vector<uint8_t>>{};  // answered through the sink
        });
    server_ptr_ = server_.get();
  }
  ~SmbDirectServerEnd() override { server_.reset(); }
  FakeSmbDirectServer* smbd() override { return server_.get(); }

 private:
  class Sink : public FrameSink {
   public:
    Sink(FakeSmbDirectServer* server, FakeSmbDirectServer::Context* ctx)
        : server_(server), ctx_(ctx) {}
    absl::Status Send(const std::vector<uint8_t>& frame) override {
      return server_->SendFrame(frame);
    }
    absl::Status SendInvalidating(const std::vector<uint8_t>& frame, uint32_t rkey) override {
      return server_->SendFrame(frame, rkey);
    }
    void Hangup() override { server_->Disconnect(); }
    absl::Status SendFrameStartOnly(uint32_t announced) override {
      // One fragment of 64 bytes whose RemainingDataLength announces the rest.
      std::vector<uint8_t> first(64, 0xFE);
      return server_->SendFragment(first, announced - static_cast<uint32_t>(first.size()));
    }
    bool has_rdma() const override { return true; }
    absl::Status RdmaWrite(uint64_t addr, uint32_t token,
                           absl::Span<const uint8_t> bytes) override {
      return ctx_->RdmaWrite(addr, token, bytes);
    }
    absl::Status RdmaRead(uint64_t addr, uint32_t token, absl::Span<uint8_t> out) override {
      return ctx_->RdmaRead(addr, token, out);
    }

   private:
    FakeSmbDirectServer* const server_;
    FakeSmbDirectServer::Context* const ctx_;
  };

  // Set once the server exists; the handler runs only after the client has sent a frame.
  std::atomic<FakeSmbDirectServer*> server_ptr_{nullptr};
  std::unique_ptr<FakeSmbDirectServer> server_;
};

absl::Status ConnectTcp(RigOptions options, Rig* rig) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return absl::InternalError("socketpair");
  options.script.dialect = kDialect210;
  rig->server = std::make_unique<TcpServerEnd>(sv[1], options.script);
  std::shared_ptr<PagePool> pool(NewPool(nullptr));
  if (pool == nullptr) {
    close(sv[0]);
    return absl::ResourceExhaustedError("page pool");
  }
  SMBD_ASSIGN_OR_RETURN(rig->client, Client::Create(TcpTransport::FromSocket(sv[0], pool.get()),
                                                    pool, options.client));
  return absl::OkStatus();
}

absl::Status ConnectSmbDirect(FakeRdmaNetwork* net, RigOptions options, Rig* rig) {
  options.script.dialect = kDialect302;
  ConnectOptions co;
  co.host = "192.0.2.1";
  co.send_credit_target = options.smbd_client.send_credit_target;
  co.receive_credit_max = options.smbd_client.receive_credit_max;
  SMBD_ASSIGN_OR_RETURN(std::unique_ptr<RdmaEndpoint> endpoint, net->Connect(co));
  std::unique_ptr<FakeRdmaEndpoint> peer = net->WaitForPeer(absl::Seconds(5));
  if (peer == nullptr) return absl::InternalError("fake network: no peer end");
  rig->server =
      std::make_unique<SmbDirectServerEnd>(std::move(peer), options.smbd_server, options.script);
  // As smbdirect/connect.cc does: the pool's slabs are registered with the endpoint, and the
  // registrar's bookkeeping lives as long as the pool.
  std::shared_ptr<MemoryRegistrar> registrar = endpoint->registrar_handle();
  std::unique_ptr<PagePool> owned = NewPool(registrar.get());
  if (owned == nullptr) return absl::ResourceExhaustedError("page pool");
  std::shared_ptr<PagePool> pool(owned.release(), [registrar](PagePool* p) { delete p; });
  SMBD_ASSIGN_OR_RETURN(
      std::unique_ptr<SmbDirectTransport> transport,
      SmbDirectTransport::Create(std::move(endpoint), pool.get(), options.smbd_client));
  SMBD_ASSIGN_OR_RETURN(rig->client, Client::Create(std::move(transport), pool, options.client));
  return absl::OkStatus();
}

}  // namespace

const char* TransportName(TransportKind kind) {
  return kind == TransportKind::kTcp ? "Tcp" : "SmbDirect";
}

std::unique_ptr<ServerEnd> ServeTcpSocket(int fd, const ScriptedSmb2Server::Options& options) {
  return std::make_unique<TcpServerEnd>(fd, options);
}

absl::Status ConnectRig(TransportKind kind, FakeRdmaNetwork* net, RigOptions options, Rig* rig) {
  if (kind == TransportKind::kTcp) return ConnectTcp(std::move(options), rig);
  if (net == nullptr) return absl::InvalidArgumentError("SMB Direct needs a fake network");
  return ConnectSmbDirect(net, std::move(options), rig);
}

}  // namespace scripted
}  // namespace smbd
