#pragma once
// Per-key restrictions in the daemon's authorized keys file, in the manner of OpenSSH's
// authorized_keys options: comma-separated, before the key type, for example
//   command="/usr/bin/backup --daily",from="127.0.0.0/8,::1",no-stdin,max-jobs=2 ed25519 AAAA... c
//
//   command="..."    forced command: the daemon runs /bin/sh -c "..." whatever the client asked;
//                    the request goes to REXEC_ORIGINAL_COMMAND and never runs
//   from="CIDR,..."  source addresses the key may be used from (IPv4 and IPv6 blocks, a bare
//                    address is a block of one; see common/cidr.h)
//   user=NAME        run commands as this account (the daemon must be root, or be NAME)
//   env="A,B*"       names the client may set in the environment (replaces the daemon's list)
//   no-stdin         the command always reads /dev/null (and so never gets a terminal either)
//   no-pty           no pseudo-terminal (ExecRequest.pty is refused), as OpenSSH's no-pty
//   max-jobs=N       at most N commands at once on one connection (N >= 1)
//
// Syntax. Option names are lowercase and exact. A value follows '=' and is either bare (no
// comma, blank or double quote in it) or in double quotes, where it may hold commas and blanks;
// inside quotes \" is a quote and \\ a backslash, and any other backslash is kept as it is (so
// command="printf 'a\n'" means what it says). Unknown, repeated, valueless or malformed options
// are errors, and every error names its option, so the daemon refuses to start with
// "FILE:LINE: option NAME: reason".
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/cidr.h"
#include "common/run_as_user.h"
#include "common/status.h"

namespace rx {

struct KeyOptions {
  std::optional<std::string> command;
  std::vector<Cidr> from;  // empty: any source
  std::optional<RunAsUser> user;
  std::optional<std::vector<std::string>> env;  // NAME or PREFIX*; may be empty (accept nothing)
  bool no_stdin = false;
  bool no_pty = false;
  std::optional<size_t> max_jobs;

  // Whether a client at `peer` may use the key (always, without from=; never from an unknown
  // address with it).
  bool allowsSource(const std::optional<IpAddress>& peer) const;
};

inline constexpr size_t kMaxKeyOptionJobs = 65535;

// A valid environment variable name: [A-Za-z_][A-Za-z0-9_]*, 1 to 256 bytes. Used for names a
// client sends and for the names and prefixes of env= lists.
bool validEnvName(std::string_view name);

// Parses the options field (everything before the key type); `out` is reset first. user= is
// looked up in the password database here.
Status parseKeyOptions(std::string_view text, KeyOptions& out);

}  // namespace rx
