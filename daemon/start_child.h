#pragma once
// How the spawn helper starts a command: clone(CLONE_VM | CLONE_VFORK), the way glibc's
// posix_spawn starts a process, instead of the fork() inside libuv 1.44's uv_spawn. posix_spawn
// itself cannot be used: it cannot change to another user.
//
// Why: a fork copies the helper's page tables and the child then takes a copy-on-write fault for
// every page it writes before exec, only for all of it to be thrown away at the exec. At 50
// commands in parallel that was 7.6% of the machine's CPU (perf, comm "exe": the helper and its
// children before exec). The child here runs on the helper's memory, on a stack of its own, while
// the helper waits; it only makes system calls, and reports a failure through that shared memory.
//
// What the child does is what uv_spawn did (the commands see no difference): a new session (the
// command leads its own process group), stdin/stdout/stderr from the given descriptors or
// /dev/null, blocking, the working directory, setgroups(0)/setgid/setuid, every signal's
// disposition back to the default and none blocked, then execvp with the command's own
// environment (PATH is looked up in it). For a command on a terminal it also takes the terminal as
// its controlling terminal, which uv_spawn could not do (that took an exec of rexecd in between).
#include <sys/types.h>

namespace rx {

struct ChildSpec {
  const char* file = nullptr;   // argv[0] usually; found through the PATH of `env`
  char* const* argv = nullptr;  // ends with nullptr
  char* const* env = nullptr;   // "NAME=VALUE", ends with nullptr
  const char* cwd = nullptr;    // nullptr: the helper's own
  bool set_user = false;        // change to uid and gid (and no supplementary groups)
  uid_t uid = 0;
  gid_t gid = 0;
  int stdio[3] = {-1, -1, -1};  // the descriptors for 0, 1 and 2; -1: /dev/null
  // stdin is a terminal (the slave of a pty) that becomes the child's controlling terminal, with
  // its process group in the foreground, so ^C, ^Z and a hangup reach it as on a login.
  bool controlling_terminal = false;
};

// Starts the child and returns once it has exec'd: its pid (it leads a new session and process
// group), or a negative errno (the values of libuv's UV_E* codes) when it could not be started,
// in which case it has already been reaped. The caller reaps a started child (SIGCHLD, waitpid).
// Single-threaded callers only: the parent's `environ` is swapped for the child's while it runs.
int startChild(const ChildSpec& spec);

}  // namespace rx
