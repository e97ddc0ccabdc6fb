// Tree: a connected share ([MS-SMB2] 3.2.4.2.4). Opens files and does the path operations that
// need no open handle of the caller's, each as one compound round trip where it can.
#ifndef SMBD_SMB2_CLIENT_TREE_H_
#define SMBD_SMB2_CLIENT_TREE_H_

#include <atomic>
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "absl/strings/string_view.h"
#include "smb2/client/file.h"
#include "smb2/client/lost_state.h"
#include "smb2/client/types.h"

namespace smbd {

class Session;
namespace client_internal {
class ClientContext;
}  // namespace client_internal

class Tree {
 public:
  // Internal: made by Session::TreeConnect.
  Tree(client_internal::ClientContext* context, Session* session, uint32_t id, bool encrypted,
       absl::string_view share);
  // Disconnects if still connected (errors ignored; use Disconnect() to see them).
  ~Tree();
  Tree(const Tree&) = delete;
  Tree& operator=(const Tree&) = delete;

  absl::StatusOr<std::unique_ptr<File>> Open(absl::string_view path, const OpenOptions& options);
  // CREATE + QUERY_INFO + CLOSE in one compound round trip.
  absl::StatusOr<FileInfo> Stat(absl::string_view path);
  // The server's network interfaces (FSCTL_QUERY_NETWORK_INTERFACE_INFO, [MS-SMB2]
  // 3.2.4.20.10): what multichannel would connect to. kUnimplemented (STATUS_NOT_SUPPORTED) from
  // a server without multichannel.
  absl::StatusOr<std::vector<ServerInterface>> QueryNetworkInterfaces();
  // CREATE + READ + CLOSE in one compound round trip for files up to dst.size() (and the max
  // read size): the data goes from the receive buffers straight into `dst` (a READ inside a
  // compound answer is not placed by the transport, so this is the one copy). A larger file is
  // refused with OutOfRange. Returns the bytes read.
  absl::StatusOr<uint32_t> ReadSmallFile(absl::string_view path, absl::Span<uint8_t> dst);
  // The same into a new string of the file's size (an allocation per call).
  absl::StatusOr<std::string> ReadSmallFile(absl::string_view path, uint32_t max_bytes);
  // Directory entries of `dir` ("" for the share's root), without "." and "..".
  absl::StatusOr<std::vector<FileInfo>> List(absl::string_view dir);
  // Streams the entries of `dir` ("." and ".." left out) to `visit` as they arrive, one
  // QUERY_DIRECTORY answer at a time; a visitor error stops the listing and is returned.
  absl::Status ListEach(absl::string_view dir,
                        const std::function<absl::Status(const FileInfo&)>& visit);
  absl::Status Mkdir(absl::string_view path);
  absl::Status Rmdir(absl::string_view path);
  absl::Status Delete(absl::string_view path);
  absl::Status Rename(absl::string_view from, absl::string_view to, bool replace = false);
  absl::Status Disconnect();

  // The tree's id: a new one after each reconnect.
  uint32_t id() const { return id_.load(std::memory_order_acquire); }
  bool encrypted() const { return encrypt_; }
  Session* session() const { return session_; }

 private:
  friend class Session;
  friend class File;

  // On a new connection (under the context's registry lock): TREE_CONNECT again, then every
  // file. Returns an error only when the connection dropped again; a refusal loses the tree.
  absl::Status Reestablish();
  // The tree (and its files) cannot be used any more, for `why`.
  void Lose(const absl::Status& why);
  void AddFile(File* file);     // under the registry lock
  void RemoveFile(File* file);  // under the registry lock
  absl::StatusOr<std::unique_ptr<File>> OpenOnce(absl::string_view path,
                                                 const OpenOptions& options,
                                                 const std::array<uint8_t, 16>& create_guid,
                                                 const std::array<uint8_t, 16>& lease_key);
  // Disconnect(); from the destructor without reconnecting first.
  absl::Status DisconnectImpl(bool may_reconnect);
  absl::Status ListEachOnce(absl::string_view dir,
                            const std::function<absl::Status(const FileInfo&)>& visit);
  // ReadSmallFile: `dest(n)` gives the n bytes' destination once the answer says how many.
  absl::StatusOr<uint32_t> ReadSmallFileTo(
      absl::string_view path, uint32_t max_bytes,
      absl::FunctionRef<absl::Span<uint8_t>(uint32_t)> dest);
  // Rmdir and Delete: open for DELETE, set the delete disposition, close.
  absl::Status DeletePath(absl::string_view path, bool directory);

  client_internal::ClientContext* const context_;
  Session* const session_;
  std::atomic<uint32_t> id_;
  const bool encrypt_;
  const std::string share_;
  std::atomic<bool> disconnected_{false};  // read by a re-establishment on another thread
  std::vector<File*> files_;  // guarded by the context's registry lock
  client_internal::LostState lost_;
};

}  // namespace smbd

#endif  // SMBD_SMB2_CLIENT_TREE_H_
