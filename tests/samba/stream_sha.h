// The bytes tests write and read through the client: the FillStream pattern of a given range,
// and SHA-256 digests of it, of what a reader got, and of a file on the server's disk.
#ifndef SMBD_TESTS_SAMBA_STREAM_SHA_H_
#define SMBD_TESTS_SAMBA_STREAM_SHA_H_

#include <openssl/sha.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "tests/samba/samba_env.h"

namespace smbd {
namespace testing_samba {

inline void Fill(uint64_t offset, absl::Span<uint8_t> out) {
  testing_samba::FillStream(offset, out.data(), out.size());
}

class Sha256 {
 public:
  Sha256() { SHA256_Init(&ctx_); }
  void Update(absl::Span<const uint8_t> b) { SHA256_Update(&ctx_, b.data(), b.size()); }
  std::string Hex() {
    unsigned char md[32];
    SHA256_Final(md, &ctx_);
    std::string s;
    for (unsigned char c : md) absl::StrAppend(&s, absl::Hex(c, absl::kZeroPad2));
    return s;
  }

 private:
  SHA256_CTX ctx_;
};

// The SHA-256 of the stream Fill makes, [0, size).
inline std::string StreamSha(uint64_t size) {
  Sha256 sha;
  std::vector<uint8_t> piece(64 * (size_t{1} << 20));
  for (uint64_t at = 0; at < size; at += piece.size()) {
    absl::Span<uint8_t> p = absl::MakeSpan(piece).subspan(0, std::min<uint64_t>(piece.size(), size - at));
    Fill(at, p);
    sha.Update(p);
  }
  return sha.Hex();
}

inline std::string FileSha(const std::string& path, uint64_t* size) {
  std::ifstream in(path, std::ios::binary);
  Sha256 sha;
  std::vector<char> buf(16 * (size_t{1} << 20));
  *size = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const std::streamsize n = in.gcount();
    if (n <= 0) break;
    sha.Update(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(buf.data()),
                                   static_cast<size_t>(n)));
    *size += static_cast<uint64_t>(n);
  }
  return sha.Hex();
}

// A file of `size` bytes of the Fill stream, made in `dir` (a share's directory on the server's
// disk) directly, readable and writable by the server; returns its path.
inline std::string MakeSourceFile(const std::string& dir, const std::string& name,
                                  uint64_t size) {
  const std::string path = absl::StrCat(dir, "/", name);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  std::vector<uint8_t> piece(64 * (size_t{1} << 20));
  for (uint64_t at = 0; at < size; at += piece.size()) {
    absl::Span<uint8_t> p =
        absl::MakeSpan(piece).subspan(0, std::min<uint64_t>(piece.size(), size - at));
    Fill(at, p);
    out.write(reinterpret_cast<const char*>(p.data()), static_cast<std::streamsize>(p.size()));
  }
  out.close();
  chmod(path.c_str(), 0666);
  return path;
}

}  // namespace testing_samba
}  // namespace smbd

#endif  // SMBD_TESTS_SAMBA_STREAM_SHA_H_
