// LocalSocketDir: the private directory that holds a server shard's Unix
// socket (PsServerOptions::local_socket_parent). Created with mode 0700, so
// only this user (and root) can reach the socket inside, whatever the umask;
// removed, with the socket file, when the object is destroyed.
//
// A server killed with SIGKILL cannot remove its directory; Create first
// removes such leftovers of this user under the same parent (see
// RemoveDeadServerDirs).
#ifndef DIPS_PS_SERVER_LOCAL_SOCKET_DIR_H_
#define DIPS_PS_SERVER_LOCAL_SOCKET_DIR_H_

#include <memory>
#include <string>

#include "common/status.h"

namespace dips {

class LocalSocketDir {
 public:
  // Makes parent/dips-ps-XXXXXX. Unavailable if it cannot be made;
  // InvalidArgument if the socket's path would not fit a sockaddr_un.
  static StatusOr<std::unique_ptr<LocalSocketDir>> Create(const std::string& parent);
  // Removes the socket file (if any) and the directory. The socket must be
  // closed first.
  ~LocalSocketDir();

  LocalSocketDir(const LocalSocketDir&) = delete;
  LocalSocketDir& operator=(const LocalSocketDir&) = delete;

  // Where the socket goes: the directory + "/shard".
  const std::string& socket_path() const { return socket_path_; }

 private:
  explicit LocalSocketDir(std::string dir);

  const std::string dir_;
  const std::string socket_path_;
};

// Removes this user's dips-ps-* directories under `parent` whose socket
// nobody listens on (connect refused) and was last changed over `min_age_s`
// seconds ago (a server between its bind and its listen is younger).
// Returns how many it removed.
int RemoveDeadServerDirs(const std::string& parent, int min_age_s = 60);

}  // namespace dips

#endif  // DIPS_PS_SERVER_LOCAL_SOCKET_DIR_H_
