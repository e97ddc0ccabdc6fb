// A C++ program that uses the installed library's C++ API, built with nothing but c++ and
// pkg-config (tests/install/run-suite): streams smb://.../share/PATH to stdout.
// Usage: consumer++ URL PATH (password in SMBD_PASSWORD).
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "connect/connect.h"
#include "smb2/client/client.h"
#include "smb2/client/url.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: " << argv[0] << " URL PATH\n";
    return 2;
  }
  auto url = smbd::ParseSmbUrl(argv[1]);
  if (!url.ok()) {
    std::cerr << url.status() << "\n";
    return 1;
  }
  smbd::ConnectSpec spec;
  spec.host = url->host;
  spec.port = url->port;
  spec.transport = smbd::TransportChoice::kTcp;
  auto client = smbd::ConnectClient(spec, nullptr);
  if (!client.ok()) {
    std::cerr << client.status() << "\n";
    return 1;
  }
  smbd::Credentials cred;
  cred.user = url->user;
  const char* pw = std::getenv("SMBD_PASSWORD");
  cred.password = smbd::SecretBytes::FromString(pw != nullptr ? pw : "");
  auto session = (*client)->Login(cred);
  if (!session.ok()) {
    std::cerr << session.status() << "\n";
    return 1;
  }
  auto tree = (*session)->TreeConnect(url->share);
  if (!tree.ok()) {
    std::cerr << tree.status() << "\n";
    return 1;
  }
  auto file = (*tree)->Open(argv[2], smbd::OpenOptions());
  if (!file.ok()) {
    std::cerr << file.status() << "\n";
    return 1;
  }
  auto n = (*file)->ReadTo(0, UINT64_MAX, [](absl::Span<const uint8_t> bytes) {
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
    return absl::OkStatus();
  });
  if (!n.ok()) {
    std::cerr << n.status() << "\n";
    return 1;
  }
  return 0;
}
