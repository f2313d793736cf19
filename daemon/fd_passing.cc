#include "daemon/fd_passing.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rx {
namespace {

// A request carries at most three descriptors (stdin, stdout, stderr); room for more costs
// nothing and turns a sender's mistake into -EMSGSIZE instead of silently lost descriptors.
constexpr size_t kMaxFds = 16;

}  // namespace

int sendWithFds(int sock, std::string_view bytes, const std::vector<int>& fds) {
  if (fds.size() > kMaxFds) return -EINVAL;
  size_t sent = 0;
  bool fds_sent = fds.empty();
  while (sent < bytes.size() || !fds_sent) {
    iovec iov{const_cast<char*>(bytes.data() + sent), bytes.size() - sent};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
    if (!fds_sent) {
      // SCM_RIGHTS needs at least one byte of data to travel with.
      if (iov.iov_len == 0) return -EINVAL;
      msg.msg_control = control;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    const ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    fds_sent = true;
    sent += static_cast<size_t>(n);
  }
  return 0;
}

ssize_t receiveWithFds(int sock, char* buf, size_t len, std::deque<int>& fds, int flags) {
  iovec iov{buf, len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, flags | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds.push_back(fd);
    }
  }
  if (msg.msg_flags & MSG_CTRUNC) {
    // Descriptors beyond the control buffer were closed by the kernel; the ones that came would
    // be matched to the wrong request.
    for (int fd : fds) ::close(fd);
    fds.clear();
    return -EMSGSIZE;
  }
  return n;
}

}  // namespace rx
