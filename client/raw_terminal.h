#pragma once
// The local terminal for `rexec -t`: raw mode while the remote command owns the screen, and the
// saved settings put back on every way out. One RawTerminal owns the saved settings; restore()
// is idempotent and the destructor calls it, so an early return cannot leave the terminal raw.
#include <termios.h>

#include <memory>
#include <optional>
#include <string>

#include "common/pty_request.h"
#include "common/status.h"

namespace rx {

// `in` made raw as cfmakeraw(3) does: no echo, no line editing, no signals from ^C/^Z/^\, no
// output processing (the remote terminal already turned \n into \r\n), 8-bit bytes, and a read
// returns as soon as one byte is there.
termios makeRawTermios(const termios& in);

// The window size of terminal `fd`, each field clamped to the protocol's bounds; nullopt when
// `fd` is not a terminal or cannot say.
std::optional<TerminalSize> readTerminalSize(int fd);

// $TERM when it is a valid terminal name for the protocol, else empty.
std::string localTermName();

class RawTerminal {
 public:
  // Saves the settings of terminal `fd`, then makes it raw.
  static Status enter(int fd, std::unique_ptr<RawTerminal>& out);
  ~RawTerminal() { restore(); }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

  // Puts the saved settings back (once; later calls do nothing).
  void restore();
  bool active() const { return active_; }

 private:
  RawTerminal(int fd, const termios& saved) : fd_(fd), saved_(saved) {}
  int fd_;
  termios saved_;
  bool active_ = true;
};

}  // namespace rx
