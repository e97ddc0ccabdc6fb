// smbclient's authentication file ("username = x", "password = y", "domain = z", one per line;
// smbclient(1) -A), read by smbd-cat --credentials and the C API. The password never passes
// through an unwiped buffer.
#ifndef SMBD_SMB2_CLIENT_CREDENTIALS_FILE_H_
#define SMBD_SMB2_CLIENT_CREDENTIALS_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "smb2/security/secret.h"

namespace smbd {

struct CredentialsFile {
  std::string user;    // empty when the file names none
  std::string domain;
  SecretBytes password;
  bool has_password = false;
  bool readable_by_others = false;  // group or other may read it: worth a warning
};

// NotFound when the file cannot be read.
absl::StatusOr<CredentialsFile> ReadCredentialsFile(const std::string& path);

}  // namespace smbd

#endif  // SMBD_SMB2_CLIENT_CREDENTIALS_FILE_H_
