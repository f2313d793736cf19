// The pseudo-terminal parts of Job (daemon/job.h): setting up the terminal for the spawn, signals
// to its foreground process group, and window size changes.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "common/signal_names.h"
#include "daemon/job.h"
#include "daemon/pty.h"

namespace rx {

int Job::preparePty(uv_stdio_container_t stdio[3], int& slave) {
  int master = -1;
  if (Status s = openPty(*spec_.pty, master, slave); !s) {
    const int err = -errno;
    log::warning("exec {}: {}", spec_.exec_id, s.message());
    return err != 0 ? err : UV_EIO;
  }
  // Two handles on one terminal (libuv allows one handle per descriptor): stdout_ reads the master,
  // stdin_ writes a duplicate of it, so both keep the back-pressure and life cycle of pipes.
  int err = uv_pipe_open(&stdout_.handle, master);
  if (err != 0) {
    ::close(master);
  } else {
    pty_master_ = master;
    if (!stdin_.open) {
      uv_pipe_init(launcher_.loop_, &stdin_.handle, 0);
      stdin_.open = true;
      ++open_handles_;
    }
    const int input = ::fcntl(master, F_DUPFD_CLOEXEC, 0);
    err = input < 0 ? -errno : uv_pipe_open(&stdin_.handle, input);
    if (err != 0 && input >= 0) ::close(input);
  }
  // Everything the command writes, stderr included, comes out of the one master.
  finishPipe(stderr_);
  if (err != 0) {
    ::close(slave);
    slave = -1;
    return err;
  }
  for (int i = 0; i < 3; ++i) {
    stdio[i].flags = UV_INHERIT_FD;
    stdio[i].data.fd = slave;
  }
  return 0;
}

void Job::signalForeground(int signo) {
  if (pty_master_ < 0 || !stdout_.open) return;
  // An interactive shell puts each job in a process group of its own, which kill(-pid) misses.
  // TIOCSIG reaches the terminal's foreground group, whichever it is, and only within the
  // terminal's own session (the kernel keeps track of it, so there is no pid to go stale).
  if (::ioctl(pty_master_, TIOCSIG, signo) != 0 && errno != EINVAL && errno != EIO)
    log::debug("exec {}: TIOCSIG {}: {}", spec_.exec_id, signalName(signo), std::strerror(errno));
}

void Job::resizeTerminal(const TerminalSize& size) {
  if (pty_master_ < 0 || !stdout_.open) return;
  if (const int err = resizePty(pty_master_, size); err != 0)
    log::warning("exec {}: cannot resize the terminal: {}", spec_.exec_id, std::strerror(-err));
}

}  // namespace rx
