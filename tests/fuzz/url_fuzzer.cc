// ParseSmbUrl (smb://[domain;][user[:password]@]host[:port]/share[/path], percent-escapes,
// bracketed IPv6 hosts) and what callers do with the result: SmbPath and Redacted.
// Input: 3 layout bytes (tests/fuzz/fuzz_common.h, unused here), then the URL.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "smb2/client/url.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace smbd;
  using namespace smbd::fuzz;
  const Input in = ParseInput(data, size);
  // An exact-size copy without a terminating NUL, so that reading past the end is caught.
  std::unique_ptr<char[]> copy(new char[in.message.size()]);
  std::copy(in.message.begin(), in.message.end(), copy.get());
  absl::StatusOr<SmbUrl> u = ParseSmbUrl(absl::string_view(copy.get(), in.message.size()));
  if (!u.ok()) return 0;
  const std::string path = u->SmbPath();
  if (path.find('/') != std::string::npos) Fail("SmbPath() left a '/' in the path");
  if (u->host.empty() || u->share.empty()) Fail("ParseSmbUrl accepted an empty host or share");
  (void)u->Redacted();
  return 0;
}
