#pragma once
// One command: a uv_process_t in its own process group plus its stdio pipes and timers.
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

namespace rx {

class Job;

class UvLauncher final : public Launcher {
 public:
  explicit UvLauncher(uv_loop_t* loop) : loop_(loop) {}
  // The rexecd binary that runs pty jobs in its --pty-exec mode (daemon/pty.h): by default the
  // running program itself; tests that link the launcher name the real rexecd.
  void setPtyHelper(std::string path) { pty_helper_ = std::move(path); }
  JobHandle* start(const JobSpec& spec, JobObserver* observer, StartError& error) override;
  size_t liveJobs() const override { return jobs_.size(); }
  // Last resort at the shutdown deadline: KILL every job's process group.
  void killAll();

 private:
  friend class Job;
  uv_loop_t* loop_;
  std::string pty_helper_ = "/proc/self/exe";
  std::set<Job*> jobs_;
};

class Job final : public JobHandle {
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
  // and stdin_ (write, a dup), and runs argv through the --pty-exec helper. Returns 0 or a libuv
  // error; `slave` is for the parent to close after the spawn.
  int preparePty(uv_stdio_container_t stdio[3], std::vector<char*>& argv, int& slave);
  // Also signals the terminal's foreground process group (job control puts it apart from ours).
  void signalForeground(int signo);
  void startReading(Pipe& pipe);
  void onRead(Pipe& pipe, ssize_t nread, const uv_buf_t* buf);
  void finishPipe(Pipe& pipe);
  void onExit(int64_t exit_status, int term_signal);
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
  uv_process_t process_{};
  Pipe stdin_, stdout_, stderr_;
  uv_timer_t timeout_timer_{};
  uv_timer_t grace_timer_{};
  int open_handles_ = 0;
  int pid_ = 0;
  int pty_master_ = -1;  // pty jobs: the master, owned by stdout_'s handle
  bool process_initialised_ = false;
  bool exited_ = false;
  bool timed_out_ = false;
  bool terminating_ = false;
  bool finished_ = false;
  bool output_paused_ = false;
  bool stdin_close_requested_ = false;
  bool stdin_draining_ = false;  // above the high watermark; report when below the low one
  int64_t exit_status_ = 0;
  int term_signal_ = 0;
  Grace grace_ = Grace::None;
  Grace grace_paused_ = Grace::None;  // a drain grace put on hold by back-pressure
  uint64_t grace_paused_left_ms_ = 0;
  size_t stdin_queued_ = 0;
  uint64_t start_ns_ = 0;
  std::unique_ptr<char[]> read_buffer_;
};

}  // namespace rx
