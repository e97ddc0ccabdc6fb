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

}  // namespace smbd

#endif  // SMBD_SMB2_CLIENT_URL_H_
