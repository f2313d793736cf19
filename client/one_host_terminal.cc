// OneHostCommand's side of rexec -t (client/one_host_command.h).
#include <signal.h>
#include <unistd.h>

#include <cstdio>

#include "client/one_host_command.h"

namespace rx {

void OneHostCommand::startTerminal() {
  if (!exec_.ptyActive()) {
    // An older server: as ssh does when a pty request fails, the command still runs, on pipes.
    std::fprintf(stderr, "rexec: %s: the server offers no terminals; running the command without one\n",
                 exec_.target().host.c_str());
    return;
  }
  // Raw mode only now: until the request went out the terminal may still have asked about the
  // host key, in the usual cooked mode. Without a local terminal (-tt) there is nothing to change.
  if (::isatty(STDIN_FILENO)) {
    if (Status s = RawTerminal::enter(STDIN_FILENO, raw_); !s) {
      exec_.abort(s.message());
      return;
    }
  }
  uv_signal_init(loop_, &sig_winch_);
  sig_winch_.data = this;
  winch_started_ = true;
  uv_signal_start(
      &sig_winch_, [](uv_signal_t* s, int) { static_cast<OneHostCommand*>(s->data)->onWindowChanged(); },
      SIGWINCH);
  onWindowChanged();  // a resize between reading the size for the request and now
}

void OneHostCommand::onWindowChanged() {
  if (finished_) return;
  const std::optional<TerminalSize> size = readTerminalSize(STDIN_FILENO);
  if (!size || *size == sent_size_) return;
  sent_size_ = *size;
  exec_.sendWindowChange(*size);
}

void OneHostCommand::leaveRawMode() {
  if (raw_) raw_->restore();
}

}  // namespace rx
