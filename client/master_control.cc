#include "client/master_control.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <algorithm>

#include <fmt/format.h>

#include "client/control_socket.h"
#include "client/exit_status.h"
#include "common/encoding.h"
#include "common/frame_codec.h"
#include "common/limits.h"

namespace rx {
namespace {

// Through syscall(): glibc 2.36's <sys/pidfd.h> declares these without C linkage for C++.
int pidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }
int pidfdSendSignal(int pidfd, int signo) {
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, signo, nullptr, 0));
}

int fail(const std::string& message) {
  std::fprintf(stderr, "rexec: %s\n", message.c_str());
  return kExitFailure;
}

// The master's greeting on `fd`: the target it serves, or an error.
bool readGreeting(int fd, int timeout_ms, std::string& target, std::string& error) {
  FrameDecoder decoder(kMaxFramePreAuth);
  rxpb::v1::Frame frame;
  char buf[4096];
  for (;;) {
    switch (decoder.next(frame)) {
      case FrameDecoder::Result::Frame:
        if (frame.msg_case() != rxpb::v1::Frame::kAuthChallenge ||
            !frame.auth_challenge().server_nonce().empty() ||
            frame.auth_challenge().master_target().empty()) {
          error = "what answers there is not a rexec master";
          return false;
        }
        target = frame.auth_challenge().master_target();
        return true;
      case FrameDecoder::Result::Error:
        error = "what answers there is not a rexec master (" + decoder.error() + ")";
        return false;
      case FrameDecoder::Result::NeedMore:
        break;
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, timeout_ms);
    if (ready == 0) {
      error = fmt::format("the master did not answer within {:g} s", timeout_ms / 1000.0);
      return false;
    }
    if (ready < 0 && errno == EINTR) continue;
    const ssize_t n = ready < 0 ? -1 : read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = n == 0 ? "the master closed the connection before its greeting" : std::strerror(errno);
      return false;
    }
    decoder.feed(std::string_view(buf, static_cast<size_t>(n)));
  }
}

// Stops the master at the other end of `fd` (process `pid`): a pidfd taken while the connection
// is still open names that master for sure (a process that has exited closes its end first). It
// closes its connection and exits; the server stops the commands still running on its own.
int stopMaster(int fd, pid_t pid, const std::string& path, int timeout_ms) {
  const int pidfd = pidfdOpen(pid);
  char byte;
  const bool open_still = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) < 0 && errno == EAGAIN;
  if (pidfd < 0 || !open_still) {
    if (pidfd >= 0) close(pidfd);
    return fail("the master on " + path + " ended by itself meanwhile");
  }
  if (pidfdSendSignal(pidfd, SIGTERM) != 0) {
    const std::string why = std::strerror(errno);
    close(pidfd);
    return fail("cannot stop the master on " + path + " (pid " + std::to_string(pid) + "): " + why);
  }
  pollfd p{pidfd, POLLIN, 0};
  int ready;
  while ((ready = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
  }
  close(pidfd);
  if (ready == 0)
    return fail(fmt::format("the master on {} (pid {}) did not stop within {:g} s of its SIGTERM", path,
                            static_cast<int>(pid), timeout_ms / 1000.0));
  std::fprintf(stderr, "rexec: stopped the master on %s (pid %d)\n", path.c_str(), static_cast<int>(pid));
  return 0;
}

}  // namespace

int controlMaster(const std::string& command, const std::string& path, const std::string& target_label,
                  uint64_t timeout_ms) {
  const int timeout = static_cast<int>(std::min<uint64_t>(timeout_ms, INT32_MAX));
  // As for a command: a socket of another user is not talked to, let alone signalled.
  const MasterConnection master = connectOwnMaster(path);
  if (!master.refusal.empty()) return fail(master.refusal);
  if (master.fd < 0) return fail("no master on " + master.why);
  const int fd = master.fd;
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  std::string target, error;
  if (!readGreeting(fd, timeout, target, error)) return fail(path + ": " + error);
  if (target != target_label)
    return fail("the master on " + path + " runs commands on " + printableText(target.substr(0, 300)) +
                ", not " + target_label);
  if (command == "exit") return stopMaster(fd, master.pid, path, timeout);
  std::printf("master for %s on %s, pid %d\n", printableText(target).c_str(), path.c_str(),
              static_cast<int>(master.pid));
  return 0;
}

}  // namespace rx
