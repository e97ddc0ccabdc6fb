#include "smb2/client/credentials_file.h"

#include <openssl/crypto.h>
#include <sys/stat.h>

#include <fstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace smbd {
namespace {

void Wipe(std::string* s) {
  if (!s->empty()) OPENSSL_cleanse(s->data(), s->size());
  s->clear();
}

}  // namespace

absl::StatusOr<CredentialsFile> ReadCredentialsFile(const std::string& path) {
  CredentialsFile out;
  struct stat st;
  out.readable_by_others = stat(path.c_str(), &st) == 0 && (st.st_mode & 0077) != 0;
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read credentials file ", path));
  std::string line;
  while (std::getline(in, line)) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    const std::string key = absl::AsciiStrToLower(absl::StripAsciiWhitespace(kv.first));
    const absl::string_view value = absl::StripAsciiWhitespace(kv.second);
    if (key == "username") {
      out.user = std::string(value);
    } else if (key == "password") {
      out.password = SecretBytes::FromString(value);
      out.has_password = true;
    } else if (key == "domain") {
      out.domain = std::string(value);
    }
    // The line and the value may hold the password: leave no copy behind.
    Wipe(&kv.second);
    Wipe(&line);
  }
  return out;
}

}  // namespace smbd
