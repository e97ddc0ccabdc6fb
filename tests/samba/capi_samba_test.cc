// The C API (smbd/smbd.h) against Samba: the calls smbd-cat and smbd-bench need, and misuse
// that needs a live connection (double close, use after close, a disconnect with files open,
// read callbacks that call back into the library). capi/capi_test covers misuse without one.
#include <cstdlib>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "smbd/smbd.h"
#include "tests/samba/samba_env.h"

namespace {

using smbd::testing_samba::Pattern;
using smbd::testing_samba::SambaEnv;

class CApiSambaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!env_.ok()) GTEST_SKIP() << "no Samba (run through tests/samba/run-suite)";
    smbd_options o;
    smbd_options_init(&o);
    o.transport = SMBD_TRANSPORT_TCP;
    o.password = env_.password.c_str();
    o.timeout_ms = 20000;
    ASSERT_EQ(smbd_connect(Url().c_str(), &o, &client_, &err_), SMBD_OK) << err_.message;
    ASSERT_NE(client_, nullptr);
  }
  void TearDown() override {
    if (client_ != nullptr) EXPECT_EQ(smbd_disconnect(client_, &err_), SMBD_OK) << err_.message;
  }
  std::string Url(const std::string& share = "share") const {
    return "smb://" + env_.user + "@" + env_.host + ":" + std::to_string(env_.port) + "/" + share;
  }
  smbd_file* OpenNew(const char* path) {
    smbd_file* f = nullptr;
    EXPECT_EQ(smbd_open(client_, path, SMBD_O_READ | SMBD_O_WRITE | SMBD_O_CREATE | SMBD_O_TRUNC,
                        &f, &err_),
              SMBD_OK)
        << err_.message;
    return f;
  }

  SambaEnv env_;
  smbd_client* client_ = nullptr;
  smbd_error err_{};
};

TEST_F(CApiSambaTest, ByteRangeLocksAgainstASecondClient) {
  smbd_file* f = OpenNew("capi-lock.bin");
  ASSERT_NE(f, nullptr);
  const std::vector<uint8_t> data = Pattern(8192, 3);
  ASSERT_EQ(smbd_write(f, 0, data.data(), data.size(), &err_), SMBD_OK) << err_.message;
  smbd_options o;
  smbd_options_init(&o);
  o.transport = SMBD_TRANSPORT_TCP;
  o.password = env_.password.c_str();
  smbd_client* other = nullptr;
  ASSERT_EQ(smbd_connect(Url().c_str(), &o, &other, &err_), SMBD_OK) << err_.message;
  smbd_file* g = nullptr;
  ASSERT_EQ(smbd_open(other, "capi-lock.bin", SMBD_O_READ | SMBD_O_WRITE, &g, &err_), SMBD_OK)
      << err_.message;

  ASSERT_EQ(smbd_lock(f, 0, 4096, 0, 0, &err_), SMBD_OK) << err_.message;
  EXPECT_EQ(smbd_lock(g, 10, 10, SMBD_LOCK_SHARED, 0, &err_), SMBD_ELOCKED);
  EXPECT_EQ(err_.ntstatus, 0xC0000055u) << err_.message;  // STATUS_LOCK_NOT_GRANTED
  EXPECT_EQ(smbd_write(g, 0, data.data(), 10, &err_), SMBD_ELOCKED);
  EXPECT_EQ(err_.ntstatus, 0xC0000054u) << err_.message;  // STATUS_FILE_LOCK_CONFLICT
  EXPECT_EQ(smbd_lock(g, 10, 10, SMBD_LOCK_WAIT, 200, &err_), SMBD_ETIMEDOUT);
  EXPECT_EQ(smbd_lock(g, 10, 10, 0x100, 0, &err_), SMBD_EINVAL);
  EXPECT_STREQ(smbd_status_name(SMBD_ELOCKED), "SMBD_ELOCKED");
  ASSERT_EQ(smbd_unlock(f, 0, 4096, &err_), SMBD_OK) << err_.message;
  EXPECT_EQ(smbd_lock(g, 10, 10, SMBD_LOCK_WAIT, 5000, &err_), SMBD_OK) << err_.message;
  EXPECT_EQ(smbd_write(g, 10, data.data(), 10, &err_), SMBD_OK) << err_.message;
  EXPECT_EQ(smbd_unlock(g, 10, 10, &err_), SMBD_OK) << err_.message;
  EXPECT_EQ(smbd_close(g, &err_), SMBD_OK);
  EXPECT_EQ(smbd_disconnect(other, &err_), SMBD_OK);
  EXPECT_EQ(smbd_close(f, &err_), SMBD_OK);
}

TEST_F(CApiSambaTest, WriteReadStatListAndPathOperations) {
  EXPECT_STREQ(smbd_client_transport(client_), "tcp");
  const std::vector<uint8_t> data = Pattern((5 << 20) + 333, 17);
  smbd_file* f = OpenNew("capi.bin");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(smbd_write(f, 0, data.data(), data.size(), &err_), SMBD_OK) << err_.message;
  std::vector<uint8_t> back(data.size() + 100);
  size_t done = 0;
  ASSERT_EQ(smbd_read(f, 0, back.data(), back.size(), &done, &err_), SMBD_OK) << err_.message;
  EXPECT_EQ(done, data.size());
  EXPECT_EQ(std::memcmp(back.data(), data.data(), data.size()), 0);
  smbd_stat_t st;
  ASSERT_EQ(smbd_fstat(f, &st, &err_), SMBD_OK) << err_.message;
  EXPECT_EQ(st.size, data.size());
  EXPECT_EQ(smbd_truncate(f, 1000, &err_), SMBD_OK) << err_.message;
  EXPECT_EQ(smbd_flush(f, &err_), SMBD_OK) << err_.message;
  EXPECT_EQ(smbd_close(f, &err_), SMBD_OK) << err_.message;
  // What Samba wrote to disk is what we sent.
  struct stat disk;
  ASSERT_EQ(::stat((env_.share_dir + "/capi.bin").c_str(), &disk), 0);
  EXPECT_EQ(disk.st_size, 1000);

  ASSERT_EQ(smbd_mkdir(client_, "capi-dir", &err_), SMBD_OK) << err_.message;
  ASSERT_EQ(smbd_rename(client_, "capi.bin", "capi-dir/moved.bin", 0, &err_), SMBD_OK)
      << err_.message;
  ASSERT_EQ(smbd_stat(client_, "capi-dir/moved.bin", &st, &err_), SMBD_OK) << err_.message;
  EXPECT_EQ(st.size, 1000u);
  EXPECT_EQ(st.is_directory, 0);
  std::set<std::string> names;
  ASSERT_EQ(smbd_list(
                client_, "capi-dir",
                [](void* arg, const char* name, const smbd_stat_t*) {
                  static_cast<std::set<std::string>*>(arg)->insert(name);
                  return 0;
                },
                &names, &err_),
            SMBD_OK)
      << err_.message;
  EXPECT_EQ(names, std::set<std::string>{"moved.bin"});
  // A callback that stops the listing.
  EXPECT_EQ(smbd_list(
                client_, "", [](void*, const char*, const smbd_stat_t*) { return 1; }, nullptr,
                &err_),
            SMBD_ECANCELED);
  EXPECT_EQ(smbd_rmdir(client_, "capi-dir", &err_), SMBD_EIO);  // not empty
  EXPECT_NE(err_.ntstatus, 0u) << "the server's NTSTATUS travels with the error";
  ASSERT_EQ(smbd_unlink(client_, "capi-dir/moved.bin", &err_), SMBD_OK) << err_.message;
  ASSERT_EQ(smbd_rmdir(client_, "capi-dir", &err_), SMBD_OK) << err_.message;
}

// Registered buffers over TCP register nothing and change nothing but the handle's life; they
// are refused overlapping, unregistered once, and dropped with the client.
TEST_F(CApiSambaTest, RegisteredBuffersWorkOverTcp) {
  EXPECT_STREQ(smbd_client_rdma_note(client_), "RDMA channel off: connected over tcp");
  std::vector<uint8_t> mem(2 << 20);
  const std::vector<uint8_t> data = Pattern(1 << 20, 5);
  std::copy(data.begin(), data.end(), mem.begin());
  smbd_buffer* b = nullptr;
  ASSERT_EQ(smbd_register_buffer(client_, mem.data(), mem.size(), &b, &err_), SMBD_OK)
      << err_.message;
  ASSERT_NE(b, nullptr);
  smbd_file* f = OpenNew("registered.bin");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(smbd_write(f, 0, mem.data(), data.size(), &err_), SMBD_OK) << err_.message;
  size_t done = 0;
  ASSERT_EQ(smbd_read(f, 0, mem.data() + data.size(), data.size(), &done, &err_), SMBD_OK)
      << err_.message;
  EXPECT_EQ(done, data.size());
  EXPECT_EQ(std::memcmp(mem.data() + data.size(), data.data(), data.size()), 0);
  EXPECT_EQ(smbd_close(f, &err_), SMBD_OK) << err_.message;
  EXPECT_EQ(smbd_unregister_buffer(b, &err_), SMBD_OK) << err_.message;
  EXPECT_EQ(smbd_unregister_buffer(b, &err_), SMBD_EBADHANDLE);
  smbd_buffer* kept = nullptr;
  ASSERT_EQ(smbd_register_buffer(client_, mem.data(), mem.size(), &kept, &err_), SMBD_OK);
  EXPECT_EQ(smbd_register_buffer(client_, mem.data(), 0, &b, &err_), SMBD_EINVAL);
  EXPECT_EQ(smbd_unlink(client_, "registered.bin", &err_), SMBD_OK) << err_.message;
  ASSERT_EQ(smbd_disconnect(client_, &err_), SMBD_OK);
  client_ = nullptr;
  EXPECT_EQ(smbd_unregister_buffer(kept, &err_), SMBD_EBADHANDLE) << "dropped with its client";
}

TEST_F(CApiSambaTest, ErrorsCarryTheirStatusAndNtStatus) {
  smbd_file* f = nullptr;
  EXPECT_EQ(smbd_open(client_, "no/such/file", SMBD_O_READ, &f, &err_), SMBD_ENOENT);
  EXPECT_EQ(f, nullptr);
  EXPECT_EQ(err_.status, SMBD_ENOENT);
  EXPECT_EQ(err_.ntstatus, 0xC000003Au);  // STATUS_OBJECT_PATH_NOT_FOUND
  smbd_file* g = OpenNew("exists.bin");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(smbd_open(client_, "exists.bin", SMBD_O_WRITE | SMBD_O_CREATE | SMBD_O_EXCL, &f,
                      &err_),
            SMBD_EEXIST);
  EXPECT_EQ(smbd_close(g, &err_), SMBD_OK);
  EXPECT_EQ(smbd_open(client_, "x", SMBD_O_READ | SMBD_O_EXCL, &f, &err_), SMBD_EINVAL);

  smbd_options o;
  smbd_options_init(&o);
  o.transport = SMBD_TRANSPORT_TCP;
  o.password = "not the password";
  smbd_client* c = nullptr;
  EXPECT_EQ(smbd_connect(Url().c_str(), &o, &c, &err_), SMBD_EAUTH) << err_.message;
  EXPECT_EQ(err_.ntstatus, 0xC000006Du);  // STATUS_LOGON_FAILURE
  EXPECT_EQ(std::string(err_.message).find("not the password"), std::string::npos);
  EXPECT_EQ(c, nullptr);
}

TEST_F(CApiSambaTest, ClosedHandlesAreRefusedNotFollowed) {
  smbd_file* f = OpenNew("closed.bin");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(smbd_close(f, &err_), SMBD_OK);
  EXPECT_EQ(smbd_close(f, &err_), SMBD_EBADHANDLE);  // double close
  char b[8];
  size_t done = 0;
  EXPECT_EQ(smbd_read(f, 0, b, sizeof(b), &done, &err_), SMBD_EBADHANDLE);  // use after close
  // A new handle (whose object may reuse the closed one's memory) never answers to the old one.
  smbd_file* again = OpenNew("closed.bin");
  ASSERT_NE(again, nullptr);
  EXPECT_NE(again, f);
  EXPECT_EQ(smbd_write(again, 0, b, sizeof(b), &err_), SMBD_OK) << err_.message;
  EXPECT_EQ(smbd_write(f, 0, b, sizeof(b), &err_), SMBD_EBADHANDLE);
  EXPECT_EQ(smbd_close(again, &err_), SMBD_OK);

  // Disconnecting closes the client's files: their handles are refused afterwards.
  smbd_file* g = OpenNew("open-at-disconnect.bin");
  ASSERT_NE(g, nullptr);
  ASSERT_EQ(smbd_disconnect(client_, &err_), SMBD_OK);
  EXPECT_EQ(smbd_write(g, 0, b, sizeof(b), &err_), SMBD_EBADHANDLE);
  EXPECT_EQ(smbd_close(g, &err_), SMBD_EBADHANDLE);
  EXPECT_EQ(smbd_disconnect(client_, &err_), SMBD_EBADHANDLE);
  EXPECT_EQ(smbd_stat(client_, "x", nullptr, &err_), SMBD_EINVAL);
  client_ = nullptr;
}

struct AsyncProbe {
  smbd_read_request request{};
  smbd_file* file = nullptr;
  std::vector<uint8_t> second_buffer = std::vector<uint8_t>(16384);
  smbd_read_request second{};
  std::mutex mu;
  std::condition_variable cv;
  int callbacks = 0;
  smbd_status first_status = SMBD_EIO, second_status = SMBD_EIO;
  size_t first_done = 0, second_done = 0;
  smbd_status blocking_from_callback = SMBD_OK;
  smbd_status async_from_callback = SMBD_EIO;
};

// A read callback that calls back into the library: a blocking call is refused with EINVAL
// (it would wait for the very thread that delivers answers), another read_async works.
TEST_F(CApiSambaTest, ReadCallbacksMayStartReadsButNotBlock) {
  const std::vector<uint8_t> data = Pattern(100000, 5);
  {
    std::ofstream out(env_.share_dir + "/async.bin", std::ios::binary);
    out.write(reinterpret_cast<const char*>(data.data()), data.size());
  }
  AsyncProbe p;
  ASSERT_EQ(smbd_open(client_, "async.bin", SMBD_O_READ, &p.file, &err_), SMBD_OK);
  ASSERT_GE(smbd_max_read(p.file), 65536u);
  std::vector<uint8_t> buf(65536);
  p.request.arg = &p;
  p.request.callback = [](smbd_read_request* r, smbd_status s, size_t done) {
    auto* p = static_cast<AsyncProbe*>(r->arg);
    char b[8];
    size_t n;
    p->blocking_from_callback = smbd_read(p->file, 0, b, sizeof(b), &n, nullptr);
    p->second.arg = p;
    p->second.callback = [](smbd_read_request* r2, smbd_status s2, size_t done2) {
      auto* q = static_cast<AsyncProbe*>(r2->arg);
      std::lock_guard<std::mutex> l(q->mu);
      q->second_status = s2;
      q->second_done = done2;
      q->callbacks++;
      q->cv.notify_all();
    };
    p->async_from_callback = smbd_read_async(p->file, 90000, p->second_buffer.data(),
                                             p->second_buffer.size(), &p->second, nullptr);
    std::lock_guard<std::mutex> l(p->mu);
    p->first_status = s;
    p->first_done = done;
    p->callbacks++;
    p->cv.notify_all();
  };
  ASSERT_EQ(smbd_read_async(p.file, 1000, buf.data(), buf.size(), &p.request, &err_), SMBD_OK)
      << err_.message;
  {
    std::unique_lock<std::mutex> l(p.mu);
    ASSERT_TRUE(p.cv.wait_for(l, std::chrono::seconds(20), [&] { return p.callbacks == 2; }));
  }
  EXPECT_EQ(p.first_status, SMBD_OK);
  EXPECT_EQ(p.first_done, buf.size());
  EXPECT_EQ(std::memcmp(buf.data(), data.data() + 1000, buf.size()), 0);
  EXPECT_EQ(p.blocking_from_callback, SMBD_EINVAL);
  EXPECT_EQ(p.async_from_callback, SMBD_OK);
  EXPECT_EQ(p.second_status, SMBD_OK);
  EXPECT_EQ(p.second_done, 10000u);  // short: the end of the file
  EXPECT_EQ(std::memcmp(p.second_buffer.data(), data.data() + 90000, 10000), 0);
  EXPECT_EQ(smbd_close(p.file, &err_), SMBD_OK);
}

struct WriteProbe {
  smbd_write_request request{};
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  smbd_status status = SMBD_OK;
};

TEST_F(CApiSambaTest, AsyncWritesLandAndReadBack) {
  smbd_file* f = OpenNew("async-w.bin");
  ASSERT_NE(f, nullptr);
  const size_t n = std::min<size_t>(smbd_max_write(f), 1 << 20);
  ASSERT_GE(n, 65536u);
  const std::vector<uint8_t> data = Pattern(2 * n, 3);
  WriteProbe a, b;
  for (WriteProbe* p : {&a, &b}) {
    p->request.arg = p;
    p->request.callback = [](smbd_write_request* r, smbd_status s) {
      auto* p = static_cast<WriteProbe*>(r->arg);
      std::lock_guard<std::mutex> l(p->mu);
      p->status = s;
      p->done++;
      p->cv.notify_all();
    };
  }
  ASSERT_EQ(smbd_write_async(f, 0, data.data(), n, &a.request, &err_), SMBD_OK) << err_.message;
  ASSERT_EQ(smbd_write_async(f, n, data.data() + n, n, &b.request, &err_), SMBD_OK);
  for (WriteProbe* p : {&a, &b}) {
    std::unique_lock<std::mutex> l(p->mu);
    ASSERT_TRUE(p->cv.wait_for(l, std::chrono::seconds(20), [&] { return p->done == 1; }));
    EXPECT_EQ(p->status, SMBD_OK);
  }
  std::vector<uint8_t> back(data.size());
  size_t done = 0;
  ASSERT_EQ(smbd_read(f, 0, back.data(), back.size(), &done, &err_), SMBD_OK);
  EXPECT_EQ(done, data.size());
  EXPECT_EQ(back, data);
  std::vector<uint8_t> too_big(smbd_max_write(f) + 1);
  EXPECT_EQ(smbd_write_async(f, 0, too_big.data(), too_big.size(), &a.request, &err_),
            SMBD_EINVAL);
  EXPECT_EQ(smbd_close(f, &err_), SMBD_OK);
}

TEST_F(CApiSambaTest, ConnectByHostPortAndShare) {
  smbd_options o;
  smbd_options_init(&o);
  o.transport = SMBD_TRANSPORT_TCP;
  o.user = env_.user.c_str();
  o.password = env_.password.c_str();
  smbd_client* c = nullptr;
  ASSERT_EQ(smbd_connect_host(env_.host.c_str(), env_.port, "share", &o, &c, &err_), SMBD_OK)
      << err_.message;
  smbd_stat_t st;
  EXPECT_EQ(smbd_stat(c, "", &st, &err_), SMBD_OK) << err_.message;
  EXPECT_EQ(st.is_directory, 1);
  EXPECT_EQ(smbd_disconnect(c, &err_), SMBD_OK);
  EXPECT_EQ(smbd_connect_host(env_.host.c_str(), env_.port, "no-such-share", &o, &c, &err_),
            SMBD_ENOENT);
  EXPECT_EQ(smbd_connect_host("a/b", 445, "share", &o, &c, &err_), SMBD_EINVAL);
}

// smbd_options.max_channels: Samba lists 127.0.0.1 and ::1, so a second channel is bound and
// carries part of a read.
TEST_F(CApiSambaTest, TwoChannelsShareARead) {
  if (std::getenv("SAMBA_HOST6") == nullptr || *std::getenv("SAMBA_HOST6") == 0) {
    GTEST_SKIP() << "no IPv6 on loopback here: Samba lists one address, so no second channel";
  }
  smbd_options o;
  smbd_options_init(&o);
  o.transport = SMBD_TRANSPORT_TCP;
  o.password = env_.password.c_str();
  o.max_channels = 2;
  smbd_client* c = nullptr;
  ASSERT_EQ(smbd_connect(Url().c_str(), &o, &c, &err_), SMBD_OK) << err_.message;
  std::vector<uint8_t> data(16 << 20), back(data.size());
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7 + (i >> 12));
  smbd_file* f = nullptr;
  ASSERT_EQ(smbd_open(c, "capi-mc.bin", SMBD_O_READ | SMBD_O_WRITE | SMBD_O_CREATE | SMBD_O_TRUNC,
                      &f, &err_),
            SMBD_OK)
      << err_.message;
  size_t n = 0;
  ASSERT_EQ(smbd_write(f, 0, data.data(), data.size(), &err_), SMBD_OK) << err_.message;
  ASSERT_EQ(smbd_read(f, 0, back.data(), back.size(), &n, &err_), SMBD_OK) << err_.message;
  EXPECT_EQ(n, data.size());
  EXPECT_TRUE(back == data);
  uint64_t first = 0, second = 0;
  EXPECT_EQ(smbd_client_channels(c, 0, &first), 2);
  EXPECT_EQ(smbd_client_channels(c, 1, &second), 2);
  EXPECT_GT(first, 0u);
  EXPECT_GT(second, 0u);
  EXPECT_EQ(first + second, data.size());
  EXPECT_EQ(smbd_close(f, &err_), SMBD_OK);
  EXPECT_EQ(smbd_unlink(c, "capi-mc.bin", &err_), SMBD_OK);
  EXPECT_EQ(smbd_disconnect(c, &err_), SMBD_OK);
  EXPECT_EQ(smbd_client_channels(c, 0, nullptr), -1);
}

// Several threads on one file handle at once, one of them closing it part way: every call
// ends with OK or EBADHANDLE, none crashes.
TEST_F(CApiSambaTest, ConcurrentUseAndCloseOfOneHandle) {
  const std::vector<uint8_t> data = Pattern(1 << 20, 9);
  smbd_file* f = OpenNew("shared.bin");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(smbd_write(f, 0, data.data(), data.size(), &err_), SMBD_OK);
  std::atomic<int> ok{0}, bad_handle{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      std::vector<uint8_t> b(64 << 10);
      for (int i = 0; i < 50; ++i) {
        size_t done = 0;
        smbd_error e;
        const smbd_status s = smbd_read(f, (i * 65536) % data.size(), b.data(), b.size(), &done, &e);
        if (s == SMBD_OK) {
          ok++;
        } else if (s == SMBD_EBADHANDLE) {
          bad_handle++;
        } else {
          other++;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(smbd_close(f, &err_), SMBD_OK) << err_.message;
  for (auto& t : threads) t.join();
  EXPECT_GT(ok.load(), 0);
  EXPECT_EQ(ok + bad_handle + other, 200);
  // A read in flight when the handle closed may end with the server's error for a closed
  // handle; nothing else.
  EXPECT_LE(other.load(), 4);
}

}  // namespace
