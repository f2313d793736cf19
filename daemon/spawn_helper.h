#pragma once
// The spawn helper: a small process rexecd starts once (as itself, `rexecd --spawn-helper`) and
// asks to start every command (daemon/spawner.h has rexecd's side and the reasons).
//
// It runs its own libuv loop: requests (proto/spawn.proto) come on fd 3 with the child's stdio
// descriptors attached; it starts each with startChild (daemon/start_child.h) and answers on fd 4 once the
// child has exec'd; exits go out on fd 4 too, after the answer, as the children are reaped. rexecd does not
// wait for the answers (daemon/spawner.h). At end of file on fd 3 (rexecd closed it, or died) it
// kills the process group of every command it started that still runs (none when rexecd ended
// normally: it waits for its commands) and exits. It ignores SIGINT, SIGTERM and SIGHUP: a
// terminal's ^C or a service manager's stop is rexecd's to handle, and rexecd's end is the
// helper's end.
#include <cstddef>

namespace rx {

inline constexpr const char* kSpawnHelperFlag = "--spawn-helper";
// The descriptors rexecd gives the helper.
inline constexpr int kSpawnRequestFd = 3;
inline constexpr int kSpawnEventFd = 4;
// The largest request: an ExecRequest frame is at most 1 MiB (argv), plus the environment.
inline constexpr size_t kMaxSpawnRequest = 8 * 1024 * 1024;

// The internal mode (argv: rexecd --spawn-helper). Returns the process's exit status.
int spawnHelperMain();

}  // namespace rx
