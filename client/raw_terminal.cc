#include "client/raw_terminal.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace rx {

termios makeRawTermios(const termios& in) {
  termios t = in;
  ::cfmakeraw(&t);
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  return t;
}

std::optional<TerminalSize> readTerminalSize(int fd) {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) != 0) return std::nullopt;
  return TerminalSize{
      std::min<uint32_t>(ws.ws_row, kMaxWindowCells), std::min<uint32_t>(ws.ws_col, kMaxWindowCells),
      std::min<uint32_t>(ws.ws_xpixel, kMaxWindowPixels), std::min<uint32_t>(ws.ws_ypixel, kMaxWindowPixels)};
}

std::string localTermName() {
  const char* term = std::getenv("TERM");
  if (term == nullptr || !validTermName(term)) return "";
  return term;
}

Status RawTerminal::enter(int fd, std::unique_ptr<RawTerminal>& out) {
  termios saved{};
  if (::tcgetattr(fd, &saved) != 0)
    return Status::Error(fmt::format("cannot read the terminal's settings: {}", std::strerror(errno)));
  const termios raw = makeRawTermios(saved);
  // TCSADRAIN, as OpenSSH: what we already wrote is shown with the old settings.
  int rc;
  do {
    rc = ::tcsetattr(fd, TCSADRAIN, &raw);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0)
    return Status::Error(fmt::format("cannot put the terminal in raw mode: {}", std::strerror(errno)));
  out.reset(new RawTerminal(fd, saved));
  return Status::Ok();
}

void RawTerminal::restore() {
  if (!active_) return;
  active_ = false;
  int rc;
  do {
    rc = ::tcsetattr(fd_, TCSADRAIN, &saved_);
  } while (rc != 0 && errno == EINTR);
}

}  // namespace rx
