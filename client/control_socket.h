#pragma once
// The Unix socket a connection-sharing master (rexec -M -S PATH) listens on, and that rexec -S
// connects to. Plain system calls: a connect to a local socket answers at once, so the one-shot
// client learns whether a master is there before it loads a key or sets up TLS.
#include <string>

#include "common/status.h"

namespace rx {

// A connected socket to the master at `path`, or -1 when none answers there (no such file, a
// stale socket, no permission); `error` then says why. The caller owns the descriptor.
int connectControlSocket(const std::string& path, std::string& error);

// A socket bound at `path`, mode 0600, not yet listening: until the master listen()s (once its
// connection is authenticated), a client's connect is refused at once and it connects directly.
// A stale socket (nobody answers) is replaced; a live master or any other kind of file there is an
// error.
Status bindControlSocket(const std::string& path, int& fd);

// Whether the process at the other end of the connected Unix socket `fd` runs as this process's
// user (SO_PEERCRED): only it may use the master's authenticated connection.
bool peerIsThisUser(int fd, std::string& who);

}  // namespace rx
