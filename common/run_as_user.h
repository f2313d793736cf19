#pragma once
// The account a key's commands run as (key option user=NAME), read from the password database
// when the authorized keys are loaded, so that a mistyped name stops the daemon at start-up
// rather than failing every command later.
//
// The daemon switches to it in the child with libuv's UV_PROCESS_SETUID/SETGID; see JobSpec in
// daemon/launcher.h for what that means for supplementary groups.
#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/status.h"

namespace rx {

struct RunAsUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;  // the primary group from the passwd entry
  std::string home;
  std::string shell;  // "/bin/sh" when the entry has none, as login(1) does

  bool operator==(const RunAsUser&) const = default;
};

// getpwnam; "no such user" when the name is unknown.
Status lookupRunAsUser(std::string_view name, RunAsUser& out);

// Only root can start a process as someone else: a daemon that is not root may name only its own
// account in user=, and anything else is refused at load time instead of at every command.
Status checkMayRunAs(const RunAsUser& user, uid_t daemon_euid);

}  // namespace rx
