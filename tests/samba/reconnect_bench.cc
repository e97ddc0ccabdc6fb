// How long a reconnect takes and what cuts cost a large transfer, against the throwaway Samba
// of tests/samba/samba-server (run by tests/bench/reconnect). Prints figures; passes or fails
// nothing but its own setup.
//
//   reconnect_bench [CUTS] [RUNS]
//
// 1. Recovery: an idle client (one session, one tree, one durable handle) has its connection
//    cut CUTS times through tests/samba/cutting_proxy.h. Per cut: the re-establishment's own
//    time (ClientStats::reconnect_us_total, from the first attempt to the handle reopened) and
//    the outage a caller sees (cut to the first Stat that returns, the Stat issued at once).
// 2. Cost of cuts: 1 GiB ReadTo and Write through the proxy, RUNS times each with no cut and
//    with a cut every 256 MiB (3 cuts), side by side; median MB/s.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "connect/connect.h"
#include "smb2/client/client.h"
#include "tests/samba/cutting_proxy.h"
#include "tests/samba/samba_env.h"

namespace smbd {
namespace {

using testing_samba::CuttingProxy;
using testing_samba::Env;
using testing_samba::SambaEnv;

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}
double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

struct Mounted {
  std::unique_ptr<Client> client;
  std::unique_ptr<Session> session;
  std::unique_ptr<Tree> tree;
};

int Fail(const std::string& what, const absl::Status& s) {
  std::fprintf(stderr, "reconnect_bench: %s: %s\n", what.c_str(), std::string(s.message()).c_str());
  return 1;
}

int Main(int argc, char** argv) {
  const int cuts = argc > 1 ? std::atoi(argv[1]) : 21;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  SambaEnv env;
  const std::string dir = Env("SAMBA_SHARE_DIR_DURABLE");
  if (!env.ok() || dir.empty()) {
    std::fprintf(stderr, "reconnect_bench: no Samba (run through tests/bench/reconnect)\n");
    return 2;
  }
  CuttingProxy proxy(env.port);
  ClientOptions o;
  o.reconnect.max_outage = absl::Seconds(30);
  o.server_name = "127.0.0.1";
  Credentials creds;
  creds.user = env.user;
  creds.password = SecretBytes::FromString(env.password);
  creds.kerberos = KerberosUse::kNever;
  Mounted m;
  auto c = ConnectTcp("127.0.0.1", proxy.port(), o);
  if (!c.ok()) return Fail("connect", c.status());
  m.client = *std::move(c);
  auto s = m.client->Login(creds);
  if (!s.ok()) return Fail("login", s.status());
  m.session = *std::move(s);
  auto t = m.session->TreeConnect("durable");
  if (!t.ok()) return Fail("tree connect", t.status());
  m.tree = *std::move(t);

  // The file, written through the client (Samba keeps the times it hands out in its DOS
  // attribute EA; a file made outside it gets that EA later, at 100 ns precision, and its
  // durable reconnect is then denied: "st_ex_btime differs").
  const std::string path = absl::StrCat(dir, "/reconnect-bench.bin");
  std::vector<uint8_t> buf(kGiB);
  testing_samba::FillStream(0, buf.data(), buf.size());
  OpenOptions durable;
  durable.write = true;
  durable.disposition = 5;  // overwrite-if
  MakeDurable(&durable, absl::Seconds(60));
  auto f = m.tree->Open("reconnect-bench.bin", durable);
  if (!f.ok()) return Fail("open", f.status());
  if (!(*f)->durable()) return Fail("open", absl::FailedPreconditionError("no durable handle"));
  if (absl::Status w = (*f)->Write(0, buf); !w.ok()) return Fail("first write", w);

  // 1. Recovery of an idle client, and the outage a caller sees.
  std::vector<double> recovery_ms, outage_ms;
  for (int i = 0; i < cuts; ++i) {
    const ClientStats before = m.client->stats();
    const absl::Time cut = absl::Now();
    proxy.Cut();
    absl::Status st = (*f)->Stat().status();
    const absl::Time back = absl::Now();
    if (!st.ok()) return Fail("stat after a cut", st);
    // The reconnection thread may still be finishing its bookkeeping.
    for (int k = 0; k < 1000 && m.client->stats().reconnects == before.reconnects; ++k) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    const ClientStats after = m.client->stats();
    if (after.reconnects != before.reconnects + 1 || after.handles_reopened != before.handles_reopened + 1) {
      return Fail("recovery", absl::InternalError("not exactly one reconnect per cut"));
    }
    recovery_ms.push_back((after.reconnect_us_total - before.reconnect_us_total) / 1000.0);
    outage_ms.push_back(absl::ToDoubleMilliseconds(back - cut));
    absl::SleepFor(absl::Milliseconds(20));
  }
  std::printf("# reconnect of an idle client (1 session, 1 tree, 1 durable handle with a lease), "
              "%d cuts, loopback Samba through a cutting proxy\n", cuts);
  std::printf("re-establishment (connect, NEGOTIATE, SESSION_SETUP, TREE_CONNECT, DH2C)  "
              "median %.1f ms  p90 %.1f ms  max %.1f ms\n",
              Median(recovery_ms), Percentile(recovery_ms, 0.9), Percentile(recovery_ms, 1.0));
  std::printf("outage seen by a caller (cut to its Stat answered)                        "
              "median %.1f ms  p90 %.1f ms  max %.1f ms\n",
              Median(outage_ms), Percentile(outage_ms, 0.9), Percentile(outage_ms, 1.0));

  // 2. What cuts cost a 1 GiB transfer.
  auto transfer = [&](bool write, int with_cuts, double* mbps) -> absl::Status {
    const uint64_t base = write ? proxy.bytes_up() : proxy.bytes_down();
    std::atomic<bool> done{false};
    std::thread cutter([&] {
      for (int k = 1; k <= with_cuts && !done; ++k) {
        while (!done && (write ? proxy.bytes_up() : proxy.bytes_down()) - base <
                            static_cast<uint64_t>(k) * 256 * kMiB) {
          absl::SleepFor(absl::Microseconds(200));
        }
        if (!done) proxy.Cut();
      }
    });
    const absl::Time start = absl::Now();
    absl::Status r;
    if (write) {
      r = (*f)->Write(0, buf);
    } else {
      r = (*f)->Read(0, absl::MakeSpan(buf)).status();
    }
    const absl::Duration took = absl::Now() - start;
    done = true;
    cutter.join();
    *mbps = kGiB / 1e6 / absl::ToDoubleSeconds(took);
    return r;
  };
  std::printf("# 1 GiB through the proxy, median of %d runs (MB/s); cuts every 256 MiB\n", runs);
  for (bool write : {false, true}) {
    std::vector<double> clean, cut;
    for (int r = 0; r < runs; ++r) {
      double a = 0, b = 0;
      absl::Status s1 = transfer(write, 0, &a);
      if (!s1.ok()) return Fail("transfer", s1);
      absl::Status s2 = transfer(write, 3, &b);
      if (!s2.ok()) return Fail("transfer with cuts", s2);
      clean.push_back(a);
      cut.push_back(b);
    }
    std::printf("%-5s  no cut %7.1f MB/s   3 cuts %7.1f MB/s   ratio %.2f\n", write ? "write" : "read",
                Median(clean), Median(cut), Median(cut) / Median(clean));
  }
  const ClientStats st = m.client->stats();
  std::printf("# totals: %llu reconnects, %llu requests replayed, %llu handles reopened, %llu lost\n",
              static_cast<unsigned long long>(st.reconnects),
              static_cast<unsigned long long>(st.requests_replayed),
              static_cast<unsigned long long>(st.handles_reopened),
              static_cast<unsigned long long>(st.handles_lost));
  (void)(*f)->Close();
  unlink(path.c_str());
  return 0;
}

}  // namespace
}  // namespace smbd

int main(int argc, char** argv) { return smbd::Main(argc, argv); }
