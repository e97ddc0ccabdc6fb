// Tree: a connected share ([MS-SMB2] 3.2.4.2.4). Opens files and does the path operations that
// need no open handle of the caller's, each as one compound round trip where it can.
#ifndef SMBD_SMB2_CLIENT_TREE_H_
#define SMBD_SMB2_CLIENT_TREE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "smb2/client/file.h"
#include "smb2/client/types.h"

namespace smbd {

class Session;
namespace client_internal {
class ClientContext;
}  // namespace client_internal

class Tree {
 public:
  // Internal: made by Session::TreeConnect.
  Tree(client_internal::ClientContext* context, Session* session, uint32_t id, bool encrypted);
  // Disconnects if still connected (errors ignored; use Disconnect() to see them).
  ~Tree();
  Tree(const Tree&) = delete;
  Tree& operator=(const Tree&) = delete;

  absl::StatusOr<std::unique_ptr<File>> Open(absl::string_view path, const OpenOptions& options);
  // CREATE + QUERY_INFO + CLOSE in one compound round trip.
  absl::StatusOr<FileInfo> Stat(absl::string_view path);
  // CREATE + READ + CLOSE in one compound round trip for files up to the max read size; a
  // larger file is refused with OutOfRange. Returns the bytes read.
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

  uint32_t id() const { return id_; }
  bool encrypted() const { return encrypt_; }
  Session* session() const { return session_; }

 private:
  // Rmdir and Delete: open for DELETE, set the delete disposition, close.
  absl::Status DeletePath(absl::string_view path, bool directory);

  client_internal::ClientContext* const context_;
  Session* const session_;
  const uint32_t id_;
  const bool encrypt_;
  bool disconnected_ = false;
};

}  // namespace smbd

#endif  // SMBD_SMB2_CLIENT_TREE_H_
