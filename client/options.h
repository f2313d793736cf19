#pragma once
// rexec's command line, parsed into plain values (unit-tested without running anything).
#include <string>
#include <vector>

#include "client/client_session.h"
#include "client/fanout_options.h"
#include "common/status.h"

namespace rx {

struct ClientOptions {
  std::string target;    // HOST[:PORT]; empty with the fan-out (-H, -f, -g)
  std::string identity;  // key file
  std::string known_hosts;
  bool accept_new = false;
  ExecParams params;
  double connect_timeout_s = 10;
  double timeout_s = 0;
  // -t: 1 asks for a terminal when stdin is one, 2 (-tt) asks even when it is not; -T: never.
  int tty = 0;
  // -S PATH: a connection-sharing master's socket (client/master.h): used when one answers there.
  std::string control_path;
  bool master = false;  // -M: be that master
  // --persist: a master exits after this long without a client (0: run until stopped); with -S
  // and no -M, a master is started when none answers (client/auto_master.h).
  double persist_s = 0;
  // -E FILE: a master also appends what it says to FILE (client/master_log.h).
  std::string log_file;
  // --ready-fd (hidden): a master started by a fan-out writes 'R' there once it listens.
  int ready_fd = -1;
  // -O check|exit: ask the master on -S PATH instead of running a command (as ssh -O).
  std::string control_command;
  FanoutOptions fanout;
};

enum class ParseOutcome { Run, Exit };

// Returns Run with `opts` filled, or Exit with `exit_code` set (help printed, or an error shown
// as one "rexec: ..." line).
ParseOutcome parseClientOptions(int argc, const char* const* argv, ClientOptions& opts, int& exit_code);

std::string defaultIdentityPath();

}  // namespace rx
