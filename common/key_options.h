#pragma once
// Per-key restrictions in the daemon's authorized keys file, in the manner of OpenSSH's
// authorized_keys options: comma-separated, before the key type.
//   command="..."  forced command (the requested one goes to REXEC_ORIGINAL_COMMAND)
//   from="CIDR,..." source addresses the key may be used from
//   user=NAME       run commands as this user (daemon running as root)
//   env="A,B*"      names of environment variables this key may set (replaces the default list)
//   no-stdin        the command always reads /dev/null
//   max-jobs=N      at most N commands at once on one connection
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace rx {

struct KeyOptions {
  std::optional<std::string> command;
  std::vector<std::string> from;  // CIDR blocks as written; empty: any source
  std::optional<std::string> user;
  std::optional<std::vector<std::string>> env;
  bool no_stdin = false;
  std::optional<size_t> max_jobs;
};

// Parses the options field (everything before the key type). Unknown options are an error.
Status parseKeyOptions(std::string_view text, KeyOptions& out);

}  // namespace rx
