// smb:// URLs as libsmb2 and the smb URI draft (draft-crhertel-smb-url) write them:
//   smb://[domain;][user[:password]@]host[:port]/share[/path]
// Percent-escapes are decoded in every part; IPv6 hosts are bracketed ([::1]).
#ifndef SMBD_SMB2_CLIENT_URL_H_
#define SMBD_SMB2_CLIENT_URL_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace smbd {

struct SmbUrl {
  std::string domain;
  std::string user;
  std::string password;  // discouraged in URLs; smbd-cat warns when one is given
  bool has_password = false;
  std::string host;      // without brackets
  uint16_t port = 0;     // 0: the transport's default (445)
  std::string share;
  std::string path;      // inside the share, '/'-separated, no leading '/'; may be empty

  // The path with '\' separators as SMB2 CREATE wants it.
  std::string SmbPath() const;
  // The URL without the password (for messages and logs).
  std::string Redacted() const;
};

absl::StatusOr<SmbUrl> ParseSmbUrl(absl::string_view url);

// `text` (an smb:// URL as typed, perhaps malformed) with anything that may be a password
// replaced by "***": the part after ':' in the user information, and the part after a ':' in
// an authority that is not a numeric port (a "user:password" whose '@' is missing). For error
// messages about text that did not parse.
std::string RedactUrlText(absl::string_view text);

// `name` (from a server) safe to print on a terminal: control characters, DEL and '\' are
// written as \xNN (so a hostile name cannot move the cursor, clear the screen or fake lines).
std::string EscapeForTerminal(absl::string_view name);

}  // namespace smbd

#endif  // SMBD_SMB2_CLIENT_URL_H_
