// Whole-buffer reads and writes on a socket, for the test proxies (tampering_proxy.h,
// cutting_proxy.h).
#ifndef SMBD_TESTS_SAMBA_SOCKET_IO_H_
#define SMBD_TESTS_SAMBA_SOCKET_IO_H_

#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

namespace smbd {
namespace testing_samba {

inline bool ReadFull(int fd, uint8_t* p, size_t n) {
  while (n > 0) {
    const ssize_t r = read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// MSG_NOSIGNAL: a peer that has gone (the point of these tests) ends the write with an error,
// not the test process with SIGPIPE.
inline bool WriteFull(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    const ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

}  // namespace testing_samba
}  // namespace smbd

#endif  // SMBD_TESTS_SAMBA_SOCKET_IO_H_
