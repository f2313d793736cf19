#include "daemon/spawner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "common/frame_codec.h"
#include "common/log.h"
#include "daemon/fd_passing.h"
#include "daemon/spawn_helper.h"

namespace rx {
namespace {

// How long an answer may be awaited before the helper is taken for hung (it is killed, and the
// commands waiting for it fail to start). The helper answers once the child has exec'd, which a
// binary on slow storage may delay, but never by this much. Counted from the last answer while
// any is awaited (the helper answers in turn).
constexpr uint64_t kAnswerTimeoutMs = 60'000;
constexpr size_t kMaxEvent = 256;

}  // namespace

// One helper process and its two sockets. Frees itself once its handles are closed: after
// close(), or after lost(), whose watchers hear onSpawnLost() from there (never from inside a
// spawn() or another callback of the session that called it).
class HelperProcess {
 public:
  HelperProcess(Spawner* owner, uv_loop_t* loop, uint64_t answer_timeout_ms)
      : owner_(owner), loop_(loop), answer_timeout_ms_(answer_timeout_ms) {}

  int start(const std::string& binary);
  int spawn(rxpb::v1::SpawnRequest& request, const std::vector<int>& fds, SpawnWatcher* watcher);
  // Ends the helper (end of file on its request socket) without telling any watcher.
  void close() { end(true); }
  bool usable() const { return !closing_; }
  int pid() const { return running_ ? pid_ : 0; }

 private:
  ~HelperProcess() = default;
  void lost(const std::string& why);
  void end(bool asked);
  void onHelperExit(int64_t status, int sig);
  void onEvents(ssize_t nread);
  // False: the helper was lost over it.
  bool onReply(const rxpb::v1::SpawnReply& reply);
  bool onExit(const rxpb::v1::SpawnExit& exit);
  void armAnswerTimer();
  void closeHandle(uv_handle_t* h);
  void onHandleClosed();

  Spawner* owner_;
  uv_loop_t* loop_;
  const uint64_t answer_timeout_ms_;
  uv_process_t process_{};
  uv_pipe_t events_{};
  uv_timer_t answer_timer_{};  // runs while answers are awaited
  int request_fd_ = -1;
  int open_handles_ = 0;
  int pid_ = 0;
  bool running_ = false;  // the helper process has not been reaped
  bool closing_ = false;
  bool asked_to_end_ = false;  // by the owner (the daemon is done), as opposed to a failure
  // Every request not yet ended: awaiting its answer (`started` false) or its child's exit.
  struct Pending {
    SpawnWatcher* watcher;
    bool started;
  };
  std::map<uint64_t, Pending> watchers_;
  size_t awaited_answers_ = 0;
  std::map<uint64_t, Pending> lost_;  // to be told onSpawnLost() once everything is closed
  FrameDecoder events_in_{kMaxEvent};
  char read_buf_[4096];
};

int HelperProcess::start(const std::string& binary) {
  int req[2], ev[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, req) != 0) return -errno;
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ev) != 0) {
    const int err = -errno;
    ::close(req[0]);
    ::close(req[1]);
    return err;
  }
  uv_stdio_container_t stdio[5];
  stdio[0].flags = stdio[1].flags = UV_IGNORE;
  // Its error lines go where rexecd's go (if rexecd has a stderr at all).
  stdio[2].flags = ::fcntl(2, F_GETFD) >= 0 ? UV_INHERIT_FD : UV_IGNORE;
  stdio[2].data.fd = 2;
  stdio[kSpawnRequestFd].flags = stdio[kSpawnEventFd].flags = UV_INHERIT_FD;
  stdio[kSpawnRequestFd].data.fd = req[1];
  stdio[kSpawnEventFd].data.fd = ev[1];
  std::string path = binary;
  std::string flag = kSpawnHelperFlag;
  char* args[] = {path.data(), flag.data(), nullptr};
  uv_process_options_t options{};
  options.file = path.c_str();
  options.args = args;
  options.stdio = stdio;
  options.stdio_count = 5;
  options.exit_cb = [](uv_process_t* p, int64_t status, int sig) {
    static_cast<HelperProcess*>(p->data)->onHelperExit(status, sig);
  };
  process_.data = this;
  // uv_spawn initialises the handle even when it fails, and it must be closed either way.
  const int err = uv_spawn(loop_, &process_, &options);
  ++open_handles_;
  ::close(req[1]);
  ::close(ev[1]);
  uv_pipe_init(loop_, &events_, 0);
  events_.data = this;
  ++open_handles_;
  uv_timer_init(loop_, &answer_timer_);
  answer_timer_.data = this;
  ++open_handles_;
  request_fd_ = req[0];
  int open_err = err;
  if (err == 0) {
    running_ = true;
    pid_ = process_.pid;
    open_err = uv_pipe_open(&events_, ev[0]);
  }
  if (open_err != 0) {
    ::close(ev[0]);
    close();
    return open_err;
  }
  // A request is sent whole, blocking while the helper's socket is full (it reads requests as
  // fast as it can fork), but not for ever.
  const timeval timeout{static_cast<time_t>(answer_timeout_ms_ / 1000),
                        static_cast<suseconds_t>(answer_timeout_ms_ % 1000 * 1000)};
  ::setsockopt(request_fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&events_),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* self = static_cast<HelperProcess*>(h->data);
        *buf = uv_buf_init(self->read_buf_, sizeof self->read_buf_);
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
        static_cast<HelperProcess*>(s->data)->onEvents(nread);
      });
  return 0;
}

int HelperProcess::spawn(rxpb::v1::SpawnRequest& request, const std::vector<int>& fds,
                         SpawnWatcher* watcher) {
  if (int err = sendWithFds(request_fd_, encodeFrame(request), fds); err != 0) {
    lost(fmt::format("cannot send it a request: {}", std::strerror(-err)));
    return err == -EAGAIN ? UV_ETIMEDOUT : err;
  }
  watchers_[request.id()] = Pending{watcher, false};
  if (awaited_answers_++ == 0) armAnswerTimer();
  return 0;
}

void HelperProcess::armAnswerTimer() {
  uv_timer_start(
      &answer_timer_,
      [](uv_timer_t* t) {
        auto* self = static_cast<HelperProcess*>(t->data);
        self->lost(fmt::format("no answer in {} ms", self->answer_timeout_ms_));
      },
      answer_timeout_ms_, 0);
}

void HelperProcess::onEvents(ssize_t nread) {
  if (closing_) return;
  if (nread < 0) {
    lost(nread == UV_EOF ? "it closed its socket"
                         : fmt::format("reading its events: {}", uv_strerror(static_cast<int>(nread))));
    return;
  }
  events_in_.feed(std::string_view(read_buf_, static_cast<size_t>(nread)));
  rxpb::v1::SpawnEvent event;
  for (;;) {
    const FrameDecoder::Result r = events_in_.next(event);
    if (r == FrameDecoder::Result::NeedMore) break;
    if (r == FrameDecoder::Result::Error) {
      lost("an event from it is not one: " + events_in_.error());
      return;
    }
    // A watcher may spawn (the session's next command) or close; neither touches events_in_.
    const bool ok = event.has_reply()  ? onReply(event.reply())
                    : event.has_exit() ? onExit(event.exit())
                                       : (lost("an event from it is neither an answer nor an exit"), false);
    if (!ok || closing_) return;
  }
}

bool HelperProcess::onReply(const rxpb::v1::SpawnReply& reply) {
  const auto it = watchers_.find(reply.id());
  if (it == watchers_.end() || it->second.started || (reply.error() == 0) == (reply.pid() <= 0) ||
      reply.error() > 0) {
    lost(fmt::format("its answer for spawn {} is not one", reply.id()));
    return false;
  }
  if (--awaited_answers_ == 0)
    uv_timer_stop(&answer_timer_);
  else
    armAnswerTimer();  // the next answer has as long from now
  SpawnWatcher* w = it->second.watcher;
  if (reply.error() != 0) {
    watchers_.erase(it);
    w->onSpawnFailed(reply.error());
  } else {
    it->second.started = true;
    w->onSpawnStarted(reply.pid());
  }
  return true;
}

bool HelperProcess::onExit(const rxpb::v1::SpawnExit& exit) {
  const auto it = watchers_.find(exit.id());
  if (it == watchers_.end() || !it->second.started) {
    lost(fmt::format("it reported the exit of a child it never started ({})", exit.id()));
    return false;
  }
  SpawnWatcher* w = it->second.watcher;
  watchers_.erase(it);
  w->onSpawnExit(exit.exit_status(), exit.term_signal(), exit.core_dumped());
  return true;
}

void HelperProcess::onHelperExit(int64_t status, int sig) {
  running_ = false;
  const std::string how = sig != 0 ? fmt::format("it was killed by signal {}", sig)
                                   : fmt::format("it exited with status {}", status);
  if (!closing_)
    lost(how);
  else if (!asked_to_end_)  // its loss was seen first on a socket: say how it ended too
    log::error("spawn helper (pid {}): {}", pid_, how);
  else if (status != 0 || sig != 0)
    log::warning("spawn helper (pid {}) at its end: {}", pid_, how);
  closeHandle(reinterpret_cast<uv_handle_t*>(&process_));
}

void HelperProcess::lost(const std::string& why) {
  if (closing_) return;
  log::error("spawn helper (pid {}): {}; {} running command(s) lost track of", pid_, why, watchers_.size());
  lost_ = std::move(watchers_);
  watchers_.clear();
  // It may be alive but broken (a bad answer, or none): it goes, its children with their session
  // are killed by their jobs.
  if (running_) uv_process_kill(&process_, SIGKILL);
  end(false);
}

void HelperProcess::end(bool asked) {
  if (closing_) return;
  closing_ = true;
  asked_to_end_ = asked;
  watchers_.clear();
  if (owner_ && owner_->helper_ == this) owner_->helper_ = nullptr;
  owner_ = nullptr;
  if (request_fd_ >= 0) ::close(request_fd_);  // end of file: the helper exits
  request_fd_ = -1;
  closeHandle(reinterpret_cast<uv_handle_t*>(&events_));
  closeHandle(reinterpret_cast<uv_handle_t*>(&answer_timer_));
  // The process handle closes when the helper has been reaped, so none is left a zombie.
  if (!running_) closeHandle(reinterpret_cast<uv_handle_t*>(&process_));
}

void HelperProcess::closeHandle(uv_handle_t* h) {
  if (uv_is_closing(h)) return;
  uv_close(h, [](uv_handle_t* c) { static_cast<HelperProcess*>(c->data)->onHandleClosed(); });
}

void HelperProcess::onHandleClosed() {
  if (--open_handles_ > 0) return;
  const auto lost = std::move(lost_);
  delete this;
  for (auto& [id, pending] : lost) pending.watcher->onSpawnLost();
}

Spawner::Spawner(uv_loop_t* loop, std::string helper_binary)
    : loop_(loop), helper_binary_(std::move(helper_binary)), answer_timeout_ms_(kAnswerTimeoutMs) {}

Spawner::~Spawner() { close(); }

int Spawner::start() {
  if (helper_ && helper_->usable()) return 0;
  auto* h = new HelperProcess(this, loop_, answer_timeout_ms_);
  helper_ = h;
  const int err = h->start(helper_binary_);
  if (err != 0) log::error("cannot start the spawn helper {}: {}", helper_binary_, uv_strerror(err));
  return err;  // on failure the helper has detached itself and frees itself
}

int Spawner::spawn(rxpb::v1::SpawnRequest& request, const std::vector<int>& fds, SpawnWatcher* watcher) {
  if (const int err = start(); err != 0) return err;
  request.set_id(next_id_++);
  const int err = helper_->spawn(request, fds, watcher);
  // The loop's clock stands still while a send blocks (a full socket: the helper still starting
  // on a loaded machine, or many requests at once), and every timer armed from it afterwards (the
  // command's --timeout first) would lose that much: a 1 s timeout once fired at once when the
  // wait took longer (CI, under ASan with 100 daemons and helpers starting).
  uv_update_time(loop_);
  return err;
}

void Spawner::close() {
  if (helper_) helper_->close();
  helper_ = nullptr;
}

int Spawner::helperPid() const { return helper_ ? helper_->pid() : 0; }

}  // namespace rx
