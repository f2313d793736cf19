#include "daemon/job.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "common/encoding.h"
#include "common/log.h"
#include "common/owned_write.h"
#include "common/signal_names.h"

namespace rx {
namespace {

// Capacity asked for the child's pipes (best effort: the kernel may refuse past its per-user
// limits, and the default 64 KiB stays).
constexpr int kPipeSize = 1024 * 1024;
// The largest read of a child's output: its whole pipe (kPipeSize), sent on as Output frames of at
// most kMaxChunk (Session::onJobOutput). 1 MiB rather than 512 KiB: with `dd bs=1M` writing 2 GiB
// into a full pipe, each read woke the writer; reading all of it halves those wake-ups, and the
// stream took 1.51-1.55 s instead of 1.59-1.60 (medians of two sets of 15 alternating runs,
// rexecd's CPU unchanged). 512 KiB rather than 256: 2 GiB took 1.64 s instead of 2.14 s, from
// half the reads, writes and wake-ups. Pages of it that no read reaches are never touched.
constexpr size_t kReadBufferSize = kPipeSize;
// Signals asked for before the spawn helper's answer (see signalGroup()): TERM, CONT and KILL
// from a timeout or a lost client, and the client's own.
constexpr size_t kMaxPendingSignals = 8;

// The child's stdio are pipe(2)s rather than the socket pairs of libuv's UV_CREATE_PIPE: a
// child's 8 KiB writes reach us whole instead of in 4 KiB socket buffers, and a large pipe lets
// it run ahead while we encrypt, so we read in large chunks. `ours` is opened into `handle`
// (which then owns it); the caller gives `theirs` to the child and closes it after the spawn.
int openChildPipe(uv_pipe_t* handle, bool child_writes, uv_file& theirs) {
  uv_file fds[2];  // [0] read end, [1] write end; both close-on-exec
  if (const int err = uv_pipe(fds, 0, 0); err != 0) return err;
  const uv_file ours = child_writes ? fds[0] : fds[1];
  theirs = child_writes ? fds[1] : fds[0];
  fcntl(ours, F_SETPIPE_SZ, kPipeSize);
  if (const int err = uv_pipe_open(handle, ours); err != 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    theirs = -1;
    return err;
  }
  return 0;
}

StartError startErrorFor(int err, const std::string& program) {
  StartError e;
  switch (err) {
    case UV_ENOENT:
      e.reason = rxpb::v1::StartFailed::NOT_FOUND;
      break;
    case UV_EACCES:
    case UV_EPERM:
    case UV_ENOTDIR:
    case UV_EISDIR:
    case UV_ELOOP:
    case UV_E2BIG:
      e.reason = rxpb::v1::StartFailed::NOT_EXECUTABLE;
      break;
    default:
      e.reason = rxpb::v1::StartFailed::OTHER;
  }
  e.message = fmt::format("{}: {}", printableText(program), uv_strerror(err));
  return e;
}

}  // namespace

JobHandle* UvLauncher::start(const JobSpec& spec, JobObserver* observer, StartError& error) {
  if (spec.argv.empty()) {
    error = {rxpb::v1::StartFailed::REFUSED, "empty argv"};
    return nullptr;
  }
  auto* job = new Job(*this, spec, observer);
  const int err = job->spawn();
  if (err != 0) {
    error = startErrorFor(err, spec.argv[0]);
    job->observer_ = nullptr;
    job->finished_ = true;
    job->closeAll();  // frees the job in the last close callback
    return nullptr;
  }
  return job;
}

void UvLauncher::killAll() {
  for (Job* job : jobs_) job->signalGroup(SIGKILL);
}

Job::Job(UvLauncher& launcher, const JobSpec& spec, JobObserver* observer)
    : launcher_(launcher), spec_(spec), observer_(observer) {
  launcher_.jobs_.insert(this);
}

Job::~Job() { launcher_.jobs_.erase(this); }

int Job::spawn() {
  uv_loop_t* loop = launcher_.loop_;
  start_ns_ = uv_hrtime();
  for (Pipe* p : {&stdin_, &stdout_, &stderr_}) p->handle.data = this;
  uv_pipe_init(loop, &stdout_.handle, 0);
  uv_pipe_init(loop, &stderr_.handle, 0);
  stdout_.open = stderr_.open = true;
  open_handles_ += 2;
  if (spec_.stdin_open) {
    uv_pipe_init(loop, &stdin_.handle, 0);
    stdin_.open = true;
    ++open_handles_;
  }
  uv_timer_init(loop, &timeout_timer_);
  uv_timer_init(loop, &grace_timer_);
  timeout_timer_.data = grace_timer_.data = this;
  open_handles_ += 2;

  std::vector<char*> argv;
  for (auto& a : spec_.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  uv_stdio_container_t stdio[3];
  int pty_slave = -1;
  uv_file theirs[3] = {-1, -1, -1};
  auto closeTheirs = [&theirs] {
    for (uv_file& fd : theirs)
      if (fd >= 0) ::close(fd);
  };
  int err = 0;
  if (spec_.pty) {
    if ((err = preparePty(stdio, pty_slave)) != 0) return err;
  } else {
    if (spec_.stdin_open) {
      err = openChildPipe(&stdin_.handle, false, theirs[0]);
      stdio[0].flags = UV_INHERIT_FD;
      stdio[0].data.fd = theirs[0];
    } else {
      stdio[0].flags = UV_IGNORE;  // libuv gives the child /dev/null
    }
    if (err == 0) err = openChildPipe(&stdout_.handle, true, theirs[1]);
    if (err == 0) err = openChildPipe(&stderr_.handle, true, theirs[2]);
    if (err != 0) {
      closeTheirs();
      return err;
    }
    stdio[1].flags = stdio[2].flags = UV_INHERIT_FD;
    stdio[1].data.fd = theirs[1];
    stdio[2].data.fd = theirs[2];
  }

  // The spawn helper starts the command with these (see daemon/spawner.h for why not rexecd itself).
  rxpb::v1::SpawnRequest request;
  for (char* a : argv)
    if (a) request.add_argv(a);
  for (const auto& e : spec_.env) request.add_env(e);
  request.set_cwd(spec_.cwd);
  request.set_controlling_terminal(spec_.pty.has_value());
  if (spec_.credentials) {
    // See Credentials in launcher.h: this also drops every supplementary group.
    request.set_set_user(true);
    request.set_uid(spec_.credentials->uid);
    request.set_gid(spec_.credentials->gid);
  }
  std::vector<int> fds;  // each descriptor once (a terminal's slave is all three)
  for (const auto& io : stdio) {
    int index = -1;
    if (io.flags == UV_INHERIT_FD) {
      for (size_t i = 0; i < fds.size(); ++i)
        if (fds[i] == io.data.fd) index = static_cast<int>(i);
      if (index < 0) {
        index = static_cast<int>(fds.size());
        fds.push_back(io.data.fd);
      }
    }
    request.add_stdio(index);
  }
  request.set_fd_count(static_cast<uint32_t>(fds.size()));
  err = launcher_.spawner_.spawn(request, fds, this);
  // Only the child (and whatever it starts) may hold the slave: the master reads EIO when the
  // last of them is gone.
  if (pty_slave >= 0) ::close(pty_slave);
  closeTheirs();  // the helper has its copies (the request carried them), or nothing was sent
  if (err != 0) return err;
  awaiting_start_ = true;

  // Not zero-filled (make_unique<char[]> would): that touched all 64 pages of it for every
  // command, 262 k of the daemon's 4.8 M instructions per `true`.
  read_buffer_.reset(new char[kReadBufferSize]);
  startReading(stdout_);
  startReading(stderr_);
  if (spec_.timeout_ms > 0) {
    uv_timer_start(
        &timeout_timer_, [](uv_timer_t* t) { static_cast<Job*>(t->data)->onTimeout(); }, spec_.timeout_ms, 0);
  }
  return 0;
}

void Job::startReading(Pipe& pipe) {
  if (!pipe.open || pipe.eof || pipe.reading) return;
  const int err = uv_read_start(
      reinterpret_cast<uv_stream_t*>(&pipe.handle),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* job = static_cast<Job*>(h->data);
        *buf = uv_buf_init(job->read_buffer_.get(), kReadBufferSize);
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        auto* job = static_cast<Job*>(s->data);
        Pipe& p = reinterpret_cast<uv_pipe_t*>(s) == &job->stdout_.handle ? job->stdout_ : job->stderr_;
        job->onRead(p, nread, buf);
      });
  if (err != 0) {
    log::warning("exec {}: cannot read the child's output: {}", spec_.exec_id, uv_strerror(err));
    finishPipe(pipe);
    return;
  }
  pipe.reading = true;
}

rxpb::v1::Stream Job::streamOf(const Pipe& pipe) const {
  return &pipe == &stdout_ ? rxpb::v1::STREAM_STDOUT : rxpb::v1::STREAM_STDERR;
}

void Job::onRead(Pipe& pipe, ssize_t nread, const uv_buf_t* buf) {
  if (nread > 0) {
    pipe.bytes += static_cast<uint64_t>(nread);
    if (observer_)
      observer_->onJobOutput(*this, streamOf(pipe), std::string_view(buf->base, static_cast<size_t>(nread)));
    return;
  }
  if (nread == 0) return;  // EAGAIN
  // A terminal's master reads EIO, not end of file, once the last holder of the slave is gone.
  if (nread != UV_EOF && !(spec_.pty && nread == UV_EIO))
    log::warning("exec {}: reading the child's output: {}", spec_.exec_id,
                 uv_strerror(static_cast<int>(nread)));
  finishPipe(pipe);
  maybeFinish();
}

void Job::finishPipe(Pipe& pipe) {
  if (pipe.eof) return;
  pipe.eof = true;
  pipe.reading = false;
  if (pipe.open) closeHandle(reinterpret_cast<uv_handle_t*>(&pipe.handle));
  pipe.open = false;
}

void Job::onExit(int64_t exit_status, int term_signal, bool core_dumped) {
  exited_ = true;
  exit_status_ = exit_status;
  term_signal_ = term_signal;
  core_dumped_ = core_dumped;
  uv_timer_stop(&timeout_timer_);
  // The leader is gone; its group may live on through grandchildren holding our pipes.
  if (!(stdout_.eof && stderr_.eof) && grace_ == Grace::None)
    armDrainGrace(Grace::KillAfterDrain, spec_.drain_grace_ms);
  // Nobody will read the child's stdin any more.
  if (stdin_.open) {
    stdin_.open = false;
    closeHandle(reinterpret_cast<uv_handle_t*>(&stdin_.handle));
  }
  maybeFinish();
}

void Job::onSpawnLost() {
  awaiting_start_ = false;
  // The spawn helper died: this child's exit status will never come. Nothing of the group may
  // run on untracked, and the client must not take this for an outcome.
  signalGroup(SIGKILL);
  if (JobObserver* observer = observer_) {
    observer_ = nullptr;
    observer->onJobLost(*this, fmt::format("the daemon lost track of command {} (its spawn helper died); its "
                                           "process group was killed and its exit status is unknown",
                                           spec_.exec_id));
  }
  // No observer is left to report to: this only lets the job finish and free itself once its
  // pipes are done.
  onExit(-1, SIGKILL);
}

void Job::armDrainGrace(Grace what, uint64_t ms) {
  // Output still in the pipe is not a grandchild holding it open: while back-pressure keeps us
  // from reading, the drain graces wait (with what is left of them), or a slow client would
  // lose the tail of the output.
  if (output_paused_) {
    grace_paused_ = what;
    grace_paused_left_ms_ = ms;
    return;
  }
  armGrace(what, ms);
}

void Job::armGrace(Grace what, uint64_t ms) {
  grace_ = what;
  uv_timer_start(
      &grace_timer_, [](uv_timer_t* t) { static_cast<Job*>(t->data)->onGraceTimer(); }, ms, 0);
}

void Job::onGraceTimer() {
  const Grace what = grace_;
  grace_ = Grace::None;
  switch (what) {
    case Grace::KillAfterTerm:
    case Grace::KillAfterDrain:
      signalGroup(SIGKILL);
      // A process that left the group (setsid) may still hold a pipe: cut it after one more grace.
      if (exited_ && !(stdout_.eof && stderr_.eof)) armDrainGrace(Grace::CutPipes, spec_.drain_grace_ms);
      break;
    case Grace::CutPipes:
      log::warning("exec {}: output still open after the group was killed; cutting it", spec_.exec_id);
      finishPipe(stdout_);
      finishPipe(stderr_);
      maybeFinish();
      break;
    case Grace::None:
      break;
  }
}

void Job::onTimeout() {
  timed_out_ = true;
  terminate();
}

void Job::onSpawnStarted(int pid) {
  awaiting_start_ = false;
  pid_ = pid;
  if (observer_) observer_->onJobStarted(*this);
  // A Ctrl-C, a timeout or a lost client while the helper was still starting it.
  const std::vector<int> pending = std::move(pending_signals_);
  pending_signals_.clear();
  for (int signo : pending) signalGroup(signo);
}

void Job::onSpawnFailed(int error) {
  awaiting_start_ = false;
  pending_signals_.clear();
  const StartError e = startErrorFor(error, spec_.argv[0]);
  JobObserver* observer = observer_;
  observer_ = nullptr;
  finished_ = true;
  if (observer) observer->onJobStartFailed(*this, e);
  closeAll();  // frees the job in the last close callback
}

void Job::signalGroup(int signo) {
  if (pid_ <= 0) {
    // Not started yet: delivered once it has. The same signal twice in a row is one, so a
    // client cannot grow this.
    if (awaiting_start_ && (pending_signals_.empty() || pending_signals_.back() != signo) &&
        pending_signals_.size() < kMaxPendingSignals)
      pending_signals_.push_back(signo);
    return;
  }
  // Negative pid: the whole process group, which exists while any member lives; ESRCH only
  // means everyone is gone already.
  if (::kill(-pid_, signo) != 0 && errno != ESRCH)
    log::warning("exec {}: kill(-{}, {}): {}", spec_.exec_id, pid_, signalName(signo), std::strerror(errno));
  if (spec_.pty) signalForeground(signo);
}

void Job::terminate() {
  if (terminating_ || finished_) return;
  terminating_ = true;
  signalGroup(SIGTERM);
  // SIGTERM may be stopped-and-pending for a stopped process; CONT lets it act.
  signalGroup(SIGCONT);
  armGrace(Grace::KillAfterTerm, spec_.kill_grace_ms);
}

void Job::writeStdin(std::string_view data) {
  if (data.empty()) return;
  if (!stdin_.open || stdin_close_requested_) {
    if (observer_) observer_->onJobStdinWritten(*this, data.size());  // dropped
    return;
  }
  // What the pipe takes at once goes straight from the session's bytes; only the rest is copied
  // and queued (and counted against the high-water mark).
  size_t written = 0;
  const int err = writeBorrowed(
      reinterpret_cast<uv_stream_t*>(&stdin_.handle), data, written, [this](int status, size_t n) {
        stdin_queued_ -= n;
        if (status != 0 && status != UV_ECANCELED && status != UV_EPIPE)
          log::debug("exec {}: stdin write: {}", spec_.exec_id, uv_strerror(status));
        if (observer_) observer_->onJobStdinWritten(*this, n);
        if (stdin_draining_ && stdin_queued_ < spec_.stdin_high_water / 4) {
          stdin_draining_ = false;
          if (observer_) observer_->onJobStdinDrained(*this);
        }
      });
  if (err != 0) {
    // The child closed its stdin (EPIPE) or the pipe failed: the data is dropped, as a write
    // callback's error would drop it.
    if (err != UV_EPIPE) log::debug("exec {}: stdin write: {}", spec_.exec_id, uv_strerror(err));
    if (observer_) observer_->onJobStdinWritten(*this, data.size());
    return;
  }
  stdin_queued_ += data.size() - written;
  if (stdin_queued_ >= spec_.stdin_high_water) stdin_draining_ = true;
  if (written > 0 && observer_) observer_->onJobStdinWritten(*this, written);
}

void Job::closeStdin() {
  // A terminal has no end of file to send (the user types ^D); its input stays open.
  if (!stdin_.open || stdin_close_requested_ || spec_.pty) return;
  stdin_close_requested_ = true;
  // Closing the handle would cancel queued writes; shutdown waits for them (its shutdown(2)
  // then fails on a pipe, harmlessly), and closing our end in its callback is the child's EOF.
  auto* req = new uv_shutdown_t;
  req->data = this;
  const int err = uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&stdin_.handle), [](uv_shutdown_t* r, int) {
    auto* job = static_cast<Job*>(r->data);
    delete r;
    if (job->stdin_.open) {
      job->stdin_.open = false;
      job->closeHandle(reinterpret_cast<uv_handle_t*>(&job->stdin_.handle));
    }
  });
  if (err != 0) {
    delete req;
    stdin_.open = false;
    closeHandle(reinterpret_cast<uv_handle_t*>(&stdin_.handle));
  }
}

void Job::pauseOutput() {
  if (!output_paused_ && (grace_ == Grace::KillAfterDrain || grace_ == Grace::CutPipes)) {
    // Hold the drain grace with what is left of it (see armDrainGrace).
    grace_paused_left_ms_ = uv_timer_get_due_in(&grace_timer_);
    uv_timer_stop(&grace_timer_);
    grace_paused_ = grace_;
    grace_ = Grace::None;
  }
  output_paused_ = true;
  for (Pipe* p : {&stdout_, &stderr_}) {
    if (p->reading) {
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&p->handle));
      p->reading = false;
    }
  }
}

void Job::resumeOutput() {
  output_paused_ = false;
  startReading(stdout_);
  startReading(stderr_);
  if (grace_paused_ != Grace::None && grace_ == Grace::None && !finished_)
    armGrace(grace_paused_, grace_paused_left_ms_);
  grace_paused_ = Grace::None;
}

void Job::maybeFinish() {
  if (finished_ || !exited_ || !stdout_.eof || !stderr_.eof) return;
  finished_ = true;
  rxpb::v1::ExecResult result;
  result.set_exec_id(spec_.exec_id);
  if (timed_out_) {
    result.mutable_timed_out()->set_timeout_ms(spec_.timeout_ms);
  } else if (term_signal_ != 0) {
    auto* s = result.mutable_signaled();
    s->set_name(signalName(term_signal_));
    s->set_number(term_signal_);
    s->set_core_dumped(core_dumped_);
  } else {
    result.set_exit_code(static_cast<int32_t>(exit_status_));
  }
  result.set_stdout_bytes(stdout_.bytes);
  result.set_stderr_bytes(stderr_.bytes);
  result.set_wall_time_us((uv_hrtime() - start_ns_) / 1000);
  // A job that was terminated may still have members in its group (they closed their pipes):
  // make sure nothing of it outlives the result.
  if (terminating_) signalGroup(SIGKILL);
  JobObserver* observer = observer_;
  observer_ = nullptr;
  closeAll();
  if (observer) {
    observer->onJobFinished(*this, result);
  } else {
    // Its client is gone (the session audited the termination); say when the group is really over.
    if (pid_ > 0)
      log::info("pid {}: process group finished after its client went away", pid_);
    else
      log::info("exec {}: ended before its start was known, after its client went away", spec_.exec_id);
  }
}

void Job::closeHandle(uv_handle_t* handle) {
  if (uv_is_closing(handle)) return;
  uv_close(handle, [](uv_handle_t* h) { static_cast<Job*>(h->data)->onHandleClosed(); });
}

void Job::closeAll() {
  for (Pipe* p : {&stdin_, &stdout_, &stderr_}) {
    if (p->open) {
      p->open = false;
      p->reading = false;
      closeHandle(reinterpret_cast<uv_handle_t*>(&p->handle));
    }
  }
  closeHandle(reinterpret_cast<uv_handle_t*>(&timeout_timer_));
  closeHandle(reinterpret_cast<uv_handle_t*>(&grace_timer_));
}

void Job::onHandleClosed() {
  if (--open_handles_ == 0) delete this;
}

}  // namespace rx
