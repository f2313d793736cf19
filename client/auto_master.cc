#include "client/auto_master.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <algorithm>

namespace rx {
namespace {

constexpr char kReady = 'R';
constexpr char kUnavailable = 'S';
// The master's end of the pipe, after it has closed everything else it inherited.
constexpr int kReadyFd = 3;

// Writes `title` over the process's arguments, where the kernel reads /proc/PID/cmdline from
// (truncated to their length; the environment after them is left alone).
void retitle(int argc, char** argv, const std::string& title) {
  if (argc < 1) return;
  char* begin = argv[0];
  char* end = argv[0] + std::strlen(argv[0]) + 1;
  for (int i = 1; i < argc && argv[i] == end; ++i) end += std::strlen(argv[i]) + 1;
  const size_t room = static_cast<size_t>(end - begin);
  const size_t n = std::min(title.size(), room - 1);
  std::memcpy(begin, title.data(), n);
  std::memset(begin + n, 0, room - n);
}

}  // namespace

AutoMasterLaunch launchAutoMaster(int argc, char** argv, const std::string& title) {
  using Outcome = AutoMasterLaunch::Outcome;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    std::fprintf(stderr, "rexec: cannot start a master: pipe: %s\n", std::strerror(errno));
    return {Outcome::Unavailable};
  }
  const pid_t first = fork();
  if (first < 0) {
    std::fprintf(stderr, "rexec: cannot start a master: fork: %s\n", std::strerror(errno));
    close(fds[0]);
    close(fds[1]);
    return {Outcome::Unavailable};
  }
  if (first == 0) {
    close(fds[0]);
    const pid_t second = fork();
    if (second != 0) _exit(second < 0 ? 1 : 0);
    // The master outlives the client: it keeps none of the descriptors the client was given
    // beyond the three standard ones (it gives those up once ready), so that nobody waiting on
    // a pipe the client held waits for the master too.
    if (fds[1] != kReadyFd) {
      dup3(fds[1], kReadyFd, O_CLOEXEC);
      close(fds[1]);
    }
    close_range(kReadyFd + 1, ~0U, 0);
    retitle(argc, argv, title);
    return {Outcome::InMaster, kReadyFd};
  }
  close(fds[1]);
  while (waitpid(first, nullptr, 0) < 0 && errno == EINTR) {
  }
  char report = 0;
  ssize_t n;
  while ((n = read(fds[0], &report, 1)) < 0 && errno == EINTR) {
  }
  close(fds[0]);
  if (n == 1 && report == kReady) return {Outcome::Ready};
  if (n == 1 && report == kUnavailable) return {Outcome::Unavailable};
  return {Outcome::Failed};
}

namespace {

void report(int ready_fd, char what) {
  while (write(ready_fd, &what, 1) < 0 && errno == EINTR) {
  }
}

}  // namespace

void reportMasterReady(int ready_fd) { report(ready_fd, kReady); }
void reportSocketUnavailable(int ready_fd) { report(ready_fd, kUnavailable); }

}  // namespace rx
