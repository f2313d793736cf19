#pragma once
// rexec -S PATH -O check|exit HOST: asks the connection-sharing master on PATH about itself,
// as ssh -O check / -O exit do. Blocking and loop-free: one local connection, the master's
// greeting (which names its target), and for `exit` a SIGTERM to the process that answered,
// sent through a pidfd so that it cannot reach another process that took its pid.
#include <cstdint>
#include <string>

namespace rx {

// `target_label`: the HOST:PORT label (known_hosts form) the master must serve. Returns the exit
// status: 0 when a master for that target answered (check) or has stopped (exit), else 255 with
// one "rexec: ..." line.
// `timeout_ms` (--connect-timeout) bounds the wait for the greeting, and for `exit` the wait for
// the master to be gone.
int controlMaster(const std::string& command, const std::string& path, const std::string& target_label,
                  uint64_t timeout_ms);

}  // namespace rx
