#pragma once
// Bytes and open descriptors over a Unix stream socket (SCM_RIGHTS), for rexecd and its spawn
// helper (daemon/spawner.h). No libuv here: plain system calls, so tests drive them on a
// socketpair.
#include <sys/types.h>

#include <deque>
#include <string_view>
#include <vector>

namespace rx {

// Sends all of `bytes`, with `fds` attached to the first byte (the receiver gets them with it).
// The socket may be blocking; EINTR is retried. Returns 0 or -errno (-EAGAIN: the socket's send
// timeout passed).
int sendWithFds(int sock, std::string_view bytes, const std::vector<int>& fds);

// One recvmsg(2) of at most `len` bytes: the descriptors that came with them are appended to
// `fds` (close-on-exec). Returns the byte count (0 at end of file) or -errno; -EMSGSIZE when
// descriptors were cut off (more than this reads at once), after closing those that came.
ssize_t receiveWithFds(int sock, char* buf, size_t len, std::deque<int>& fds, int flags);

}  // namespace rx
