#include "daemon/spawn_helper.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "common/frame_codec.h"
#include "common/owned_write.h"
#include "daemon/fd_passing.h"
#include "daemon/start_child.h"
#include "spawn.pb.h"

namespace rx {
namespace {

class SpawnHelper {
 public:
  explicit SpawnHelper(uv_loop_t* loop) : loop_(loop) {}

  int run() {
    // Started by hand, without rexecd's sockets, it has nothing to serve.
    uv_pipe_init(loop_, &events_, 0);
    if (uv_pipe_open(&events_, kSpawnEventFd) != 0 || uv_poll_init(loop_, &requests_, kSpawnRequestFd) != 0) {
      std::fprintf(
          stderr, "rexecd spawn helper: fds %d and %d are not rexecd's sockets (this mode is rexecd's own)\n",
          kSpawnRequestFd, kSpawnEventFd);
      return 2;
    }
    child_ended_.data = this;
    uv_signal_init(loop_, &child_ended_);
    uv_signal_start(
        &child_ended_, [](uv_signal_t* s, int) { static_cast<SpawnHelper*>(s->data)->reapChildren(); },
        SIGCHLD);
    requests_.data = this;
    uv_poll_start(&requests_, UV_READABLE,
                  [](uv_poll_t* p, int, int) { static_cast<SpawnHelper*>(p->data)->onReadable(); });
    uv_run(loop_, UV_RUN_DEFAULT);
    return failed_ ? 1 : 0;
  }

 private:
  void onReadable() {
    char buf[64 * 1024];
    for (;;) {
      const ssize_t n = receiveWithFds(kSpawnRequestFd, buf, sizeof buf, fds_, MSG_DONTWAIT);
      if (n == -EAGAIN) break;
      if (n <= 0) {
        if (n < 0) fail(std::string("reading rexecd's requests: ") + std::strerror(static_cast<int>(-n)));
        stop();  // end of file: rexecd is gone or done
        return;
      }
      requests_in_.feed(std::string_view(buf, static_cast<size_t>(n)));
    }
    rxpb::v1::SpawnRequest req;
    for (;;) {
      const FrameDecoder::Result r = requests_in_.next(req);
      if (r == FrameDecoder::Result::NeedMore) break;
      if (r == FrameDecoder::Result::Error) {
        fail("a request from rexecd that is not one: " + requests_in_.error());
        stop();
        return;
      }
      if (!spawn(req)) {
        stop();
        return;
      }
    }
  }

  // False: the helper cannot go on (its request socket failed, or a request lacks descriptors).
  bool spawn(const rxpb::v1::SpawnRequest& req) {
    if (req.fd_count() > fds_.size() || req.stdio_size() != 3 || req.argv_size() == 0) {
      fail("a request from rexecd without its descriptors or arguments");
      return false;
    }
    std::vector<int> fds(fds_.begin(), fds_.begin() + req.fd_count());
    fds_.erase(fds_.begin(), fds_.begin() + req.fd_count());

    std::vector<std::string> args(req.argv().begin(), req.argv().end());
    std::vector<std::string> envs(req.env().begin(), req.env().end());
    std::vector<char*> argv, env;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : envs) env.push_back(e.data());
    env.push_back(nullptr);
    const std::string cwd = req.cwd();

    ChildSpec spec;
    spec.file = argv[0];
    spec.argv = argv.data();
    spec.env = env.data();
    spec.cwd = cwd.empty() ? nullptr : cwd.c_str();
    if (req.set_user()) {
      spec.set_user = true;
      spec.uid = req.uid();
      spec.gid = req.gid();
    }
    for (int i = 0; i < 3; ++i) {
      const int index = req.stdio(i);
      if (index >= 0 && static_cast<size_t>(index) < fds.size())
        spec.stdio[i] = fds[static_cast<size_t>(index)];
    }
    spec.controlling_terminal = req.controlling_terminal();
    const int result = startChild(spec);
    for (int fd : fds) ::close(fd);  // the child has its copies (or never started)
    rxpb::v1::SpawnEvent event;
    rxpb::v1::SpawnReply* reply = event.mutable_reply();
    reply->set_id(req.id());
    if (result < 0) {
      reply->set_error(result);
    } else {
      reply->set_pid(result);
      running_.emplace(result, req.id());
    }
    // On the event socket, ahead of this child's exit: rexecd reads the two in this order.
    return sendEvent(event, "an answer");
  }

  // False: rexecd cannot be told any more (the helper stops).
  bool sendEvent(const rxpb::v1::SpawnEvent& event, const char* what) {
    const std::string context = std::string("sending ") + what + " to rexecd: ";
    const int err = writeOwned(reinterpret_cast<uv_stream_t*>(&events_), encodeFrame(event),
                               [this, context](int werr, size_t) {
                                 if (werr != 0 && werr != UV_ECANCELED) {
                                   fail(context + uv_strerror(werr));
                                   stop();
                                 }
                               });
    if (err != 0) {
      fail(context + uv_strerror(err));
      return false;
    }
    return true;
  }

  // SIGCHLD: every child of the helper is a command it started (one that failed to start was
  // reaped at once), so any that waitpid returns is reported.
  void reapChildren() {
    for (;;) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid < 0 && errno == EINTR) continue;
      if (pid <= 0) return;  // 0: none more has ended; -1 (ECHILD): none left
      const auto it = running_.find(pid);
      if (it == running_.end()) continue;
      rxpb::v1::SpawnEvent event;
      rxpb::v1::SpawnExit* exit = event.mutable_exit();
      exit->set_id(it->second);
      exit->set_exit_status(WIFEXITED(status) ? WEXITSTATUS(status) : 0);
      exit->set_term_signal(WIFSIGNALED(status) ? WTERMSIG(status) : 0);
      exit->set_core_dumped(WIFSIGNALED(status) && WCOREDUMP(status));
      running_.erase(it);
      if (stopped_) continue;
      if (!sendEvent(event, "an exit")) stop();
    }
  }

  void fail(const std::string& what) {
    failed_ = true;
    std::fprintf(stderr, "rexecd spawn helper: %s\n", what.c_str());
  }

  // Nothing more to do once rexecd is gone (or this helper cannot go on). A command still running
  // then has nobody to report its output or its end to: it would run on as an orphan, which rexec
  // never leaves behind. So its whole process group is killed, as rexecd kills a session's
  // commands when their client goes. When rexecd ends normally there are none: it waits for its
  // commands first. This covers rexecd dying (a crash, SIGKILL) and a command whose start was
  // still in flight when a forced shutdown killed the groups rexecd knew.
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    for (const auto& [pid, id] : running_) ::kill(-pid, SIGKILL);
    uv_stop(loop_);
  }

  uv_loop_t* loop_;
  uv_poll_t requests_{};
  uv_pipe_t events_{};
  uv_signal_t child_ended_{};
  FrameDecoder requests_in_{kMaxSpawnRequest};
  std::deque<int> fds_;              // received, not yet given to a request
  std::map<int, uint64_t> running_;  // pid -> request id: started, not yet reaped (each leads its group)
  bool stopped_ = false;
  bool failed_ = false;
};

}  // namespace

int spawnHelperMain() {
  // First of all: the two sockets arrived without close-on-exec (uv_spawn dup2()s them into
  // place), and every command would inherit them. A command that can write requests to the
  // helper could start anything as any user.
  for (int fd : {kSpawnRequestFd, kSpawnEventFd}) {
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
  // SIGPIPE: a write to rexecd after it died is an error return, not death. The others: see the
  // header. startChild resets every disposition to the default in the children.
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP}) ::signal(sig, SIG_IGN);
  SpawnHelper helper(uv_default_loop());
  return helper.run();
}

}  // namespace rx
