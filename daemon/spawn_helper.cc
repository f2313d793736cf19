#include "daemon/spawn_helper.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <set>
#include <string>
#include <vector>

#include "common/frame_codec.h"
#include "common/owned_write.h"
#include "daemon/fd_passing.h"
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
    requests_.data = this;
    uv_poll_start(&requests_, UV_READABLE,
                  [](uv_poll_t* p, int, int) { static_cast<SpawnHelper*>(p->data)->onReadable(); });
    uv_run(loop_, UV_RUN_DEFAULT);
    return failed_ ? 1 : 0;
  }

 private:
  struct Child {
    uv_process_t process;
    uint64_t id;
    SpawnHelper* helper;
  };

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

    uv_stdio_container_t stdio[3];
    for (int i = 0; i < 3; ++i) {
      const int index = req.stdio(i);
      if (index >= 0 && static_cast<size_t>(index) < fds.size()) {
        stdio[i].flags = UV_INHERIT_FD;
        stdio[i].data.fd = fds[static_cast<size_t>(index)];
      } else {
        stdio[i].flags = UV_IGNORE;  // libuv gives the child /dev/null
      }
    }
    uv_process_options_t options{};
    options.exit_cb = [](uv_process_t* p, int64_t status, int sig) {
      auto* child = static_cast<Child*>(p->data);
      child->helper->onExit(child, status, sig);
    };
    options.file = argv[0];
    options.args = argv.data();
    options.env = env.data();
    options.cwd = cwd.empty() ? nullptr : cwd.c_str();
    // Detached: setsid() in the child, so the command is its own process group and signals to the
    // group reach every grandchild it starts.
    options.flags = UV_PROCESS_DETACHED;
    if (req.set_user()) {
      options.uid = req.uid();
      options.gid = req.gid();
      options.flags |= UV_PROCESS_SETUID | UV_PROCESS_SETGID;
    }
    options.stdio_count = 3;
    options.stdio = stdio;

    auto* child = new Child{{}, req.id(), this};
    child->process.data = child;
    const int err = uv_spawn(loop_, &child->process, &options);
    for (int fd : fds) ::close(fd);  // the child has its copies (or never started)
    rxpb::v1::SpawnEvent event;
    rxpb::v1::SpawnReply* reply = event.mutable_reply();
    reply->set_id(req.id());
    if (err != 0) {
      reply->set_error(err);
      // uv_spawn initialises the handle even when it fails, and it must be closed either way.
      uv_close(reinterpret_cast<uv_handle_t*>(&child->process),
               [](uv_handle_t* h) { delete static_cast<Child*>(h->data); });
    } else {
      reply->set_pid(child->process.pid);
      running_.insert(child->process.pid);
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

  void onExit(Child* child, int64_t status, int sig) {
    running_.erase(child->process.pid);
    rxpb::v1::SpawnEvent event;
    rxpb::v1::SpawnExit* exit = event.mutable_exit();
    exit->set_id(child->id);
    exit->set_exit_status(status);
    exit->set_term_signal(sig);
    uv_close(reinterpret_cast<uv_handle_t*>(&child->process),
             [](uv_handle_t* h) { delete static_cast<Child*>(h->data); });
    if (stopped_) return;
    if (!sendEvent(event, "an exit")) stop();
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
    for (const int pid : running_) ::kill(-pid, SIGKILL);
    uv_stop(loop_);
  }

  uv_loop_t* loop_;
  uv_poll_t requests_{};
  uv_pipe_t events_{};
  FrameDecoder requests_in_{kMaxSpawnRequest};
  std::deque<int> fds_;    // received, not yet given to a request
  std::set<int> running_;  // the children started and not yet reaped (each leads its group)
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
  // header. uv_spawn resets every handler to the default in the children.
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP}) ::signal(sig, SIG_IGN);
  SpawnHelper helper(uv_default_loop());
  return helper.run();
}

}  // namespace rx
