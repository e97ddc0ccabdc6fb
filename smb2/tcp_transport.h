// Direct TCP transport ([MS-SMB2] 2.1: port 445, each message preceded by a 4-byte big-endian
// length whose first byte is 0).
//
// Sending gathers the whole frame into one iovec array behind a 4-byte length word and hands it
// to sendmsg() (the seed's single-send idea), resuming partial sends. Receiving reads frames
// into pool pages; a READ response's data is received straight into the caller's buffer when a
// PlacementHook names one, so the bytes cross from the kernel to their destination once.
#ifndef SMBD_SMB2_TCP_TRANSPORT_H_
#define SMBD_SMB2_TCP_TRANSPORT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "buffers/page_pool.h"
#include "smb2/transport.h"

namespace smbd {

struct TcpOptions {
  absl::Duration connect_timeout = absl::Seconds(10);
  // A frame (or a send) that makes no progress for this long fails the connection.
  absl::Duration stall_timeout = absl::Seconds(60);
  uint64_t max_receive_frame = 16 << 20;
  // Socket buffer sizes (0: the kernel's defaults and autotuning).
  int send_buffer = 0;
  int receive_buffer = 0;
  // Fault injection for tests: the Nth socket operation (1-based; connect, each sendmsg, each
  // recv/readv, each poll) fails with an I/O error. 0 disables.
  uint64_t fail_operation = 0;
};

struct TcpStats {
  uint64_t frames_sent = 0;
  uint64_t sendmsg_calls = 0;
  uint64_t frames_received = 0;
  uint64_t bytes_placed = 0;  // READ data received straight into callers' buffers
  uint64_t operations = 0;    // socket operations so far (for fault sweeps)
};

class TcpTransport : public Transport {
 public:
  // Connects to host:port (IPv4 or IPv6, names resolved with getaddrinfo).
  static absl::StatusOr<std::unique_ptr<TcpTransport>> Connect(absl::string_view host,
                                                                uint16_t port, PagePool* pool,
                                                                const TcpOptions& options = {});
  // Wraps an already connected stream socket (tests use socketpair). Takes ownership of `fd`.
  static std::unique_ptr<TcpTransport> FromSocket(int fd, PagePool* pool,
                                                  const TcpOptions& options = {});
  ~TcpTransport() override;

  using Transport::Send;
  absl::Status Send(const Bvecq& frame, absl::Time deadline) override;
  bool usable() const override { return !is_shut_.load(); }
  absl::StatusOr<Bvecq> Receive(absl::Duration idle_timeout) override;
  void Shutdown(absl::Status reason) override;
  void SetPlacementHook(PlacementHook* hook) override { hook_ = hook; }
  TransportLimits limits() const override;
  const char* name() const override { return "tcp"; }

  TcpStats stats() const;
  const std::string& peer() const { return peer_; }

 private:
  TcpTransport(int fd, PagePool* pool, const TcpOptions& options, std::string peer);
  absl::Status Fault(const char* op);
  // Waits until fd is readable/writable or the deadline passes (or shutdown).
  absl::Status WaitFor(short events, absl::Time deadline, const char* what);
  // Reads exactly `len` bytes into `dst`.
  absl::Status ReadExact(uint8_t* dst, size_t len, absl::Time deadline);
  // Reads `len` bytes into fresh pool pages appended to `frame`.
  absl::Status ReadIntoPages(Bvecq* frame, uint64_t len, absl::Time deadline);
  absl::Status Closed() const;

  const int fd_;
  PagePool* const pool_;
  const TcpOptions options_;
  const std::string peer_;
  PlacementHook* hook_ = nullptr;

  std::mutex send_mu_;
  mutable std::mutex state_mu_;
  absl::Status shutdown_;
  std::atomic<bool> is_shut_{false};
  std::atomic<uint64_t> ops_{0};
  std::atomic<uint64_t> frames_sent_{0};
  std::atomic<uint64_t> sendmsg_calls_{0};
  std::atomic<uint64_t> frames_received_{0};
  std::atomic<uint64_t> bytes_placed_{0};
};

}  // namespace smbd

#endif  // SMBD_SMB2_TCP_TRANSPORT_H_
