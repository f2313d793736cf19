#include "client/control_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace rx {
namespace {

bool makeAddress(const std::string& path, sockaddr_un& addr, std::string& error) {
  addr = {};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path) || path.find('\0') != std::string::npos) {
    error = fmt::format("control socket path must be 1 to {} bytes", sizeof(addr.sun_path) - 1);
    return false;
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return true;
}

}  // namespace

int connectControlSocket(const std::string& path, std::string& error) {
  sockaddr_un addr;
  if (!makeAddress(path, addr, error)) return -1;
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::strerror(errno);
    return -1;
  }
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    error = fmt::format("{}: {}", path, std::strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

Status bindControlSocket(const std::string& path, int& fd) {
  sockaddr_un addr;
  std::string error;
  if (!makeAddress(path, addr, error)) return Status::Error(error);
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Status::Error(fmt::format("{} exists and is not a socket", path));
    if (const int live = connectControlSocket(path, error); live >= 0) {
      close(live);
      return Status::Error(fmt::format("a master already listens on {}", path));
    }
    // Left behind by a master that did not stop cleanly.
    if (unlink(path.c_str()) != 0 && errno != ENOENT)
      return Status::Error(fmt::format("cannot remove the stale socket {}: {}", path, std::strerror(errno)));
  }
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Status::Error(fmt::format("socket: {}", std::strerror(errno)));
  // Created 0600 from the start: no moment in which another user could connect. (The peer's
  // user is checked on every connection as well.)
  const mode_t old_mask = umask(0177);
  const int bound = bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  const int bind_errno = errno;
  umask(old_mask);
  if (bound != 0) {
    close(fd);
    fd = -1;
    return Status::Error(fmt::format("cannot bind {}: {}", path, std::strerror(bind_errno)));
  }
  return Status::Ok();
}

bool peerIsThisUser(int fd, std::string& who) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    who = fmt::format("unknown peer ({})", std::strerror(errno));
    return false;
  }
  who = fmt::format("pid {} uid {}", cred.pid, cred.uid);
  return cred.uid == getuid();
}

}  // namespace rx
