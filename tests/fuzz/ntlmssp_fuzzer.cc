// NTLMSSP CHALLENGE_MESSAGE ([MS-NLMP] 2.2.1.2): ParseChallengeMessage, then NtlmClient::
// Authenticate on the same bytes (AV pairs, target info copied into the NTLMv2 response, MIC),
// with fixed credentials and fixed random values so that every run is deterministic.
// Input: 3 layout bytes (tests/fuzz/fuzz_common.h), then the message. The parser takes a span
// only; the split queue's bytes are gathered back into one span and must parse the same.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "smb2/security/ntlmssp.h"
#include "tests/fuzz/fuzz_common.h"

namespace smbd {
namespace fuzz {
namespace {

std::string ParseText(absl::Span<const uint8_t> m) {
  absl::StatusOr<ChallengeMessage> c = ParseChallengeMessage(m);
  if (!c.ok()) return StatusText(c);
  std::string s = absl::StrCat("chal ", c->flags, " ", Hex(c->server_challenge), " ",
                               Hex(c->target_name));
  for (const AvPair& p : c->target_info) absl::StrAppend(&s, " av", p.id, "=", Hex(p.value));
  if (c->timestamp) absl::StrAppend(&s, " ts ", *c->timestamp);
  if (c->av_flags) absl::StrAppend(&s, " avflags ", *c->av_flags);
  if (c->version) absl::StrAppend(&s, " ver ", Hex(*c->version));
  return s;
}

NtlmOptions FixedOptions() {
  NtlmOptions o;
  o.target_spn = "cifs/fuzz";
  o.time = 0x01d0aed0ade5dad8;
  o.client_challenge = std::array<uint8_t, 8>{1, 2, 3, 4, 5, 6, 7, 8};
  o.random_session_key = std::array<uint8_t, 16>{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
  return o;
}

}  // namespace
}  // namespace fuzz
}  // namespace smbd

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
  const std::string parsed = ParseText(in.message);
  {
    SplitMessage split(in.message, in.layout);
    ExpectSame("ntlmssp challenge", parsed, ParseText(Flatten(split.begin())));
  }
  // Authenticate: a user logon and an anonymous one. A message the parser rejects must be
  // rejected here too.
  for (bool anonymous : {false, true}) {
    NtlmCredentials creds;
    if (!anonymous) {
      creds.user = "alice";
      creds.domain = "FUZZ";
      creds.password = SecretBytes::FromString("secret");
      creds.workstation = "WS";
    }
    NtlmClient client(std::move(creds), FixedOptions());
    if (!client.Negotiate().ok()) Fail("NtlmClient::Negotiate");
    absl::StatusOr<std::vector<uint8_t>> auth = client.Authenticate(in.message);
    if (auth.ok() && parsed.rfind("chal ", 0) != 0) {
      Fail(absl::StrCat("Authenticate accepted a CHALLENGE the parser rejects: ", parsed));
    }
    if (auth.ok() && auth->size() < 64) Fail("AUTHENTICATE_MESSAGE shorter than its header");
  }
  return 0;
}
