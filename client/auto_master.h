#pragma once
// rexec -S PATH --persist SECONDS HOST cmd, with no master answering at PATH: start one in the
// background and run the command through it, as ssh's ControlMaster=auto with ControlPersist.
// The later commands of the same user find it there; it ends after SECONDS without any.
//
// The master is forked (twice, so that it is nobody's child to wait for) from the client before
// the client has any loop, thread or key; it goes on through rexec's main() as `rexec -M`, and
// tells the waiting client over a pipe whether its socket is in place (Master::notifyWhenReady).
// Until then it is part of the client's job: it can ask about an unknown host key on the
// terminal, its errors go to the client's stderr, and a Ctrl-C stops both.

#include <string>

namespace rx {

struct AutoMasterLaunch {
  enum class Outcome {
    InMaster,     // this process is the new master: go on as -M, reporting on ready_fd
    Ready,        // the master is listening at PATH
    Unavailable,  // it could not have the socket (it said why, or another master has it now)
    Failed,       // it could not connect or authenticate, and said why
  };
  Outcome outcome = Outcome::Failed;
  int ready_fd = -1;
};

// `argv` (main's): the new master's command line is overwritten with `title` (as ssh's
// "ssh: PATH [mux]"), so that ps does not show it as the client's command, which it does not run.
AutoMasterLaunch launchAutoMaster(int argc, char** argv, const std::string& title);

// For the new master, on `ready_fd`: its socket is in place (the client runs its command
// through it), or it could not be had (the client then uses another master there, or connects
// directly).
void reportMasterReady(int ready_fd);
void reportSocketUnavailable(int ready_fd);

}  // namespace rx
