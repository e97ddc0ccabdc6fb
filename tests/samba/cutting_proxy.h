// A loopback TCP forwarder in front of a real server that accepts any number of client
// connections and cuts them on demand: what a flapped link or a rebooted switch does to a client.
// Used by tests/samba/reconnect_test. Cut() ends every connection open now (both sockets shut
// down, so the server sees the client go and the client sees the server go); Refuse(true) makes
// new connections end at once until Refuse(false); a server frame of the next connection can be
// changed (a server that answers NEGOTIATE differently after a reconnect, a binding answer with
// a bad signature). The upstream is 127.0.0.1 or, given, another address (an IPv6 one: the
// multichannel tests' second interface, ::1).
#ifndef SMBD_TESTS_SAMBA_CUTTING_PROXY_H_
#define SMBD_TESTS_SAMBA_CUTTING_PROXY_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/samba/socket_io.h"

namespace smbd {
namespace testing_samba {

class CuttingProxy {
 public:
  // Changes a whole Direct TCP frame from the server (4-byte length header included).
  using Tamper = std::function<void(std::vector<uint8_t>* frame)>;

  explicit CuttingProxy(uint16_t upstream_port, std::string upstream_host = "127.0.0.1")
      : upstream_port_(upstream_port), upstream_host_(std::move(upstream_host)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(listen(listen_fd_, 16), 0);
    socklen_t len = sizeof(a);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~CuttingProxy() {
    stop_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    Cut();
    acceptor_.join();
    std::vector<std::unique_ptr<Pair>> pairs;
    {
      std::lock_guard<std::mutex> l(mu_);
      pairs.swap(pairs_);
    }
    for (auto& p : pairs) {
      p->up.join();
      p->down.join();
      close(p->client_fd);
      close(p->server_fd);
    }
    close(listen_fd_);
  }
  CuttingProxy(const CuttingProxy&) = delete;
  CuttingProxy& operator=(const CuttingProxy&) = delete;

  uint16_t port() const { return port_; }
  // Bytes forwarded client -> server and server -> client, over every connection.
  uint64_t bytes_up() const { return bytes_up_.load(); }
  uint64_t bytes_down() const { return bytes_down_.load(); }
  int connections() const { return connections_.load(); }
  int cuts() const { return cuts_.load(); }

  // Ends every connection open now.
  void Cut() {
    std::lock_guard<std::mutex> l(mu_);
    bool any = false;
    for (auto& p : pairs_) {
      if (p->cut.exchange(true)) continue;
      shutdown(p->client_fd, SHUT_RDWR);
      shutdown(p->server_fd, SHUT_RDWR);
      any = true;
    }
    if (any) cuts_++;
  }
  void Refuse(bool refuse) { refuse_ = refuse; }
  // Every connection open now stops forwarding, in both directions, without closing: a pulled
  // cable or a hung server (no FIN, no RST). They stay silent until cut.
  void Freeze() {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& p : pairs_) p->frozen = true;
  }
  // The next connection's first frame from the server goes through `tamper`.
  void TamperNextFirstFrame(Tamper tamper) { TamperNextConnectionFrame(0, std::move(tamper)); }
  // The next connection's frame number `index` (0: the first) from the server goes through
  // `tamper`; the ones before it pass unchanged.
  void TamperNextConnectionFrame(int index, Tamper tamper) {
    std::lock_guard<std::mutex> l(mu_);
    next_tamper_ = std::move(tamper);
    next_tamper_index_ = index;
  }

 private:
  struct Pair {
    int client_fd = -1;
    int server_fd = -1;
    std::atomic<bool> cut{false};
    std::atomic<bool> frozen{false};
    Tamper tamper;
    int tamper_index = 0;
    std::thread up, down;
  };

  void Accept() {
    while (!stop_) {
      const int c = accept(listen_fd_, nullptr, nullptr);
      if (c < 0) return;
      if (refuse_ || stop_) {
        close(c);
        continue;
      }
      const bool v6 = upstream_host_.find(':') != std::string::npos;
      const int s = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      sockaddr_in6 a6{};
      a.sin_family = AF_INET;
      a.sin_port = htons(upstream_port_);
      a6.sin6_family = AF_INET6;
      a6.sin6_port = htons(upstream_port_);
      inet_pton(AF_INET, upstream_host_.c_str(), &a.sin_addr);
      inet_pton(AF_INET6, upstream_host_.c_str(), &a6.sin6_addr);
      const int rc = v6 ? connect(s, reinterpret_cast<sockaddr*>(&a6), sizeof(a6))
                        : connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a));
      if (rc != 0) {
        close(c);
        close(s);
        continue;
      }
      auto p = std::make_unique<Pair>();
      p->client_fd = c;
      p->server_fd = s;
      Pair* raw = p.get();
      std::lock_guard<std::mutex> l(mu_);
      p->tamper = std::move(next_tamper_);
      p->tamper_index = next_tamper_index_;
      next_tamper_ = nullptr;
      connections_++;
      raw->up = std::thread([this, raw] { Pump(raw->client_fd, raw->server_fd, &bytes_up_, raw); });
      raw->down = std::thread([this, raw] { PumpDown(raw); });
      pairs_.push_back(std::move(p));
    }
  }

  void Pump(int from, int to, std::atomic<uint64_t>* counter, Pair* p) {
    std::vector<uint8_t> buf(256 << 10);
    while (true) {
      const ssize_t r = read(from, buf.data(), buf.size());
      while (r > 0 && p->frozen && !p->cut && !stop_) usleep(5000);
      if (p->frozen) break;  // the bytes are lost, as on a dead link
      if (r <= 0 || !WriteFull(to, buf.data(), static_cast<size_t>(r))) break;
      *counter += static_cast<uint64_t>(r);
    }
    shutdown(p->client_fd, SHUT_RDWR);
    shutdown(p->server_fd, SHUT_RDWR);
  }

  void PumpDown(Pair* p) {
    for (int i = 0; p->tamper && i <= p->tamper_index; ++i) {
      // [MS-SMB2] 2.1: a zero byte and a 24-bit length, then the frame.
      std::vector<uint8_t> frame(4);
      bool ok = ReadFull(p->server_fd, frame.data(), 4);
      if (ok) {
        const size_t n = (size_t{frame[1]} << 16) | (size_t{frame[2]} << 8) | frame[3];
        frame.resize(4 + n);
        ok = ReadFull(p->server_fd, frame.data() + 4, n);
      }
      if (ok) {
        if (i == p->tamper_index) p->tamper(&frame);
        ok = WriteFull(p->client_fd, frame.data(), frame.size());
      }
      if (!ok) {
        shutdown(p->client_fd, SHUT_RDWR);
        shutdown(p->server_fd, SHUT_RDWR);
        return;
      }
    }
    Pump(p->server_fd, p->client_fd, &bytes_down_, p);
  }

  const uint16_t upstream_port_;
  const std::string upstream_host_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> refuse_{false};
  std::atomic<uint64_t> bytes_up_{0};
  std::atomic<uint64_t> bytes_down_{0};
  std::atomic<int> connections_{0};
  std::atomic<int> cuts_{0};
  std::mutex mu_;
  std::vector<std::unique_ptr<Pair>> pairs_;
  Tamper next_tamper_;
  int next_tamper_index_ = 0;
  std::thread acceptor_;
};

}  // namespace testing_samba
}  // namespace smbd

#endif  // SMBD_TESTS_SAMBA_CUTTING_PROXY_H_
