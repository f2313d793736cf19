#pragma once
// The seam between the protocol session and real processes (STYLE.md 8): the session asks a
// Launcher to start a job and drives it through JobHandle; the job reports back through
// JobObserver. Tests and fuzzers put a fake launcher here.
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/pty_request.h"
#include "rexec.pb.h"

namespace rx {

// Who a job runs as, when not as the daemon itself (key option user=).
//
// The real launcher has its spawn helper start the command as uid/gid (daemon/start_child.h, which
// does what uv_spawn's UV_PROCESS_SETUID|UV_PROCESS_SETGID did).
// In the child it calls setgroups(0, NULL) before setgid() and setuid(), which means the
// command has NO supplementary groups: only `gid`, the primary group of the passwd entry. Unlike
// a login (initgroups), membership in other groups (say `adm` or `docker`) does not apply to it,
// so a file reachable only through such a group is out of reach for the command. This is the
// safe side (no group of root's leaks into the child) and is documented in docs/PROTOCOL.md.
// libuv also calls chdir() before it changes user, so the session checks the working directory
// for this uid/gid itself (daemon/dir_access.h).
struct Credentials {
  uid_t uid = 0;
  gid_t gid = 0;
  bool operator==(const Credentials&) const = default;
};

struct JobSpec {
  uint32_t exec_id = 0;
  std::vector<std::string> argv;  // argv[0] is looked up in the child's PATH
  std::string cwd;
  std::vector<std::string> env;            // "NAME=VALUE"
  std::optional<Credentials> credentials;  // none: the daemon's own user
  bool stdin_open = false;                 // false: /dev/null
  // Set: the command runs on a new pseudo-terminal of this size (its controlling terminal, and
  // its stdin, stdout and stderr); its output is all STREAM_STDOUT. Needs stdin_open.
  std::optional<TerminalSize> pty;
  uint32_t timeout_ms = 0;         // 0: none
  uint32_t kill_grace_ms = 2000;   // TERM -> KILL
  uint32_t drain_grace_ms = 1000;  // exit -> pipes still open -> KILL the group
  // Stdin back-pressure: above this much queued for the child, the session stops reading the
  // client; the job reports onJobStdinDrained below a quarter of it.
  size_t stdin_high_water = 1024 * 1024;
};

struct StartError {
  rxpb::v1::StartFailed::Reason reason = rxpb::v1::StartFailed::OTHER;
  std::string message;
};

class JobHandle;

class JobObserver {
 public:
  virtual ~JobObserver() = default;
  virtual void onJobOutput(JobHandle& job, rxpb::v1::Stream stream, std::string_view data) = 0;
  // The child's stdin queue fell below the low watermark after being above the high one.
  virtual void onJobStdinDrained(JobHandle& job) = 0;
  // `bytes` of what writeStdin() was given are done with: written to the child's stdin, or dropped
  // (its stdin is closed, or was never open). Called from writeStdin() itself for what is done at
  // once, after stdinQueued() counts the rest.
  virtual void onJobStdinWritten(JobHandle& job, size_t bytes) {
    (void)job;
    (void)bytes;
  }
  // The command's process has started (exec'd): job.pid() is known from now on.
  virtual void onJobStarted(JobHandle& job) { (void)job; }
  // Last call for this job instead of onJobFinished: its program could not be started (not
  // found, not executable, ...). Nothing of it ran. The handle must not be used after this.
  virtual void onJobStartFailed(JobHandle& job, const StartError& error) = 0;
  // Last call for this job: the process was reaped and both output streams are finished. The
  // result has exec_id, outcome, byte counts and wall time filled in. The handle must not be
  // used after this returns.
  virtual void onJobFinished(JobHandle& job, const rxpb::v1::ExecResult& result) = 0;
  // Last call for this job instead of onJobFinished: the daemon can no longer know its outcome
  // (`why`, one line). Its process group was killed. The handle must not be used after this.
  virtual void onJobLost(JobHandle& job, const std::string& why) = 0;
};

class JobHandle {
 public:
  virtual ~JobHandle() = default;
  virtual uint32_t execId() const = 0;
  // 0 until onJobStarted.
  virtual int pid() const = 0;
  // Delivers a signal to the job's whole process group (once it has started, if it has not yet).
  virtual void signalGroup(int signo) = 0;
  // TERM to the group now, KILL after the kill grace. Idempotent.
  virtual void terminate() = 0;
  virtual void writeStdin(std::string_view data) = 0;
  virtual void closeStdin() = 0;
  // The client's window changed size (pty jobs only; others ignore it).
  virtual void resizeTerminal(const TerminalSize&) {}
  virtual size_t stdinQueued() const = 0;
  // Back-pressure: stop and resume reading the child's stdout and stderr.
  virtual void pauseOutput() = 0;
  virtual void resumeOutput() = 0;
  // The observer is going away: report nothing more. The job still finishes and frees itself.
  virtual void detach() = 0;
};

class Launcher {
 public:
  virtual ~Launcher() = default;
  // Starts a job, or returns nullptr and fills `error` (a failure known at once). That the
  // program itself cannot be started may come later, as onJobStartFailed.
  virtual JobHandle* start(const JobSpec& spec, JobObserver* observer, StartError& error) = 0;
  // How many jobs are still alive (including detached ones being killed).
  virtual size_t liveJobs() const = 0;
};

}  // namespace rx
