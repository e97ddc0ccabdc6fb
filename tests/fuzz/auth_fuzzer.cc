// NtlmAuthenticator::Next (the SESSION_SETUP loop, [MS-SMB2] 3.2.4.2.3) fed a fuzzed server:
// the NEGOTIATE response's security buffer, then the SESSION_SETUP responses' tokens (SPNEGO
// NegTokenResp around an NTLMSSP CHALLENGE, then the final accept with its mechListMIC).
// Input: 3 layout bytes (tests/fuzz/fuzz_common.h, unused here), then up to four tokens, each a
// little-endian u16 length and that many bytes (the last one takes what is left if shorter).
// Credentials and random values are those of vectors.md [anat-311], so that the seed built from
// that exchange runs the loop to the end.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "smb2/security/authenticator.h"
#include "tests/fuzz/fuzz_common.h"

// OpenSSL's legacy provider (MD4, RC4) is loaded on first use and kept for the life of the
// process: see WarmUpOpenSsl.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  smbd::fuzz::WarmUpOpenSsl();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace smbd;
  using namespace smbd::fuzz;
  const Input in = ParseInput(data, size);
  NtlmCredentials creds;
  creds.user = "administrator";
  creds.domain = "SUT311";
  creds.password = SecretBytes::FromString("Password01!");
  creds.workstation = "DRIVER311";
  NtlmOptions opts;
  opts.client_challenge = std::array<uint8_t, 8>{0xBC, 0x4A, 0xD0, 0x5F, 0x22, 0x3C, 0xC9, 0x0F};
  opts.random_session_key = std::array<uint8_t, 16>{0x27, 0x0E, 0x1B, 0xA8, 0x96, 0x58,
                                                    0x5E, 0xEB, 0x7A, 0xF3, 0x47, 0x2D,
                                                    0x3B, 0x4C, 0x75, 0xA7};
  opts.time = 0x01d0aed0ade5dad8;
  NtlmAuthenticator auth(std::move(creds), opts);
  absl::Span<const uint8_t> rest = in.message;
  bool done = false;
  for (int step = 0; step < 4 && !rest.empty(); ++step) {
    size_t len = rest.size() >= 2 ? (rest[0] | size_t{rest[1]} << 8) : 0;
    rest.remove_prefix(std::min<size_t>(2, rest.size()));
    len = std::min(len, rest.size());
    // An exact-size heap copy, so that reading past the token is caught.
    std::vector<uint8_t> token(rest.begin(), rest.begin() + len);
    rest.remove_prefix(len);
    absl::StatusOr<Authenticator::Step> s = auth.Next(token);
    if (done && s.ok()) Fail("NtlmAuthenticator::Next succeeded after done");
    if (!s.ok()) break;
    if (s->done) done = true;
  }
  if (done && !auth.anonymous() && auth.session_key().empty()) {
    Fail("NtlmAuthenticator done without a session key");
  }
  return 0;
}
