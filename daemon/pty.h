#pragma once
// The daemon's pseudo-terminals, for commands started with a PtyRequest.
//
// rexecd opens the pair; the spawn helper puts the slave on the command's fds 0, 1 and 2 and, in
// the child's new session, makes it the controlling terminal (ioctl TIOCSCTTY, which only the
// process itself can do: daemon/start_child.h) before the exec. The command's pid is its session
// and process group, so the job's process-group kill works as for any other command. (Before the
// helper ran code of its own in the child, this took an exec of rexecd in between,
// `rexecd --pty-exec`.)
#include <cstdint>

#include "common/pty_request.h"
#include "common/status.h"

namespace rx {

// Opens a terminal pair sized `size`; both descriptors close-on-exec, the slave without making
// it anybody's controlling terminal.
Status openPty(const TerminalSize& size, int& master, int& slave);

// TIOCSWINSZ on the master: the kernel sends SIGWINCH to the terminal's foreground process group
// when the size changes. Returns 0 or -errno.
int resizePty(int master, const TerminalSize& size);

}  // namespace rx
