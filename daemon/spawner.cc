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

// How long a spawn may take before the helper is taken for hung (it is killed, and the command
// fails to start). uv_spawn answers once the child has exec'd, which a binary on slow storage
// may delay, but never by this much.
constexpr int kAnswerTimeoutS = 60;
constexpr size_t kMaxEvent = 256;

}  // namespace

// One helper process and its two sockets. Frees itself once its handles are closed: after
// close(), or after lost(), whose watchers hear onSpawnLost() from there (never from inside a
// spawn() or another callback of the session that called it).
class HelperProcess {
 public:
  HelperProcess(Spawner* owner, uv_loop_t* loop) : owner_(owner), loop_(loop) {}

  int start(const std::string& binary);
  int spawn(rxpb::v1::SpawnRequest& request, const std::vector<int>& fds, SpawnWatcher* watcher, int& pid);
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
  void closeHandle(uv_handle_t* h);
  void onHandleClosed();

  Spawner* owner_;
  uv_loop_t* loop_;
  uv_process_t process_{};
  uv_pipe_t events_{};
  int request_fd_ = -1;
  int open_handles_ = 0;
  int pid_ = 0;
  bool running_ = false;  // the helper process has not been reaped
  bool closing_ = false;
  bool asked_to_end_ = false;  // by the owner (the daemon is done), as opposed to a failure
  std::map<uint64_t, SpawnWatcher*> watchers_;
  std::map<uint64_t, SpawnWatcher*> lost_;  // to be told onSpawnLost() once everything is closed
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
  const timeval timeout{kAnswerTimeoutS, 0};
  ::setsockopt(request_fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
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

int HelperProcess::spawn(rxpb::v1::SpawnRequest& request, const std::vector<int>& fds, SpawnWatcher* watcher,
                         int& pid) {
  if (int err = sendWithFds(request_fd_, encodeFrame(request), fds); err != 0) {
    lost(fmt::format("cannot send it a request: {}", std::strerror(-err)));
    return err == -EAGAIN ? UV_ETIMEDOUT : err;
  }
  // The one answer to this request; nothing else comes on this socket.
  FrameDecoder in(kMaxEvent);
  rxpb::v1::SpawnReply reply;
  for (;;) {
    const FrameDecoder::Result r = in.next(reply);
    if (r == FrameDecoder::Result::Frame) {
      if (in.buffered() != 0 || reply.id() != request.id() || (reply.error() == 0) == (reply.pid() <= 0) ||
          reply.error() > 0) {
        lost("its answer is not one");
        return UV_EPROTO;
      }
      break;
    }
    if (r == FrameDecoder::Result::Error) {
      lost("its answer is not one: " + in.error());
      return UV_EPROTO;
    }
    char buf[kMaxEvent];
    const ssize_t n = ::recv(request_fd_, buf, sizeof buf, 0);
    if (n > 0) {
      in.feed(std::string_view(buf, static_cast<size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      lost(fmt::format("no answer in {} s", kAnswerTimeoutS));
      return UV_ETIMEDOUT;
    }
    lost(n == 0 ? "it closed its socket" : fmt::format("reading its answer: {}", std::strerror(errno)));
    return UV_EPIPE;
  }
  if (reply.error() != 0) return reply.error();
  watchers_[request.id()] = watcher;
  pid = reply.pid();
  return 0;
}

void HelperProcess::onEvents(ssize_t nread) {
  if (closing_) return;
  if (nread < 0) {
    lost(nread == UV_EOF ? "it closed its socket"
                         : fmt::format("reading its events: {}", uv_strerror(static_cast<int>(nread))));
    return;
  }
  events_in_.feed(std::string_view(read_buf_, static_cast<size_t>(nread)));
  rxpb::v1::SpawnExit exit;
  for (;;) {
    const FrameDecoder::Result r = events_in_.next(exit);
    if (r == FrameDecoder::Result::NeedMore) break;
    if (r == FrameDecoder::Result::Error) {
      lost("an event from it is not one: " + events_in_.error());
      return;
    }
    const auto it = watchers_.find(exit.id());
    if (it == watchers_.end()) {
      lost(fmt::format("it reported the exit of a child it never started ({})", exit.id()));
      return;
    }
    SpawnWatcher* w = it->second;
    watchers_.erase(it);
    // May spawn (the session's next command) or close; neither touches events_in_.
    w->onSpawnExit(exit.exit_status(), exit.term_signal());
    if (closing_) return;
  }
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
  for (auto& [id, w] : lost) w->onSpawnLost();
}

Spawner::Spawner(uv_loop_t* loop, std::string helper_binary)
    : loop_(loop), helper_binary_(std::move(helper_binary)) {}

Spawner::~Spawner() { close(); }

int Spawner::start() {
  if (helper_ && helper_->usable()) return 0;
  auto* h = new HelperProcess(this, loop_);
  helper_ = h;
  const int err = h->start(helper_binary_);
  if (err != 0) log::error("cannot start the spawn helper {}: {}", helper_binary_, uv_strerror(err));
  return err;  // on failure the helper has detached itself and frees itself
}

int Spawner::spawn(rxpb::v1::SpawnRequest& request, const std::vector<int>& fds, SpawnWatcher* watcher,
                   int& pid) {
  if (const int err = start(); err != 0) return err;
  request.set_id(next_id_++);
  const int err = helper_->spawn(request, fds, watcher, pid);
  // The loop's clock stood still while this waited for the answer (up to seconds when the
  // helper was still starting on a loaded machine), and every timer armed from it afterwards
  // (the command's --timeout first) would have lost that much: a 1 s timeout fired at once when
  // the wait took longer (CI, under ASan with 100 daemons and helpers starting).
  uv_update_time(loop_);
  return err;
}

void Spawner::close() {
  if (helper_) helper_->close();
  helper_ = nullptr;
}

int Spawner::helperPid() const { return helper_ ? helper_->pid() : 0; }

}  // namespace rx
