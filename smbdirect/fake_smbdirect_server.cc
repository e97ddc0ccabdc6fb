#include "smbdirect/fake_smbdirect_server.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "buffers/alloc_scope.h"
#include "buffers/wire.h"

namespace smbd {
namespace {
constexpr uint64_t kSendWr = 1ull << 40;
constexpr uint64_t kRdmaWr = 1ull << 41;
constexpr uint32_t kSendArea = 64 << 10;
constexpr uint32_t kRdmaArea = 4 << 20;
}  // namespace

FakeSmbDirectServer::FakeSmbDirectServer(std::unique_ptr<FakeRdmaEndpoint> endpoint,
                                         FakeSmbDirectServerOptions options, Handler handler)
    : endpoint_(std::move(endpoint)), options_(options), handler_(std::move(handler)) {
  send_offset_ = options_.receive_buffers * options_.receive_size;
  rdma_offset_ = send_offset_ + kSendArea;
  memory_.resize(rdma_offset_ + kRdmaArea);
  auto mr = endpoint_->RegisterMemory(memory_.data(), memory_.size(), MemoryAccess::kLocalWrite);
  if (!mr.ok()) {
    error_ = mr.status();
    return;
  }
  region_ = *std::move(mr);
  thread_ = std::thread([this] { Run(); });
}

FakeSmbDirectServer::~FakeSmbDirectServer() {
  stop_ = true;
  endpoint_->Disconnect(absl::CancelledError("fake server stopping"));
  if (thread_.joinable()) thread_.join();
  region_.reset();
}

absl::Status FakeSmbDirectServer::status() const {
  std::lock_guard<std::mutex> l(mu_);
  return error_;
}

void FakeSmbDirectServer::Run() {
  UncountedAllocations uncounted;  // a stand-in peer: not the client's allocations
  absl::Status s = Loop();
  std::lock_guard<std::mutex> l(mu_);
  if (error_.ok()) error_ = s;
}

absl::Status FakeSmbDirectServer::PostReceive(uint32_t slot) {
  Sge sge = region_->SgeFor(memory_.data() + slot * options_.receive_size, options_.receive_size);
  SMBD_RETURN_IF_ERROR(endpoint_->PostRecv(slot, absl::MakeConstSpan(&sge, 1)));
  std::lock_guard<std::mutex> l(send_mu_);  // SendMessage (any thread) reads it
  ++posted_;
  return absl::OkStatus();
}

absl::Status FakeSmbDirectServer::WaitFor(uint64_t wr_id, WorkCompletion* out) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!stop_) {
    int n;
    {
      std::lock_guard<std::mutex> l(poll_mu_);
      for (size_t i = 0; i < stash_.size(); ++i) {
        if (stash_[i].wr_id == wr_id ||
            (wr_id == UINT64_MAX && stash_[i].opcode == WcOpcode::kRecv)) {
          *out = stash_[i];
          stash_.erase(stash_.begin() + i);
          return absl::OkStatus();
        }
      }
      WorkCompletion wcs[16];
      n = endpoint_->PollCompletions(absl::MakeSpan(wcs));
      for (int i = 0; i < n; ++i) stash_.push_back(wcs[i]);
    }
    if (n > 0) continue;
    if (absl::Now() > deadline) return absl::DeadlineExceededError("fake server: wait");
    absl::Status s = endpoint_->WaitForCompletions(absl::Milliseconds(50));
    if (!s.ok() && s.code() != absl::StatusCode::kDeadlineExceeded) return s;
  }
  return absl::CancelledError("fake server stopped");
}

absl::Status FakeSmbDirectServer::SendMessage(uint16_t flags, absl::Span<const uint8_t> data,
                                              uint32_t remaining,
                                              std::optional<uint32_t> invalidate_rkey) {
  // Only called with send_mu_ held by the caller... except from the loop; keep it simple:
  // every sender takes send_mu_ here.
  if (send_credits_ == 0) return absl::ResourceExhaustedError("fake server: no send credits");
  --send_credits_;
  const uint16_t grant = std::min<uint32_t>(options_.grant_per_message, posted_ - granted_);
  granted_ += grant;
  DataTransferHeader h = MakeDataTransferHeader(
      255, grant, flags | (options_.request_responses ? kSmbDirectResponseRequested : 0), remaining,
      static_cast<uint32_t>(data.size()));
  uint8_t* p = memory_.data() + send_offset_;
  SMBD_ASSIGN_OR_RETURN(size_t hl, EncodeDataTransferHeader(h, absl::MakeSpan(p, 24)));
  if (!data.empty()) std::memcpy(p + 24, data.data(), data.size());
  const uint32_t len = static_cast<uint32_t>(data.empty() ? hl : 24 + data.size());
  Sge sge = region_->SgeFor(p, len);
  SMBD_RETURN_IF_ERROR(
      endpoint_->PostSend(kSendWr, absl::MakeConstSpan(&sge, 1), true, invalidate_rkey));
  WorkCompletion wc;
  SMBD_RETURN_IF_ERROR(WaitFor(kSendWr, &wc));
  if (wc.status != WcStatus::kSuccess) return CompletionError(wc);
  return absl::OkStatus();
}

absl::Status FakeSmbDirectServer::SendFrame(const std::vector<uint8_t>& frame,
                                            std::optional<uint32_t> invalidate_rkey) {
  std::lock_guard<std::mutex> l(send_mu_);
  const uint32_t max_data = client_max_receive_ - 24;
  size_t off = 0;
  do {
    const size_t n = std::min<size_t>(max_data, frame.size() - off);
    const bool last = off + n == frame.size();
    SMBD_RETURN_IF_ERROR(SendMessage(0, absl::MakeConstSpan(frame).subspan(off, n),
                                     static_cast<uint32_t>(frame.size() - off - n),
                                     last ? invalidate_rkey : std::nullopt));
    off += n;
  } while (off < frame.size());
  return absl::OkStatus();
}

absl::Status FakeSmbDirectServer::SendFragment(absl::Span<const uint8_t> data,
                                               uint32_t remaining_data_length) {
  std::lock_guard<std::mutex> l(send_mu_);
  if (data.size() + 24 > client_max_receive_) {
    return absl::InvalidArgumentError("fake server: fragment above the client's MaxReceiveSize");
  }
  return SendMessage(0, data, remaining_data_length);
}

absl::Status FakeSmbDirectServer::HandleData(absl::Span<const uint8_t> bytes) {
  SMBD_ASSIGN_OR_RETURN(DataTransferHeader h, DecodeDataTransfer(bytes, 16 << 20));
  messages_received_++;
  {
    std::lock_guard<std::mutex> l(send_mu_);
    send_credits_ += h.credits_granted;
    --posted_;
    --granted_;
  }
  if (h.response_requested()) response_requested_++;
  if (h.data_length == 0) {
    empty_received_++;
  } else {
    partial_.insert(partial_.end(), bytes.begin() + h.data_offset,
                    bytes.begin() + h.data_offset + h.data_length);
    if (h.remaining_data_length == 0) {
      std::vector<uint8_t> frame;
      frame.swap(partial_);
      Context ctx(this);
      for (const auto& reply : handler_(frame, ctx)) SMBD_RETURN_IF_ERROR(SendFrame(reply));
    }
  }
  if (h.response_requested() && !options_.ignore_response_requested) {
    std::lock_guard<std::mutex> l(send_mu_);
    SMBD_RETURN_IF_ERROR(SendMessage(0, {}, 0));
  }
  return absl::OkStatus();
}

absl::Status FakeSmbDirectServer::Loop() {
  for (uint32_t i = 0; i < options_.receive_buffers; ++i) SMBD_RETURN_IF_ERROR(PostReceive(i));
  WorkCompletion wc;
  SMBD_RETURN_IF_ERROR(WaitFor(UINT64_MAX, &wc));
  if (wc.status != WcStatus::kSuccess) return CompletionError(wc);
  {
    std::lock_guard<std::mutex> l(send_mu_);
    --posted_;
  }
  SMBD_ASSIGN_OR_RETURN(SmbDirectNegotiateRequest req,
                        DecodeSmbDirectNegotiateRequest(absl::MakeConstSpan(
                            memory_.data() + wc.wr_id * options_.receive_size, wc.byte_len)));
  SMBD_RETURN_IF_ERROR(PostReceive(static_cast<uint32_t>(wc.wr_id)));
  client_max_receive_ = req.max_receive_size;
  {
    std::lock_guard<std::mutex> l(send_mu_);
    send_credits_ = 0;  // the client grants in its data messages
  }
  if (!options_.answer_negotiate) {
    while (!stop_) absl::SleepFor(absl::Milliseconds(10));
    return absl::OkStatus();
  }
  uint8_t* p = memory_.data() + send_offset_;
  WireWriter w(absl::MakeSpan(p, kNegotiateResponseSize));
  EncodeSmbDirectNegotiateResponse(options_.response, &w);
  SMBD_RETURN_IF_ERROR(w.Finish());
  Sge sge = region_->SgeFor(p, kNegotiateResponseSize);
  SMBD_RETURN_IF_ERROR(endpoint_->PostSend(kSendWr, absl::MakeConstSpan(&sge, 1), true));
  SMBD_RETURN_IF_ERROR(WaitFor(kSendWr, &wc));
  while (!stop_) {
    SMBD_RETURN_IF_ERROR(WaitFor(UINT64_MAX, &wc));
    if (wc.status != WcStatus::kSuccess) return CompletionError(wc);
    const uint32_t slot = static_cast<uint32_t>(wc.wr_id);
    absl::Status s = HandleData(absl::MakeConstSpan(memory_.data() + slot * options_.receive_size,
                                                   wc.byte_len));
    SMBD_RETURN_IF_ERROR(PostReceive(slot));
    SMBD_RETURN_IF_ERROR(s);
  }
  return absl::OkStatus();
}

absl::Status FakeSmbDirectServer::Context::RdmaWrite(uint64_t addr, uint32_t rkey,
                                                     absl::Span<const uint8_t> bytes) {
  FakeSmbDirectServer* s = s_;
  if (bytes.size() > kRdmaArea) return absl::InvalidArgumentError("too big");
  uint8_t* p = s->memory_.data() + s->rdma_offset_;
  std::memcpy(p, bytes.data(), bytes.size());
  Sge sge = s->region_->SgeFor(p, static_cast<uint32_t>(bytes.size()));
  SMBD_RETURN_IF_ERROR(
      s->endpoint_->PostRdmaWrite(kRdmaWr, absl::MakeConstSpan(&sge, 1), addr, rkey, true));
  WorkCompletion wc;
  SMBD_RETURN_IF_ERROR(s->WaitFor(kRdmaWr, &wc));
  return wc.status == WcStatus::kSuccess ? absl::OkStatus() : CompletionError(wc);
}

absl::Status FakeSmbDirectServer::Context::RdmaRead(uint64_t addr, uint32_t rkey,
                                                    absl::Span<uint8_t> out) {
  FakeSmbDirectServer* s = s_;
  if (out.size() > kRdmaArea) return absl::InvalidArgumentError("too big");
  uint8_t* p = s->memory_.data() + s->rdma_offset_;
  Sge sge = s->region_->SgeFor(p, static_cast<uint32_t>(out.size()));
  SMBD_RETURN_IF_ERROR(
      s->endpoint_->PostRdmaRead(kRdmaWr, absl::MakeConstSpan(&sge, 1), addr, rkey, true));
  WorkCompletion wc;
  SMBD_RETURN_IF_ERROR(s->WaitFor(kRdmaWr, &wc));
  if (wc.status != WcStatus::kSuccess) return CompletionError(wc);
  std::memcpy(out.data(), p, out.size());
  return absl::OkStatus();
}

}  // namespace smbd
