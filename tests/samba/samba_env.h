// Reads the environment written by tests/samba/samba-server (SAMBA_HOST, SAMBA_PORT, ...), so
// that interop tests reach the throwaway Samba that tests/samba/run-suite started.
#ifndef SMBD_TESTS_SAMBA_SAMBA_ENV_H_
#define SMBD_TESTS_SAMBA_SAMBA_ENV_H_

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace smbd {
namespace testing_samba {

inline std::string Env(const char* name, const char* fallback = "") {
  const char* v = std::getenv(name);
  return v != nullptr ? v : fallback;
}

struct SambaEnv {
  std::string host = Env("SAMBA_HOST", "127.0.0.1");
  uint16_t port = static_cast<uint16_t>(std::atoi(Env("SAMBA_PORT", "0").c_str()));
  uint16_t signed_port = static_cast<uint16_t>(std::atoi(Env("SAMBA_SIGNED_PORT", "0").c_str()));
  std::string user = Env("SAMBA_USER");
  std::string password = Env("SAMBA_PASSWORD");
  std::string share_dir = Env("SAMBA_SHARE_DIR_SHARE");
  std::string log = Env("SAMBA_LOG");
  std::string pids = Env("SAMBA_PIDS");
  bool ok() const { return port != 0 && !user.empty(); }
};

// `n` reproducible pseudo-random bytes: test file contents that no offset mix-up can pass.
inline std::vector<uint8_t> Pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

// Bytes [offset, offset + out.size()) of a reproducible stream, fast enough for a GiB:
// splitmix64 of the position, so that any piece can be made on its own.
inline void FillStream(uint64_t offset, uint8_t* out, size_t n) {
  for (size_t i = 0; i < n; i += 8) {
    uint64_t z = (offset + i) / 8 + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    std::memcpy(out + i, &z, n - i < 8 ? n - i : 8);
  }
}

}  // namespace testing_samba
}  // namespace smbd

#endif  // SMBD_TESTS_SAMBA_SAMBA_ENV_H_
