#include "ps/server/local_socket_dir.h"

#include <dirent.h>
#include <glog/logging.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

namespace dips {
namespace {

constexpr char kPrefix[] = "dips-ps-";
constexpr size_t kMaxSocketPath = sizeof(sockaddr_un{}.sun_path) - 1;

// Whether a Unix socket at `path` exists and refuses connections.
bool NobodyListens(const std::string& path) {
  if (path.size() > kMaxSocketPath) return false;
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  const bool refused =
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 && errno == ECONNREFUSED;
  close(fd);
  return refused;
}

}  // namespace

LocalSocketDir::LocalSocketDir(std::string dir)
    : dir_(std::move(dir)), socket_path_(dir_ + "/shard") {}

StatusOr<std::unique_ptr<LocalSocketDir>> LocalSocketDir::Create(const std::string& parent) {
  RemoveDeadServerDirs(parent);
  std::string dir = parent + "/" + kPrefix + "XXXXXX";
  if (dir.size() + std::strlen("/shard") > kMaxSocketPath) {
    return InvalidArgumentError("a Unix socket under " + parent + " would have a path longer than " +
                                std::to_string(kMaxSocketPath) +
                                " bytes; choose a shorter parent directory");
  }
  // mkdtemp makes the directory with mode 0700.
  if (mkdtemp(dir.data()) == nullptr) {
    return UnavailableError("cannot create a directory for the server's Unix socket under " +
                            parent + ": " + std::strerror(errno));
  }
  return std::unique_ptr<LocalSocketDir>(new LocalSocketDir(std::move(dir)));
}

LocalSocketDir::~LocalSocketDir() {
  if (unlink(socket_path_.c_str()) != 0 && errno != ENOENT) {
    LOG(WARNING) << "cannot remove " << socket_path_ << ": " << std::strerror(errno);
  }
  if (rmdir(dir_.c_str()) != 0) {
    LOG(WARNING) << "cannot remove " << dir_ << ": " << std::strerror(errno);
  }
}

int RemoveDeadServerDirs(const std::string& parent, int min_age_s) {
  DIR* d = opendir(parent.c_str());
  if (d == nullptr) return 0;
  const time_t now = time(nullptr);
  int removed = 0;
  while (const dirent* entry = readdir(d)) {
    if (std::strncmp(entry->d_name, kPrefix, std::strlen(kPrefix)) != 0) continue;
    const std::string dir = parent + "/" + entry->d_name;
    const std::string path = dir + "/shard";
    struct stat st;
    if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) continue;
    if (lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode) ||
        now - st.st_mtime < min_age_s || !NobodyListens(path)) {
      continue;
    }
    if (unlink(path.c_str()) == 0 && rmdir(dir.c_str()) == 0) {
      LOG(INFO) << "removed " << dir << ", left by a server that did not stop cleanly";
      ++removed;
    }
  }
  closedir(d);
  return removed;
}

}  // namespace dips
