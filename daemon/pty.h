#pragma once
// The daemon's pseudo-terminals, for commands started with a PtyRequest.
//
// The spawn helper's start of a command (daemon/start_child.h, uv_spawn's steps) runs no terminal
// code in the child, and a terminal becomes a process's controlling terminal only through its own
// setsid() + ioctl(TIOCSCTTY). So a pty job is spawned as rexecd itself in a tiny internal mode,
// `rexecd --pty-exec PROG ARG...` (ptyExecMain): the helper has already made it a session
// leader, changed its user and directory and put the terminal on fds 0, 1 and 2; it takes the
// terminal as its controlling terminal and execs PROG. Its pid is the command's pid, session and
// process group, so the job's process-group kill works as for any other command.
#include <cstdint>

#include "common/pty_request.h"
#include "common/status.h"

namespace rx {

inline constexpr const char* kPtyExecFlag = "--pty-exec";

// Opens a terminal pair sized `size`; both descriptors close-on-exec, the slave without making
// it anybody's controlling terminal.
Status openPty(const TerminalSize& size, int& master, int& slave);

// TIOCSWINSZ on the master: the kernel sends SIGWINCH to the terminal's foreground process group
// when the size changes. Returns 0 or -errno.
int resizePty(int master, const TerminalSize& size);

// The internal mode (argv: rexecd --pty-exec PROG ARG...). Returns only on failure, with the
// exit status a shell would give: 127 when PROG was not found, 126 when it could not run.
int ptyExecMain(int argc, char** argv);

}  // namespace rx
