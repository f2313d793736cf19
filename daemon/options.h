#pragma once
// rexecd's command line, parsed into plain values (unit-tested without running anything).
#include <optional>
#include <string>
#include <vector>

#include "daemon/server_limits.h"
#include "daemon/session_config.h"

namespace rx {

struct DaemonOptions {
  std::vector<std::string> listen;  // ADDR[:PORT]; empty: 0.0.0.0
  std::string authorized_keys = "/etc/rexecd/authorized_keys";
  std::string host_key = "/etc/rexecd/host_key";
  std::string init_host_key;
  bool print_fingerprint = false;
  std::string port_file;
  std::string log_level = "info";
  SessionConfig session;
  ServerLimits limits;
};

// Returns nothing when the daemon should run with `out` filled, or the exit status to leave with:
// 0 after --help, 2 after a bad command line (shown as one "rexecd: ..." line on stderr).
std::optional<int> parseDaemonOptions(int argc, const char* const* argv, DaemonOptions& out);

}  // namespace rx
