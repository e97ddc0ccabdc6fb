// A scripted [MS-SMBD] server on the peer end of a fake RDMA connection (testonly). It answers
// the negotiate, reassembles the client's upper-layer frames, hands each to a handler, and
// sends the handler's replies fragmented to the client's MaxReceiveSize. The handler can also
// RDMA-write into or read from the client's registered buffers, as an SMB server does for
// READ and WRITE on the RDMA channel. Knobs make it misbehave on purpose.
#ifndef SMBD_SMBDIRECT_FAKE_SMBDIRECT_SERVER_H_
#define SMBD_SMBDIRECT_FAKE_SMBDIRECT_SERVER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "smbdirect/fake_verbs.h"
#include "smbdirect/smbdirect_wire.h"

namespace smbd {

struct FakeSmbDirectServerOptions {
  // The negotiate response ([MS-SMBD] 2.2.2); tests corrupt fields here.
  SmbDirectNegotiateResponse response = [] {
    SmbDirectNegotiateResponse r;
    r.credits_requested = 255;
    r.credits_granted = 255;
    r.max_read_write_size = 1 << 20;
    r.preferred_send_size = 1364;
    r.max_receive_size = 1364;
    r.max_fragmented_size = 1 << 20;
    return r;
  }();
  // Respond to the negotiate at all (false: never answer).
  bool answer_negotiate = true;
  // Credits granted in each data message (0: starve the client after the negotiate's grant).
  uint16_t grant_per_message = 10;
  // Never answer RESPONSE_REQUESTED (keepalive tests).
  bool ignore_response_requested = false;
  // Send our own data messages with RESPONSE_REQUESTED set.
  bool request_responses = false;
  uint32_t receive_buffers = 64;
  uint32_t receive_size = 8192;
};

class FakeSmbDirectServer {
 public:
  class Context {
   public:
    // RDMA WRITE of `bytes` into the client's memory at {addr, rkey}; waits for completion.
    absl::Status RdmaWrite(uint64_t addr, uint32_t rkey, absl::Span<const uint8_t> bytes);
    absl::Status RdmaRead(uint64_t addr, uint32_t rkey, absl::Span<uint8_t> out);

   private:
    friend class FakeSmbDirectServer;
    explicit Context(FakeSmbDirectServer* s) : s_(s) {}
    FakeSmbDirectServer* s_;
  };
  // Returns the frames to send back (each a complete upper-layer message).
  using Handler =
      std::function<std::vector<std::vector<uint8_t>>(const std::vector<uint8_t>&, Context&)>;

  FakeSmbDirectServer(std::unique_ptr<FakeRdmaEndpoint> endpoint,
                      FakeSmbDirectServerOptions options, Handler handler);
  ~FakeSmbDirectServer();

  // Sends an unsolicited frame (e.g. an oplock break); thread safe.
  // With `invalidate_rkey`, the last message is a SEND_WITH_INVALIDATE naming it (what a server
  // does for a request with SMB2_CHANNEL_RDMA_V1_INVALIDATE, [MS-SMB2] 3.3.5.12).
  absl::Status SendFrame(const std::vector<uint8_t>& frame,
                         std::optional<uint32_t> invalidate_rkey = std::nullopt);
  // Sends one data transfer message carrying `data` with RemainingDataLength
  // `remaining_data_length`, outside SendFrame's fragmentation: a hostile peer announcing more
  // than it sends, or more than the client's MaxFragmentedSize ([MS-SMBD] 3.1.5.8). Thread safe.
  absl::Status SendFragment(absl::Span<const uint8_t> data, uint32_t remaining_data_length);
  void Disconnect() { endpoint_->Disconnect(); }

  int messages_received() const { return messages_received_.load(); }
  int empty_messages_received() const { return empty_received_.load(); }
  int response_requested_received() const { return response_requested_.load(); }
  absl::Status status() const;
  FakeRdmaEndpoint* endpoint() const { return endpoint_.get(); }

 private:
  void Run();
  absl::Status Loop();
  absl::Status PostReceive(uint32_t slot);
  absl::Status SendMessage(uint16_t flags, absl::Span<const uint8_t> data, uint32_t remaining,
                           std::optional<uint32_t> invalidate_rkey = std::nullopt);
  absl::Status WaitFor(uint64_t wr_id, WorkCompletion* out);
  absl::Status HandleData(absl::Span<const uint8_t> bytes);

  std::unique_ptr<FakeRdmaEndpoint> endpoint_;
  const FakeSmbDirectServerOptions options_;
  Handler handler_;
  std::vector<uint8_t> memory_;
  std::unique_ptr<MemoryRegion> region_;
  uint32_t send_offset_ = 0;   // start of the send area in memory_
  uint32_t rdma_offset_ = 0;   // start of the RDMA staging area
  std::mutex send_mu_;
  uint32_t send_credits_ = 0;        // what the client granted us
  uint32_t client_max_receive_ = 0;  // the client's MaxReceiveSize
  uint32_t posted_ = 0, granted_ = 0;
  std::vector<uint8_t> partial_;
  uint32_t expect_remaining_ = 0;
  std::mutex poll_mu_;
  std::vector<WorkCompletion> stash_;  // completions seen while waiting for another
  std::atomic<int> messages_received_{0};
  std::atomic<int> empty_received_{0};
  std::atomic<int> response_requested_{0};
  mutable std::mutex mu_;
  absl::Status error_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace smbd

#endif  // SMBD_SMBDIRECT_FAKE_SMBDIRECT_SERVER_H_
