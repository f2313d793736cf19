#pragma once
// The Unix socket a connection-sharing master (rexec -M -S PATH) listens on, and that rexec -S
// connects to. Plain system calls: a connect to a local socket answers at once, so the one-shot
// client learns whether a master is there before it loads a key or sets up TLS.
//
// A master appears at PATH only when it can serve, as OpenSSH's does: it binds a socket of its
// own beside PATH (PATH.XXXXXXXX), listens there once its connection is authenticated, and then
// link()s it to PATH, which fails if another master got there first. So two masters started at
// once (rexec -S PATH --persist starts one when none answers) never take each other's place, and
// a client never finds a master at PATH that is not yet listening.
#include <sys/types.h>

#include <cstdint>

#include <string>

#include "common/status.h"

namespace rx {

// The longest PATH: a sockaddr_un's path less the master's suffix for its own socket.
size_t maxControlPathSize();

// -S PATH with ssh's tokens for ControlPath expanded: %h the host (as given, without brackets),
// %p the port, %% a %; so one alias (rexec -S ~/.cache/rexec/%h:%p --persist 600) shares a
// connection per host. Any other token, or a host with a '/', is an error.
Status expandControlPath(const std::string& pattern, const std::string& host, uint16_t port,
                         std::string& out);

// A connected socket to the master at `path`, or -1 when none answers there (no such file, a
// stale socket, no permission); `error` then says why. The caller owns the descriptor.
int connectControlSocket(const std::string& path, std::string& error);

// For a master about to start: an error when `path` cannot become its socket (too long, a live
// master there, or a file that is not a socket). A stale socket there is fine: it is replaced
// when the master publishes its own. `taken`: the error is that a master answers there.
Status checkControlPath(const std::string& path, bool& taken);

// The master's own socket, bound beside `path` (named in `bound_path`), mode 0600, not yet
// listening and not yet at `path`.
Status bindControlSocket(const std::string& path, int& fd, std::string& bound_path);

// Puts the listening socket at `bound_path` in place at `path` (replacing a stale socket) and
// removes the name `bound_path`. On failure `taken` says whether another master is there now;
// `bound_path` is removed either way.
struct PublishedSocket {
  dev_t dev = 0;
  ino_t ino = 0;
};
Status publishControlSocket(const std::string& bound_path, const std::string& path,
                            PublishedSocket& published, bool& taken);

// Removes `path` if it is still the socket this master published (another master may have
// replaced it after this one's was removed by hand).
void unpublishControlSocket(const std::string& path, const PublishedSocket& published);

// Whether the process at the other end of the connected Unix socket `fd` runs as this process's
// user (SO_PEERCRED): only it may use the master's authenticated connection. `pid`: that process.
bool peerIsThisUser(int fd, std::string& who, pid_t* pid = nullptr);

// A connection to a master of this user at `path`, for a command (rexec -S, one host or many) or
// a question (-O). A master there that runs as another user (a squatted shared folder) would see
// the command, its environment and its stdin: it is refused, not bypassed, and `refusal` says so.
// With neither, `why` says why nobody answers (the caller then connects directly).
struct MasterConnection {
  int fd = -1;
  pid_t pid = 0;
  std::string refusal;
  std::string why;
};
MasterConnection connectOwnMaster(const std::string& path);

}  // namespace rx
