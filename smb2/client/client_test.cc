// The client API end to end on the scripted server (smb2/client/testing), over Direct TCP and
// over SMB Direct on the fake verbs: the pipelined reads and writes, streaming, asynchronous
// reads, and what each leaves behind (counters, RDMA registrations). Interop with real servers
// is in tests/samba and tests/vm; hostile answers in tests/hostile.
#include "smb2/client/client.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "smb2/client/testing/harness.h"
#include "smb2/pdu/create.h"
#include "smbdirect/fake_verbs.h"
#include "smbdirect/smbdirect_transport.h"

namespace smbd {
namespace {

using scripted::ConnectRig;
using scripted::Rig;
using scripted::RigOptions;
using scripted::TransportKind;

std::vector<uint8_t> Pattern(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
  return v;
}

class ClientTest : public ::testing::TestWithParam<TransportKind> {
 protected:
  void SetUp() override {
    RigOptions options;
    options.client.request_timeout = absl::Seconds(10);
    absl::Status s = ConnectRig(GetParam(), &net_, options, &rig_);
    ASSERT_TRUE(s.ok()) << s;
    Credentials anonymous;
    anonymous.anonymous = true;
    auto session = rig_.client->Login(anonymous);
    ASSERT_TRUE(session.ok()) << session.status();
    session_ = *std::move(session);
    auto tree = session_->TreeConnect("share");
    ASSERT_TRUE(tree.ok()) << tree.status();
    tree_ = *std::move(tree);
  }
  void TearDown() override {
    tree_.reset();
    session_.reset();
    rig_.client.reset();
    rig_.server.reset();
    EXPECT_EQ(net_.live_memory_regions(), 0) << "leaked registrations";
  }

  bool rdma() const { return GetParam() == TransportKind::kSmbDirect; }
  uint64_t LiveRegistrations() const {
    auto* t = dynamic_cast<SmbDirectTransport*>(rig_.client->connection()->transport());
    return t == nullptr ? 0 : t->stats().live_registrations;
  }
  std::unique_ptr<File> Create(const std::string& name) {
    OpenOptions o;
    o.write = true;
    o.disposition = kFileOverwriteIf;
    auto f = tree_->Open(name, o);
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? *std::move(f) : nullptr;
  }

  FakeRdmaNetwork net_;
  Rig rig_;
  std::unique_ptr<Session> session_;
  std::unique_ptr<Tree> tree_;
};

// More than three requests' worth (1 MiB each) with a ragged end: the pipeline cuts, fills and
// orders the chunks; a read past the end is short by exactly what is missing.
TEST_P(ClientTest, PipelinedWriteThenReadBackAndStreamInOrder) {
  const std::vector<uint8_t> data = Pattern((3 << 20) + 12345);
  std::unique_ptr<File> f = Create("big.bin");
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->Write(0, data).ok());

  std::vector<uint8_t> back(data.size() + 5000, 0x5A);
  auto n = f->Read(0, absl::MakeSpan(back));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, data.size());
  EXPECT_TRUE(std::equal(data.begin(), data.end(), back.begin()));
  EXPECT_EQ(back[data.size()], 0x5A) << "nothing written past the end of the file";

  std::vector<uint8_t> streamed;
  uint64_t calls = 0;
  auto got = f->ReadTo(100, UINT64_MAX, [&](absl::Span<const uint8_t> chunk) {
    streamed.insert(streamed.end(), chunk.begin(), chunk.end());
    ++calls;
    return absl::OkStatus();
  });
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, data.size() - 100);
  EXPECT_TRUE(std::equal(data.begin() + 100, data.end(), streamed.begin(), streamed.end()));
  EXPECT_GE(calls, 4u);

  const ClientStats st = rig_.client->stats();
  EXPECT_EQ(st.bytes_written, data.size());
  EXPECT_EQ(st.bytes_read, 2 * data.size() - 100);
  if (rdma()) {
    // Every 1 MiB chunk went by the RDMA channel, each under its own registration, all gone
    // now; the 12345-byte tail of the WRITE and of the first READ went inline (below
    // rdma_threshold_per_io), while ReadTo's last request asked for a whole chunk.
    EXPECT_EQ(st.rdma_writes, 3u);
    EXPECT_EQ(st.rdma_bytes_written, 3u << 20);
    EXPECT_EQ(st.bytes_read - st.rdma_bytes_read, 12345u);
  } else {
    EXPECT_EQ(st.rdma_reads + st.rdma_writes, 0u);
  }
  EXPECT_EQ(LiveRegistrations(), 0u);
}

// A sink error stops the stream: no more requests, the error comes back, and what was in
// flight is drained (no registration outlives the call).
TEST_P(ClientTest, ASinkErrorEndsTheStream) {
  const std::vector<uint8_t> data = Pattern(4 << 20);
  std::unique_ptr<File> f = Create("stream.bin");
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->Write(0, data).ok());
  int calls = 0;
  auto got = f->ReadTo(0, data.size(), [&](absl::Span<const uint8_t>) {
    return ++calls == 2 ? absl::AbortedError("enough") : absl::OkStatus();
  });
  EXPECT_EQ(got.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(LiveRegistrations(), 0u);
}

struct AsyncResult {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  absl::StatusOr<uint32_t> result = 0u;
};

// ReadAsync's callback gets the byte count once the data is in place and the registration (on
// SMB Direct) is gone.
TEST_P(ClientTest, AsyncReadCompletesThroughItsCallback) {
  const std::vector<uint8_t> data = Pattern(200000);
  std::unique_ptr<File> f = Create("async.bin");
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->Write(0, data).ok());
  std::vector<uint8_t> dst(65536, 0);
  AsyncResult r;
  ASSERT_TRUE(f->ReadAsync(
                   1000, absl::MakeSpan(dst),
                   [](void* arg, absl::StatusOr<uint32_t> result) {
                     auto* a = static_cast<AsyncResult*>(arg);
                     std::lock_guard<std::mutex> l(a->mu);
                     a->result = std::move(result);
                     a->done = true;
                     a->cv.notify_all();
                   },
                   &r)
                  .ok());
  {
    std::unique_lock<std::mutex> l(r.mu);
    ASSERT_TRUE(r.cv.wait_for(l, std::chrono::seconds(10), [&] { return r.done; }));
  }
  ASSERT_TRUE(r.result.ok()) << r.result.status();
  EXPECT_EQ(*r.result, dst.size());
  EXPECT_TRUE(std::equal(dst.begin(), dst.end(), data.begin() + 1000));
  EXPECT_EQ(LiveRegistrations(), 0u);
  EXPECT_EQ(rig_.client->stats().rdma_reads, rdma() ? 1u : 0u);
}

struct AsyncWriteResult {
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  absl::Status status;
};

// WriteAsync's callback reports the server's count checked; what it wrote reads back, and a
// write larger than one request is refused before anything is sent.
TEST_P(ClientTest, AsyncWriteCompletesThroughItsCallback) {
  std::unique_ptr<File> f = Create("async-w.bin");
  ASSERT_NE(f, nullptr);
  const std::vector<uint8_t> data = Pattern(f->MaxAsyncWrite(1 << 20));
  AsyncWriteResult r;
  auto callback = [](void* arg, absl::Status result) {
    auto* a = static_cast<AsyncWriteResult*>(arg);
    std::lock_guard<std::mutex> l(a->mu);
    if (a->status.ok()) a->status = result;
    a->done++;
    a->cv.notify_all();
  };
  ASSERT_TRUE(f->WriteAsync(0, data, callback, &r).ok());
  ASSERT_TRUE(f->WriteAsync(data.size(), absl::MakeConstSpan(data).subspan(0, 100), callback, &r)
                  .ok());
  {
    std::unique_lock<std::mutex> l(r.mu);
    ASSERT_TRUE(r.cv.wait_for(l, std::chrono::seconds(10), [&] { return r.done == 2; }));
  }
  ASSERT_TRUE(r.status.ok()) << r.status;
  std::vector<uint8_t> back(data.size() + 100);
  auto n = f->Read(0, absl::MakeSpan(back));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, back.size());
  EXPECT_TRUE(std::equal(data.begin(), data.end(), back.begin()));
  EXPECT_TRUE(std::equal(data.begin(), data.begin() + 100, back.begin() + data.size()));
  const std::vector<uint8_t> too_big(f->MaxAsyncWrite(UINT64_MAX) + 1);
  EXPECT_EQ(f->WriteAsync(0, too_big, callback, &r).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LiveRegistrations(), 0u);
  EXPECT_EQ(rig_.client->stats().rdma_writes, rdma() ? 1u : 0u);  // 100 bytes go inline
}

INSTANTIATE_TEST_SUITE_P(Transports, ClientTest,
                         ::testing::Values(TransportKind::kTcp, TransportKind::kSmbDirect),
                         [](const ::testing::TestParamInfo<TransportKind>& i) {
                           return std::string(scripted::TransportName(i.param));
                         });

}  // namespace
}  // namespace smbd
