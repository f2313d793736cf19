#include "daemon/pty.h"

#include <fcntl.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace rx {
namespace {

winsize toWinsize(const TerminalSize& size) {
  // The protocol's bounds (common/pty_request.h) keep every value inside unsigned short.
  winsize ws{};
  ws.ws_row = static_cast<unsigned short>(size.rows);
  ws.ws_col = static_cast<unsigned short>(size.cols);
  ws.ws_xpixel = static_cast<unsigned short>(size.width_px);
  ws.ws_ypixel = static_cast<unsigned short>(size.height_px);
  return ws;
}

}  // namespace

Status openPty(const TerminalSize& size, int& master, int& slave) {
  winsize ws = toWinsize(size);
  if (::openpty(&master, &slave, nullptr, nullptr, &ws) != 0)
    return Status::Error(fmt::format("cannot open a pseudo-terminal: {}", std::strerror(errno)));
  // The loop spawns other commands on this thread only, so nothing forks between openpty and
  // here; without close-on-exec every later command would hold this terminal open.
  for (int fd : {master, slave}) {
    if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
      const int err = errno;
      ::close(master);
      ::close(slave);
      return Status::Error(fmt::format("cannot set up a pseudo-terminal: {}", std::strerror(err)));
    }
  }
  return Status::Ok();
}

int resizePty(int master, const TerminalSize& size) {
  winsize ws = toWinsize(size);
  return ::ioctl(master, TIOCSWINSZ, &ws) == 0 ? 0 : -errno;
}

}  // namespace rx
