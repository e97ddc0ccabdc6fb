// The README's quick start, compiled and run against Samba by samba_interop_test, and compared
// with the README's code block by readme_test so that the two never drift apart.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "connect/connect.h"

namespace smbd {

absl::StatusOr<std::vector<uint8_t>> QuickStart(const std::string& host, uint16_t port,
                                                const std::string& user,
                                                const std::string& password) {
  // [quickstart]
  smbd::ClientOptions opts;  // require_signing, require_encryption, ciphers, timeouts...
  auto client = smbd::ConnectTcp(host, port, opts);
  if (!client.ok()) return client.status();
  smbd::Credentials cred;
  cred.user = user;
  cred.password = smbd::SecretBytes::FromString(password);
  auto session = (*client)->Login(cred);
  if (!session.ok()) return session.status();
  auto tree = (*session)->TreeConnect("share");
  if (!tree.ok()) return tree.status();
  auto file = (*tree)->Open("dir/results.bin", smbd::OpenOptions());
  if (!file.ok()) return file.status();
  std::vector<uint8_t> buf((*file)->size_at_open());
  auto n = (*file)->Read(0, absl::MakeSpan(buf));  // pipelined; TCP reads land in buf directly
  if (!n.ok()) return n.status();
  buf.resize(*n);
  // [/quickstart]
  return buf;
}

}  // namespace smbd
