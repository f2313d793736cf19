#pragma once
// One command: a child process in its own process group (started by the spawn helper,
// daemon/spawner.h) plus its stdio pipes and timers.
//
// Life cycle (STYLE.md 5): the result is reported only after the exit callback AND end of file on
// both stdout and stderr, in whatever order they arrive. A grandchild that keeps a pipe open
// gets the drain grace, then its group is killed, then the pipes are cut. The object frees itself
// after the close callback of its last handle, so it may outlive the connection that started it.
#include <uv.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "daemon/launcher.h"
#include "daemon/spawner.h"

namespace rx {

class Job;

class UvLauncher final : public Launcher {
 public:
  explicit UvLauncher(uv_loop_t* loop) : loop_(loop), spawner_(loop, kSelf) {}
  // The rexecd binary, for its --spawn-helper mode (daemon/spawn_helper.h): by default the running
  // program itself; tests that link the launcher name the real rexecd.
  void setDaemonBinary(const std::string& path) { spawner_.setHelperBinary(path); }
  // Starts the spawn helper now rather than with the first command. Returns 0 or a libuv error.
  int startHelper() { return spawner_.start(); }
  // The daemon is done: the spawn helper exits.
  void close() { spawner_.close(); }
  JobHandle* start(const JobSpec& spec, JobObserver* observer, StartError& error) override;
  size_t liveJobs() const override { return jobs_.size(); }
  // Last resort at the shutdown deadline: KILL every job's process group.
  void killAll();
  // For tests: the spawn helper's pid (0: none running).
  int helperPid() const { return spawner_.helperPid(); }

 private:
  friend class Job;
  static constexpr const char* kSelf = "/proc/self/exe";
  uv_loop_t* loop_;
  Spawner spawner_;
  std::set<Job*> jobs_;
};

class Job final : public JobHandle, private SpawnWatcher {
 public:
  uint32_t execId() const override { return spec_.exec_id; }
  int pid() const override { return pid_; }
  void signalGroup(int signo) override;
  void terminate() override;
  void writeStdin(std::string_view data) override;
  void closeStdin() override;
  void resizeTerminal(const TerminalSize& size) override;  // job_pty.cc
  size_t stdinQueued() const override { return stdin_queued_; }
  void pauseOutput() override;
  void resumeOutput() override;
  // The exit of the child is known (tests wait for it).
  bool exited() const { return exited_; }
  // Detached jobs keep reading (and discarding) output so nothing blocks while they are killed.
  void detach() override {
    observer_ = nullptr;
    resumeOutput();
  }

 private:
  friend class UvLauncher;
  enum class Grace { None, KillAfterTerm, KillAfterDrain, CutPipes };
  struct Pipe {
    uv_pipe_t handle;
    bool open = false;  // initialised and not yet closed
    bool reading = false;
    bool eof = false;  // finished: end of file, error, or cut
    uint64_t bytes = 0;
  };

  Job(UvLauncher& launcher, const JobSpec& spec, JobObserver* observer);
  ~Job() override;
  int spawn();
  // job_pty.cc: puts the terminal's slave on the child's stdio and its master under stdout_ (read)
  // and stdin_ (write, a dup); the spawn helper makes it the child's controlling terminal. Returns
  // 0 or a libuv error; `slave` is for the parent to close after the spawn.
  int preparePty(uv_stdio_container_t stdio[3], int& slave);
  // Also signals the terminal's foreground process group (job control puts it apart from ours).
  void signalForeground(int signo);
  void startReading(Pipe& pipe);
  void onRead(Pipe& pipe, ssize_t nread, const uv_buf_t* buf);
  void finishPipe(Pipe& pipe);
  void onExit(int64_t exit_status, int term_signal, bool core_dumped = false);
  // SpawnWatcher
  void onSpawnStarted(int pid) override;
  void onSpawnFailed(int error) override;
  void onSpawnExit(int64_t exit_status, int term_signal, bool core_dumped) override {
    onExit(exit_status, term_signal, core_dumped);
  }
  void onSpawnLost() override;
  void onGraceTimer();
  void onTimeout();
  void armGrace(Grace what, uint64_t ms);
  void armDrainGrace(Grace what, uint64_t ms);
  void maybeFinish();
  void closeHandle(uv_handle_t* handle);
  void closeAll();
  void onHandleClosed();
  rxpb::v1::Stream streamOf(const Pipe& pipe) const;

  UvLauncher& launcher_;
  JobSpec spec_;
  JobObserver* observer_;
  Pipe stdin_, stdout_, stderr_;
  uv_timer_t timeout_timer_{};
  uv_timer_t grace_timer_{};
  int open_handles_ = 0;
  int pid_ = 0;
  // Asked of the spawn helper, not yet answered: signals wait in pending_signals_ meanwhile.
  bool awaiting_start_ = false;
  std::vector<int> pending_signals_;
  int pty_master_ = -1;  // pty jobs: the master, owned by stdout_'s handle
  bool exited_ = false;
  bool timed_out_ = false;
  bool terminating_ = false;
  bool finished_ = false;
  bool output_paused_ = false;
  bool stdin_close_requested_ = false;
  bool stdin_draining_ = false;  // above the high watermark; report when below the low one
  int64_t exit_status_ = 0;
  int term_signal_ = 0;
  bool core_dumped_ = false;
  Grace grace_ = Grace::None;
  Grace grace_paused_ = Grace::None;  // a drain grace put on hold by back-pressure
  uint64_t grace_paused_left_ms_ = 0;
  size_t stdin_queued_ = 0;
  uint64_t start_ns_ = 0;
  std::unique_ptr<char[]> read_buffer_;
};

}  // namespace rx
