// SPNEGO tokens (RFC 4178, [MS-SPNG]): ParseNegTokenInit (the NEGOTIATE response's hint,
// NegTokenInit2), ParseNegTokenResp, ChooseMechanism; what parses must survive
// encode-then-parse unchanged.
// Input: 3 layout bytes (tests/fuzz/fuzz_common.h), then the token. The parsers take a span only;
// the split queue's bytes are gathered back into one span and must parse the same.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "smb2/security/authenticator.h"
#include "smb2/security/spnego.h"
#include "tests/fuzz/fuzz_common.h"

namespace smbd {
namespace fuzz {
namespace {

std::string InitText(const absl::StatusOr<NegTokenInit>& t) {
  if (!t.ok()) return StatusText(t);
  std::string s = "init";
  for (const Oid& o : t->mech_types) absl::StrAppend(&s, " ", Hex(o));
  if (t->mech_token) absl::StrAppend(&s, " token ", Hex(*t->mech_token));
  return s;
}

std::string RespText(const absl::StatusOr<NegTokenResp>& t) {
  if (!t.ok()) return StatusText(t);
  std::string s = "resp";
  if (t->neg_state) absl::StrAppend(&s, " state ", static_cast<int>(*t->neg_state));
  if (t->supported_mech) absl::StrAppend(&s, " mech ", Hex(*t->supported_mech));
  if (t->response_token) absl::StrAppend(&s, " token ", Hex(*t->response_token));
  if (t->mech_list_mic) absl::StrAppend(&s, " mic ", Hex(*t->mech_list_mic));
  return s;
}

std::string All(absl::Span<const uint8_t> token) {
  const Oid ours[] = {NtlmsspOid(), KerberosOid()};
  absl::StatusOr<Oid> chosen = ChooseMechanism(token, ours);
  return absl::StrCat(InitText(ParseNegTokenInit(token)), ";", RespText(ParseNegTokenResp(token)),
                      ";", chosen.ok() ? Hex(*chosen) : StatusText(chosen));
}

}  // namespace
}  // namespace fuzz
}  // namespace smbd

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace smbd;
  using namespace smbd::fuzz;
  const Input in = ParseInput(data, size);
  const std::string a = All(in.message);
  {
    SplitMessage split(in.message, in.layout);
    ExpectSame("spnego", a, All(Flatten(split.begin())));
  }
  absl::StatusOr<NegTokenInit> init = ParseNegTokenInit(in.message);
  if (init.ok()) {
    const std::vector<uint8_t> again = EncodeNegTokenInit(init->mech_types, init->mech_token);
    ExpectSame("NegTokenInit re-encoded", InitText(init), InitText(ParseNegTokenInit(again)));
  }
  absl::StatusOr<NegTokenResp> resp = ParseNegTokenResp(in.message);
  if (resp.ok()) {
    const std::vector<uint8_t> again = EncodeNegTokenResp(*resp);
    ExpectSame("NegTokenResp re-encoded", RespText(resp), RespText(ParseNegTokenResp(again)));
  }
  return 0;
}
