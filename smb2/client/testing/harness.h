// Runs a ScriptedSmb2Server against the real Client over either transport (testonly):
//  - Direct TCP: a socketpair, TcpTransport on both ends, a server thread feeding frames to the
//    script;
//  - SMB Direct: the client's SmbDirectTransport on a FakeRdmaNetwork endpoint, the peer end a
//    FakeSmbDirectServer whose handler feeds the script and whose Context is the RDMA channel.
// Either way the script answers through a FrameSink, so no SMB2 logic is duplicated.
#ifndef SMBD_SMB2_CLIENT_TESTING_HARNESS_H_
#define SMBD_SMB2_CLIENT_TESTING_HARNESS_H_

#include <memory>

#include "absl/status/status.h"
#include "smb2/client/client.h"
#include "smbdirect/fake_smbdirect_server.h"
#include "smbdirect/fake_verbs.h"
#include "smbdirect/smbdirect_transport.h"
#include "smb2/client/testing/scripted_server.h"

namespace smbd {
namespace scripted {

enum class TransportKind { kTcp, kSmbDirect };
const char* TransportName(TransportKind kind);

struct RigOptions {
  // The script's misbehavior and limits; the dialect is chosen per transport (2.1 over TCP,
  // 3.0.2 over SMB Direct, where the client uses the RDMA channel only from 3.0 on).
  ScriptedSmb2Server::Options script;
  ClientOptions client;
  // SMB Direct only.
  FakeSmbDirectServerOptions smbd_server;
  SmbDirectOptions smbd_client;

  RigOptions() {
    client.request_timeout = absl::Seconds(2);
    client.credits.target = 64;
    smbd_client.negotiate_timeout = absl::Seconds(2);
    // A peer that stops granting credits fails a sender after this, not after a minute.
    smbd_client.send_timeout = absl::Seconds(2);
  }
};

// The server end of one connection: the script and its transport.
class ServerEnd {
 public:
  virtual ~ServerEnd() = default;
  ScriptedSmb2Server& script() { return script_; }
  // SMB Direct only (nullptr over TCP).
  virtual FakeSmbDirectServer* smbd() { return nullptr; }

 protected:
  explicit ServerEnd(const ScriptedSmb2Server::Options& options) : script_(options) {}
  ScriptedSmb2Server script_;
};

// One connection. Members are destroyed client first, then the server.
struct Rig {
  std::unique_ptr<ServerEnd> server;
  std::unique_ptr<Client> client;
};

// Starts a server over `kind` and connects a Client to it (NEGOTIATE done). Over SMB Direct the
// connection is made on `net` (net->Connect: counted by its fault injection), which must
// outlive the rig. On error, `rig` holds what was made so far (destroy it as usual).
absl::Status ConnectRig(TransportKind kind, FakeRdmaNetwork* net, RigOptions options, Rig* rig);

// Serves the script on a connected Direct TCP socket (taking `fd`): for tests that run a
// client in another process (smbd-cat) against it.
std::unique_ptr<ServerEnd> ServeTcpSocket(int fd, const ScriptedSmb2Server::Options& options);

}  // namespace scripted
}  // namespace smbd

#endif  // SMBD_SMB2_CLIENT_TESTING_HARNESS_H_
