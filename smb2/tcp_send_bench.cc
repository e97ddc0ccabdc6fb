// Benchmark (not a test): CPU per GiB that TcpTransport::Send spends with and without
// MSG_ZEROCOPY, against a sink that reads and discards.
//
//   tcp_send_bench sink PORT                    listen on 0.0.0.0:PORT, discard every stream
//   tcp_send_bench send HOST PORT FRAME MIB MODE  send MIB MiB as FRAME-byte frames; MODE is
//                                                 copy (plain sendmsg), zerocopy (the library's
//                                                 policy: stop asking once the kernel reports a
//                                                 copy) or forced (MSG_ZEROCOPY on every frame)
//
// Prints one line per send run: mode, frame bytes, MiB/s, process CPU seconds (user + system)
// per GiB, and the transport's zero-copy counters (calls, notifications, copied, bytes sent
// without a copy). The frames come from pool pages written once, as a WRITE's do.
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "buffers/bvecq.h"
#include "buffers/page_pool.h"
#include "smb2/tcp_transport.h"

namespace smbd {
namespace {

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec +
         u.ru_stime.tv_usec / 1e6;
}

int Sink(int port) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listener, 8) != 0) {
    perror("sink: bind/listen");
    return 1;
  }
  while (true) {
    const int fd = accept(listener, nullptr, nullptr);
    if (fd < 0) continue;
    std::thread([fd] {
      std::vector<char> buf(1 << 20);
      while (read(fd, buf.data(), buf.size()) > 0) {
      }
      close(fd);
    }).detach();
  }
}

int Send(const char* host, int port, uint64_t frame, uint64_t mib, const std::string& mode) {
  const bool zero_copy = mode != "copy";
  PagePoolOptions po;
  po.huge_pages = false;
  auto pool = PagePool::Create(po);
  if (!pool.ok()) return 1;
  TcpOptions o;
  o.zero_copy_min_bytes = zero_copy ? 1 : 0;
  o.zero_copy_despite_copies = mode == "forced";
  auto t = TcpTransport::Connect(host, static_cast<uint16_t>(port), pool->get(), o);
  if (!t.ok()) {
    fprintf(stderr, "connect: %s\n", std::string(t.status().message()).c_str());
    return 1;
  }
  Bvecq q;
  for (uint64_t done = 0; done < frame;) {
    PageRef page = (*pool)->TryAlloc().value();
    memset(page.data(), 0x5a, kPageSize);
    const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(kPageSize, frame - done));
    if (!q.Append(std::move(page), 0, n).ok()) return 1;
    done += n;
  }
  const uint64_t frames = (mib << 20) / frame;
  const double cpu0 = CpuSeconds();
  const absl::Time t0 = absl::Now();
  uint64_t last = 0;
  for (uint64_t i = 0; i < frames; ++i) {
    last = (*t)->NextSendTicket();
    absl::Status s = (*t)->Send(q);
    if (!s.ok()) {
      fprintf(stderr, "send: %s\n", std::string(s.message()).c_str());
      return 1;
    }
  }
  if (!(*t)->AwaitReleased(last, absl::Now() + absl::Seconds(30)).ok()) return 1;
  const double wall = absl::ToDoubleSeconds(absl::Now() - t0);
  const double cpu = CpuSeconds() - cpu0;
  const double gib = static_cast<double>(frames * frame) / (1 << 30);
  const TcpStats st = (*t)->stats();
  printf("%-8s frame=%-8llu %8.1f MiB/s  cpu=%.3f s/GiB  zc_calls=%llu notes=%llu copied=%llu "
         "bytes_zero_copy=%llu\n",
         mode.c_str(), static_cast<unsigned long long>(frame),
         gib * 1024 / wall, cpu / gib, static_cast<unsigned long long>(st.zero_copy_calls),
         static_cast<unsigned long long>(st.zero_copy_notifications),
         static_cast<unsigned long long>(st.zero_copy_copied),
         static_cast<unsigned long long>(st.bytes_zero_copy));
  return 0;
}

}  // namespace
}  // namespace smbd

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "sink") return smbd::Sink(atoi(argv[2]));
  if (argc == 7 && std::string(argv[1]) == "send") {
    return smbd::Send(argv[2], atoi(argv[3]), strtoull(argv[4], nullptr, 10),
                      strtoull(argv[5], nullptr, 10), argv[6]);
  }
  fprintf(stderr,
          "usage: tcp_send_bench sink PORT | send HOST PORT FRAME MIB copy|zerocopy|forced\n");
  return 2;
}
