// smbd-bench: measures the client like fio, against a file on a real server.
//
//   smbd-bench [options] smb://[user@]host[:port]/share/path
//     --mode seqread|seqwrite|randread|meta|smallfile|smallfile3   (default seqread)
//                       smallfile: open+read 4 KiB+close as one compound; smallfile3: three
//                       round trips
//     --bs BYTES        block size (default 1M; randread default 4K)
//     --depth N         requests in flight (default 8)
//     --size BYTES      bytes to read/write (default: the file's size, or 256M for seqwrite)
//     --seconds S       run randread/meta for S seconds (default 5)
//     --sign --seal --transport auto|rdma|tcp --rdma-device NAME
//     --channels N      multichannel: up to N connections (the extra ones to the other
//                       interfaces the server lists), requests spread over them
//     --busy-poll       SMB Direct: poll the completion queue instead of sleeping on it
//     --json            one JSON object instead of the table
// Password from SMBD_PASSWORD. Prints MB/s, IOPS, latency p50/p99/p99.9 and client CPU seconds
// per GiB (user+sys of this process, from getrusage).
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "connect/connect.h"
#include "smb2/client/client.h"
#include "smb2/client/url.h"
#include "tools/flags.h"

namespace smbd {
namespace {

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

struct Result {
  std::string mode;
  uint64_t ops = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  double cpu = 0;
  std::vector<double> latencies_us;
};

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * v.size()));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

// Keeps `depth` asynchronous reads in flight; `next` yields each read's offset (false: stop).
// With `client`, the slots' buffers (one allocation) are registered once (Client::RegisterBuffer).
absl::Status AsyncReads(File* f, uint64_t bs, int depth, const std::function<bool(uint64_t*)>& next,
                        Result* r, Client* register_with) {
  struct Slot {
    absl::Span<uint8_t> buf;
    absl::Time start;
    bool busy = false;
  };
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<int> done;
    std::vector<absl::Status> errors;
    std::vector<uint32_t> got;
  } sh;
  std::vector<Slot> slots(depth);
  std::vector<std::pair<Shared*, int>> args(depth);
  sh.got.resize(depth);
  std::vector<uint8_t> memory(bs * depth);
  for (int i = 0; i < depth; ++i) {
    slots[i].buf = absl::MakeSpan(memory).subspan(i * bs, bs);
    args[i] = {&sh, i};
  }
  std::unique_ptr<RegisteredBuffer> registered;  // destroyed before `memory`, after the reads
  if (register_with != nullptr) {
    absl::StatusOr<std::unique_ptr<RegisteredBuffer>> reg =
        register_with->RegisterBuffer(absl::MakeSpan(memory));
    if (!reg.ok()) return reg.status();
    registered = *std::move(reg);
  }
  int busy = 0;
  bool more = true;
  absl::Status error;
  while (true) {
    for (int i = 0; i < depth && more && error.ok(); ++i) {
      if (slots[i].busy) continue;
      uint64_t off;
      if (!next(&off)) {
        more = false;
        break;
      }
      slots[i].busy = true;
      slots[i].start = absl::Now();
      ++busy;
      absl::Status s = f->ReadAsync(
          off, slots[i].buf,
          [](void* arg, absl::StatusOr<uint32_t> res) {
            auto* a = static_cast<std::pair<Shared*, int>*>(arg);
            std::lock_guard<std::mutex> l(a->first->mu);
            if (!res.ok()) a->first->errors.push_back(res.status());
            a->first->got[a->second] = res.ok() ? *res : 0;
            a->first->done.push_back(a->second);
            a->first->cv.notify_one();
          },
          &args[i]);
      if (!s.ok()) {
        error = s;
        slots[i].busy = false;
        --busy;
      }
    }
    if (busy == 0) break;
    std::vector<int> done;
    {
      std::unique_lock<std::mutex> l(sh.mu);
      if (!sh.cv.wait_for(l, std::chrono::seconds(120), [&] { return !sh.done.empty(); })) {
        // Never return while a callback may still run: the slots and `sh` it writes live in
        // this frame, and an RDMA read's buffer stays registered until its callback. Every
        // async read completes by its request deadline (the connection's watchdog), so stop
        // issuing and keep waiting.
        if (error.ok()) error = absl::DeadlineExceededError("smbd-bench: reads did not complete");
        more = false;
        continue;
      }
      done.swap(sh.done);
      if (!sh.errors.empty() && error.ok()) error = sh.errors.front();
    }
    const absl::Time now = absl::Now();
    for (int i : done) {
      slots[i].busy = false;
      --busy;
      r->ops++;
      r->bytes += sh.got[i];
      r->latencies_us.push_back(absl::ToDoubleMicroseconds(now - slots[i].start));
    }
  }
  return error;
}

int Main(int argc, char** argv) {
  std::string mode = "seqread", url_text, transport = "auto", rdma_device;
  uint64_t bs = 0, size = 0;
  int depth = 8;
  double seconds = 5;
  bool json = false;
  bool busy_poll = false;  // SMB Direct: spin on the CQ instead of the completion channel
  bool register_buffers = false;  // Client::RegisterBuffer the I/O buffers once
  std::optional<uint64_t> rdma_threshold;  // ClientOptions::rdma_threshold
  RdmaRegistrationMode registration = RdmaRegistrationMode::kAuto;
  ClientOptions co;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--mode") mode = val();
    else if (a == "--bs") { if (!ParseSize(val(), &bs)) return 2; }
    else if (a == "--size") { if (!ParseSize(val(), &size)) return 2; }
    else if (a == "--depth") {
      int64_t d;
      if (!ParseInt(val(), 1, 4096, &d)) return 2;
      depth = static_cast<int>(d);
    } else if (a == "--seconds") {
      if (!ParseSeconds(val(), &seconds)) return 2;
    }
    else if (a == "--sign") co.require_signing = true;
    else if (a == "--seal") co.require_encryption = true;
    else if (a == "--transport") transport = val();
    else if (a == "--rdma-device") rdma_device = val();
    else if (a == "--busy-poll") busy_poll = true;
    else if (a == "--channels") {
      int64_t n;
      if (!ParseInt(val(), 1, 16, &n)) return 2;
      co.multichannel.max_channels = static_cast<uint32_t>(n);
    }
    else if (a == "--register-buffers") register_buffers = true;
    else if (a == "--rdma-threshold") {
      uint64_t t;
      if (!ParseSize(val(), &t)) return 2;
      rdma_threshold = t;
    }
    else if (a == "--registration") {
      const std::string v = val();
      if (v == "auto") registration = RdmaRegistrationMode::kAuto;
      else if (v == "per-io") registration = RdmaRegistrationMode::kPerIo;
      else if (v == "windows") registration = RdmaRegistrationMode::kWindows;
      else {
        std::fprintf(stderr, "smbd-bench: --registration auto|per-io|windows\n");
        return 2;
      }
    }
    else if (a == "--json") json = true;
    else if (a == "-h" || a == "--help") {
      std::printf("usage: smbd-bench [--mode seqread|seqwrite|randread|meta] [--bs B] [--depth N]"
                  " [--size B] [--seconds S] [--sign] [--seal] [--json] [--busy-poll]"
                  " [--register-buffers] [--rdma-threshold B] [--registration auto|per-io|windows]"
                  " smb://user@host/share/path\n");
      return 0;
    } else url_text = a;
  }
  auto choice = ParseTransportChoice(transport);
  if (!choice.ok()) {
    std::fprintf(stderr, "smbd-bench: %s\n", std::string(choice.status().message()).c_str());
    return 2;
  }
  auto url = ParseSmbUrl(url_text);
  if (!url.ok() || url->path.empty()) {
    std::fprintf(stderr, "smbd-bench: need smb://user@host/share/path (%s)\n",
                 url.ok() ? "no path" : std::string(url.status().message()).c_str());
    return 2;
  }
  if (bs == 0) bs = mode == "randread" ? 4096 : 1 << 20;
  co.max_io = static_cast<uint32_t>(std::max<uint64_t>(bs, 65536));
  co.max_rdma_io = co.max_io;  // exactly bs per request, inline or RDMA
  co.window_bytes = bs * depth;
  if (rdma_threshold.has_value()) {
    // From this size on, whatever registration the I/O gets.
    co.rdma_threshold = static_cast<uint32_t>(std::min<uint64_t>(*rdma_threshold, UINT32_MAX));
    co.rdma_threshold_per_io = co.rdma_threshold;
  }
  ConnectSpec spec;
  spec.host = url->host;
  spec.port = url->port;
  spec.transport = *choice;
  spec.rdma_device = rdma_device;
  spec.client = co;
  spec.smbdirect.busy_poll = busy_poll;
  spec.smbdirect.registration = registration;
  std::string note;
  auto client = ConnectClient(spec, &note);
  if (!note.empty()) std::fprintf(stderr, "smbd-bench: %s\n", note.c_str());
  if (client.ok()) transport = (*client)->connection()->transport()->name();
  if (!client.ok()) {
    std::fprintf(stderr, "smbd-bench: %s\n", std::string(client.status().message()).c_str());
    return 3;
  }
  Credentials cred;
  cred.user = url->user;
  const char* pw = std::getenv("SMBD_PASSWORD");
  cred.password = SecretBytes::FromString(pw ? pw : "");
  cred.anonymous = cred.user.empty();
  auto session = (*client)->Login(cred);
  if (!session.ok()) {
    std::fprintf(stderr, "smbd-bench: %s\n", std::string(session.status().message()).c_str());
    return 4;
  }
  auto tree = (*session)->TreeConnect(url->share);
  if (!tree.ok()) {
    std::fprintf(stderr, "smbd-bench: %s\n", std::string(tree.status().message()).c_str());
    return 5;
  }
  Result r;
  r.mode = mode;
  absl::Status s;
  const double cpu0 = CpuSeconds();
  const absl::Time t0 = absl::Now();
  if (mode == "seqwrite") {
    OpenOptions w;
    w.write = true;
    w.disposition = 5;
    auto f = (*tree)->Open(url->SmbPath(), w);
    if (!f.ok()) s = f.status();
    if (size == 0) size = 256 << 20;
    std::vector<uint8_t> buf(bs, 0x5A);
    std::unique_ptr<RegisteredBuffer> registered;  // destroyed before buf
    if (register_buffers && s.ok()) {
      auto reg = (*client)->RegisterBuffer(absl::MakeSpan(buf));
      if (reg.ok()) registered = *std::move(reg);
      else s = reg.status();
    }
    std::atomic<uint64_t> next{0};
    std::mutex mu;
    std::vector<std::thread> threads;
    for (int t = 0; t < depth && s.ok(); ++t) {
      threads.emplace_back([&] {
        while (true) {
          const uint64_t off = next.fetch_add(bs);
          if (off >= size) return;
          const absl::Time st = absl::Now();
          absl::Status ws = (*f)->Write(off, absl::MakeConstSpan(buf).subspan(0, std::min(bs, size - off)));
          std::lock_guard<std::mutex> l(mu);
          if (!ws.ok()) {
            if (s.ok()) s = ws;
            return;
          }
          r.ops++;
          r.bytes += std::min(bs, size - off);
          r.latencies_us.push_back(absl::ToDoubleMicroseconds(absl::Now() - st));
        }
      });
    }
    for (auto& th : threads) th.join();
  } else if (mode == "seqread" || mode == "randread") {
    auto f = (*tree)->Open(url->SmbPath(), OpenOptions());
    if (!f.ok()) {
      s = f.status();
    } else {
      const uint64_t fsize = (*f)->size_at_open();
      if (size == 0 || size > fsize) size = fsize;
      uint64_t pos = 0;
      std::mt19937_64 rng(42);
      const absl::Time end = absl::Now() + absl::Seconds(seconds);
      const uint64_t blocks = std::max<uint64_t>(1, fsize / bs);
      std::function<bool(uint64_t*)> next;
      if (mode == "seqread") {
        next = [&](uint64_t* off) {
          if (pos >= size) return false;
          *off = pos;
          pos += bs;
          return true;
        };
      } else {
        next = [&](uint64_t* off) {
          if (absl::Now() >= end) return false;
          *off = (rng() % blocks) * bs;
          return true;
        };
      }
      const bool rdma = (*client)->connection()->transport()->supports_rdma();
      s = AsyncReads(f->get(), std::min<uint64_t>(bs, (*client)->max_read(rdma)), depth, next,
                     &r, register_buffers ? client->get() : nullptr);
    }
  } else if (mode == "smallfile" || mode == "smallfile3") {
    // Open + read 4 KiB + close: one compound round trip ("smallfile") or three ("smallfile3").
    const absl::Time end = absl::Now() + absl::Seconds(seconds);
    std::vector<uint8_t> buf(4096);
    while (absl::Now() < end && s.ok()) {
      const absl::Time st = absl::Now();
      if (mode == "smallfile") {
        auto got = (*tree)->ReadSmallFile(url->SmbPath(), absl::MakeSpan(buf));
        if (!got.ok() && got.status().code() != absl::StatusCode::kOutOfRange) s = got.status();
        r.bytes += 4096;
      } else {
        auto f = (*tree)->Open(url->SmbPath(), OpenOptions());
        if (!f.ok()) {
          s = f.status();
          break;
        }
        auto n = (*f)->Read(0, absl::MakeSpan(buf));
        if (!n.ok()) s = n.status();
        absl::Status c = (*f)->Close();
        if (!c.ok() && s.ok()) s = c;
        r.bytes += 4096;
      }
      r.ops++;
      r.latencies_us.push_back(absl::ToDoubleMicroseconds(absl::Now() - st));
    }
  } else if (mode == "meta") {
    const absl::Time end = absl::Now() + absl::Seconds(seconds);
    while (absl::Now() < end && s.ok()) {
      const absl::Time st = absl::Now();
      auto info = (*tree)->Stat(url->SmbPath());  // CREATE + QUERY_INFO + CLOSE, one round trip
      if (!info.ok()) s = info.status();
      r.ops++;
      r.latencies_us.push_back(absl::ToDoubleMicroseconds(absl::Now() - st));
    }
  } else {
    std::fprintf(stderr, "smbd-bench: unknown mode %s\n", mode.c_str());
    return 2;
  }
  r.seconds = absl::ToDoubleSeconds(absl::Now() - t0);
  r.cpu = CpuSeconds() - cpu0;
  if (!s.ok()) {
    std::fprintf(stderr, "smbd-bench: %s\n", std::string(s.message()).c_str());
    return 7;
  }
  const double mbps = r.bytes / r.seconds / 1e6;
  const double iops = r.ops / r.seconds;
  const double gib = r.bytes / double(1ull << 30);
  const double p50 = Percentile(r.latencies_us, 50), p99 = Percentile(r.latencies_us, 99),
               p999 = Percentile(r.latencies_us, 99.9);
  if (co.multichannel.max_channels > 1 && !json) {
    std::fprintf(stderr, "smbd-bench: %s\n", (*client)->multichannel_note().c_str());
    for (const ChannelInfo& ch : (*client)->channels()) {
      std::fprintf(stderr, "smbd-bench:   %s%s: %llu bytes read, %llu written\n",
                   ch.address.empty() ? "(first)" : ch.address.c_str(), ch.up ? "" : " (dropped)",
                   static_cast<unsigned long long>(ch.bytes_read),
                   static_cast<unsigned long long>(ch.bytes_written));
    }
  }
  std::string reg_json;
  if (auto* t = dynamic_cast<SmbDirectTransport*>((*client)->connection()->transport())) {
    const SmbDirectStats ds = t->stats();
    reg_json = absl::StrCat(",\"registration\":\"", RdmaRegistrationModeName(registration),
                            "\",\"window_binds\":", ds.window_binds, ",\"registrations\":",
                            ds.registrations, ",\"bounced_bytes\":", ds.bounced_bytes,
                            ",\"registered_send_bytes\":", ds.registered_send_bytes);
    if (!json) {
      std::fprintf(stderr, "smbd-bench: %s; %llu window binds, %llu per-I/O registrations\n",
                   t->registration_note().c_str(),
                   static_cast<unsigned long long>(ds.window_binds),
                   static_cast<unsigned long long>(ds.registrations - ds.window_binds));
    }
  }
  if (json) {
    std::printf(
        "{\"mode\":\"%s\",\"bs\":%llu,\"depth\":%d,\"bytes\":%llu,\"ops\":%llu,\"seconds\":%.3f,"
        "\"MBps\":%.1f,\"iops\":%.0f,\"lat_us_p50\":%.1f,\"lat_us_p99\":%.1f,\"lat_us_p999\":%.1f,"
        "\"cpu_s\":%.3f,\"cpu_s_per_GiB\":%.3f,\"transport\":\"%s\"%s}\n",
        mode.c_str(), static_cast<unsigned long long>(bs), depth,
        static_cast<unsigned long long>(r.bytes), static_cast<unsigned long long>(r.ops), r.seconds,
        mbps, iops, p50, p99, p999, r.cpu, gib > 0 ? r.cpu / gib : 0.0, transport.c_str(),
        reg_json.c_str());
  } else if (mode == "meta" || mode == "smallfile" || mode == "smallfile3") {
    // One operation at a time; block size and depth do not apply.
    const char* what = mode == "meta"        ? "open+stat+close (compound)"
                       : mode == "smallfile" ? "open+read 4K+close, 1 round trip"
                                             : "open+read 4K+close, 3 round trips";
    std::printf("%-10s %-34s %.0f ops/s  lat p50 %.0f us p99 %.0f us p99.9 %.0f us  CPU %.2f s\n",
                mode.c_str(), what, iops, p50, p99, p999, r.cpu);
  } else {
    std::printf("%-8s bs=%llu depth=%d  %.1f MB/s  %.0f IOPS  lat p50 %.0f us p99 %.0f us "
                "p99.9 %.0f us  CPU %.2f s (%.3f s/GiB)\n",
                mode.c_str(), static_cast<unsigned long long>(bs), depth, mbps, iops, p50, p99,
                p999, r.cpu, gib > 0 ? r.cpu / gib : 0.0);
  }
  return 0;
}

}  // namespace
}  // namespace smbd

int main(int argc, char** argv) { return smbd::Main(argc, argv); }
