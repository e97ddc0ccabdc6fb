// A man in the middle for interop tests: a loopback TCP proxy in front of a real server that
// forwards both directions and, when armed, hands the next frame from the server to a function
// that may change it. Used by tests/samba/tampering_proxy_test and tests/kerberos.
#ifndef SMBD_TESTS_SAMBA_TAMPERING_PROXY_H_
#define SMBD_TESTS_SAMBA_TAMPERING_PROXY_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/samba/socket_io.h"

namespace smbd {
namespace testing_samba {

// Forwards one client connection to Samba. Server-to-client traffic is cut into Direct TCP
// frames ([MS-SMB2] 2.1: a zero byte and a 24-bit length) so that a whole frame can be changed.
class TamperingProxy {
 public:
  // Changes `frame`; `previous` is the last frame of at least kMinTampered bytes before it.
  using Tamper =
      std::function<void(std::vector<uint8_t>* frame, const std::vector<uint8_t>& previous)>;

  TamperingProxy(const std::string& host, uint16_t port) : host_(host), port_(port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(listen(listen_fd_, 1), 0);
    socklen_t len = sizeof(a);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    listen_port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~TamperingProxy() {
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    if (client_fd_ >= 0) shutdown(client_fd_, SHUT_RDWR);
    if (server_fd_ >= 0) shutdown(server_fd_, SHUT_RDWR);
    acceptor_.join();
    if (up_.joinable()) up_.join();
    if (down_.joinable()) down_.join();
    if (client_fd_ >= 0) close(client_fd_);
    if (server_fd_ >= 0) close(server_fd_);
  }

  uint16_t port() const { return listen_port_; }
  // The next frame from the server of at least kMinTampered bytes goes through `tamper` first.
  // Smaller ones pass untouched: Samba may send an interim STATUS_PENDING answer before a slow
  // READ's data ([MS-SMB2] 3.3.4.2), and the test means the READ response itself.
  static constexpr size_t kMinTampered = 1024;
  void Arm(Tamper tamper) {
    std::lock_guard<std::mutex> l(mu_);
    tamper_ = std::move(tamper);
  }
  // The next frame from the server that answers `command` (any size) goes through `tamper`.
  void ArmForCommand(uint16_t command, Tamper tamper) {
    std::lock_guard<std::mutex> l(mu_);
    command_tamper_ = std::move(tamper);
    command_ = command;
  }
  int tampered() const { return tampered_.load(); }
  // Sends `message` (one SMB2 message, without the 4-byte Direct TCP header) to the client as
  // if the server had, between two of the server's frames.
  bool InjectToClient(const std::vector<uint8_t>& message) {
    std::lock_guard<std::mutex> l(write_mu_);
    if (client_fd_ < 0) return false;
    const size_t n = message.size();
    const uint8_t word[4] = {0, static_cast<uint8_t>(n >> 16), static_cast<uint8_t>(n >> 8),
                             static_cast<uint8_t>(n)};
    return WriteFull(client_fd_, word, 4) && WriteFull(client_fd_, message.data(), n);
  }

 private:
  void Accept() {
    client_fd_ = accept(listen_fd_, nullptr, nullptr);
    if (client_fd_ < 0) return;
    server_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    inet_pton(AF_INET, host_.c_str(), &a.sin_addr);
    if (connect(server_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      shutdown(client_fd_, SHUT_RDWR);
      return;
    }
    up_ = std::thread([this] { Copy(client_fd_, server_fd_); });
    down_ = std::thread([this] { Frames(server_fd_, client_fd_); });
  }
  void Copy(int from, int to) {
    std::vector<uint8_t> buf(1 << 16);
    while (true) {
      const ssize_t n = read(from, buf.data(), buf.size());
      if (n <= 0 || !WriteFull(to, buf.data(), static_cast<size_t>(n))) break;
    }
    shutdown(to, SHUT_RDWR);
    shutdown(from, SHUT_RDWR);
  }
  void Frames(int from, int to) {
    std::vector<uint8_t> frame, previous;
    while (true) {
      uint8_t word[4];
      if (!ReadFull(from, word, 4)) break;
      const size_t len = (size_t{word[1]} << 16) | (size_t{word[2]} << 8) | word[3];
      frame.resize(len);
      if (!ReadFull(from, frame.data(), len)) break;
      Tamper t;
      {
        std::lock_guard<std::mutex> l(mu_);
        if (command_tamper_ && len >= 64 && frame[0] == 0xFE &&
            (frame[12] | (frame[13] << 8)) == command_) {
          t = std::move(command_tamper_);
          command_tamper_ = nullptr;
        } else if (len >= kMinTampered) {
          t = std::move(tamper_);
          tamper_ = nullptr;
        }
      }
      std::vector<uint8_t> original = frame;
      if (t) {
        t(&frame, previous);
        tampered_++;
        const size_t n = frame.size();
        word[1] = static_cast<uint8_t>(n >> 16), word[2] = static_cast<uint8_t>(n >> 8);
        word[3] = static_cast<uint8_t>(n);
      }
      if (original.size() >= kMinTampered) previous = std::move(original);
      bool written;
      {
        std::lock_guard<std::mutex> l(write_mu_);
        written = WriteFull(to, word, 4) && WriteFull(to, frame.data(), frame.size());
      }
      if (!written) break;
    }
    shutdown(to, SHUT_RDWR);
    shutdown(from, SHUT_RDWR);
  }

  Tamper command_tamper_;
  uint16_t command_ = 0;
  const std::string host_;
  const uint16_t port_;
  int listen_fd_ = -1;
  uint16_t listen_port_ = 0;
  int client_fd_ = -1, server_fd_ = -1;
  std::thread acceptor_, up_, down_;
  std::mutex mu_;
  std::mutex write_mu_;  // the Frames thread's writes and InjectToClient's
  Tamper tamper_;
  std::atomic<int> tampered_{0};
};

}  // namespace testing_samba
}  // namespace smbd

#endif  // SMBD_TESTS_SAMBA_TAMPERING_PROXY_H_
