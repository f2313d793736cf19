#pragma once
// What a connection-sharing master says (why it ended, a refused local client, where it listens):
// a "rexec: ..." line on its stderr, as always; with -E FILE (as ssh -E) each line is also
// appended to FILE with the time and the master's pid. A master started by --persist leaves the
// terminal once it listens (its stderr is /dev/null from then on): without -E, nothing it says
// after that is seen anywhere.
#include <string>

#include "common/status.h"

namespace rx {

// Start-up: opens FILE for appending (created 0600, like the key files: it names hosts and
// paths). An error is a line for the caller.
Status openMasterLog(const std::string& path);

// One line, without "rexec: " or a newline.
void masterSay(const std::string& line);
// A line for the -E file only (none: nothing), for what a master does not say on its stderr: that
// it listens once it has left the terminal, and why it ended when that is no failure.
void masterLog(const std::string& line);

}  // namespace rx
