#include "client/control_socket.h"

#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace rx {
namespace {

// ".XXXXXXXX": the master's own name for its socket until it is published.
constexpr size_t kBoundSuffixSize = 9;

bool makeAddress(const std::string& path, sockaddr_un& addr, std::string& error) {
  addr = {};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() + kBoundSuffixSize >= sizeof(addr.sun_path) ||
      path.find('\0') != std::string::npos) {
    error = fmt::format("control socket path must be 1 to {} bytes", maxControlPathSize());
    return false;
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return true;
}

// The state of `path`: nothing there, a master answering, a socket nobody answers on (left by
// a master that did not stop cleanly), or something else.
enum class PathState { Missing, Live, Stale, NotSocket };

PathState pathState(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return PathState::Missing;
  if (!S_ISSOCK(st.st_mode)) return PathState::NotSocket;
  std::string error;
  if (const int live = connectControlSocket(path, error); live >= 0) {
    close(live);
    return PathState::Live;
  }
  return PathState::Stale;
}

}  // namespace

Status expandControlPath(const std::string& pattern, const std::string& host, uint16_t port,
                         std::string& out) {
  out.clear();
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%') {
      out += pattern[i];
      continue;
    }
    const char token = i + 1 < pattern.size() ? pattern[++i] : '\0';
    if (token == '%') {
      out += '%';
    } else if (token == 'h') {
      if (host.find('/') != std::string::npos)
        return Status::Error(fmt::format("-S {}: the host {} cannot be part of a path", pattern, host));
      out += host;
    } else if (token == 'p') {
      out += std::to_string(port);
    } else {
      return Status::Error(fmt::format("-S {}: unknown token %{} (known: %h the host, %p the port, %% a %)",
                                       pattern, token == '\0' ? std::string() : std::string(1, token)));
    }
  }
  return Status::Ok();
}

size_t maxControlPathSize() { return sizeof(sockaddr_un::sun_path) - 1 - kBoundSuffixSize; }

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

Status checkControlPath(const std::string& path, bool& taken) {
  taken = false;
  sockaddr_un addr;
  if (std::string error; !makeAddress(path, addr, error)) return Status::Error(error);
  switch (pathState(path)) {
    case PathState::Live:
      taken = true;
      return Status::Error(fmt::format("a master already listens on {}", path));
    case PathState::NotSocket:
      return Status::Error(fmt::format("{} exists and is not a socket", path));
    case PathState::Missing:
    case PathState::Stale:
      break;
  }
  return Status::Ok();
}

Status bindControlSocket(const std::string& path, int& fd, std::string& bound_path) {
  uint32_t nonce = 0;
  if (getrandom(&nonce, sizeof nonce, 0) != sizeof nonce)
    return Status::Error(fmt::format("getrandom: {}", std::strerror(errno)));
  sockaddr_un addr;
  if (std::string error; !makeAddress(path, addr, error)) return Status::Error(error);
  // makeAddress left room for the suffix.
  bound_path = fmt::format("{}.{:08x}", path, nonce);
  std::memcpy(addr.sun_path, bound_path.data(), bound_path.size());
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Status::Error(fmt::format("socket: {}", std::strerror(errno)));
  // Created 0600 from the start: no moment in which another user could connect. (The peer's
  // user is checked on every connection as well.) link() keeps the mode.
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

Status publishControlSocket(const std::string& bound_path, const std::string& path,
                            PublishedSocket& published, bool& taken) {
  taken = false;
  Status result = Status::Ok();
  // Two tries: the second after removing a stale socket found at the first.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (link(bound_path.c_str(), path.c_str()) == 0) {
      struct stat st;
      if (stat(path.c_str(), &st) == 0) published = {st.st_dev, st.st_ino};
      result = Status::Ok();
      break;
    }
    if (errno != EEXIST) {
      result = Status::Error(fmt::format("cannot create {}: {}", path, std::strerror(errno)));
      break;
    }
    const PathState state = pathState(path);
    if (state == PathState::Live) {
      taken = true;
      result = Status::Error(fmt::format("a master already listens on {}", path));
      break;
    }
    if (state == PathState::NotSocket) {
      result = Status::Error(fmt::format("{} exists and is not a socket", path));
      break;
    }
    if (state == PathState::Stale && unlink(path.c_str()) != 0 && errno != ENOENT) {
      result =
          Status::Error(fmt::format("cannot remove the stale socket {}: {}", path, std::strerror(errno)));
      break;
    }
    result = Status::Error(fmt::format("cannot create {}: another socket keeps appearing there", path));
  }
  unlink(bound_path.c_str());
  return result;
}

void unpublishControlSocket(const std::string& path, const PublishedSocket& published) {
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && st.st_dev == published.dev && st.st_ino == published.ino)
    unlink(path.c_str());
}

bool peerIsThisUser(int fd, std::string& who, pid_t* pid) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    who = fmt::format("unknown peer ({})", std::strerror(errno));
    return false;
  }
  who = fmt::format("pid {} uid {}", cred.pid, cred.uid);
  if (pid) *pid = cred.pid;
  return cred.uid == getuid();
}

MasterConnection connectOwnMaster(const std::string& path) {
  MasterConnection m;
  const int fd = connectControlSocket(path, m.why);
  if (fd < 0) return m;
  if (std::string who; !peerIsThisUser(fd, who, &m.pid)) {
    m.refusal = fmt::format("{}: the master there is not this user's ({}); not used", path, who);
    close(fd);
    return m;
  }
  m.fd = fd;
  return m;
}

}  // namespace rx
