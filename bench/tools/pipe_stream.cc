// rx_pipe_stream BYTES: the pipe of bench/run's stream rows. A child process writes BYTES zero
// bytes into a pipe of rexecd's size for a command's stdio (1 MiB, daemon/job.cc) in writes of
// 1 MiB (as the stdout row's `dd bs=1M`), and the parent reads them in reads of 1 MiB (as rexecd
// does) and discards them. Prints "BYTES SECONDS MB/s" (MB = 10^6 bytes).
//
// What it is for: every rexec stream crosses such a pipe between the command and rexecd, on the
// same two cores as the TLS connection, and on some machines a pipe is slower than loopback TCP.
// The CPU this program and rx_tls_stream take (the runner measures both) is what any stream of
// rexec's shape needs at the least, which bounds the rate it can reach on the machine.
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr int kPipeSize = 1024 * 1024;  // daemon/job.cc kPipeSize
constexpr size_t kChunk = 1024 * 1024;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "rx_pipe_stream: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  char* end = nullptr;
  const unsigned long long bytes = argc == 2 ? std::strtoull(argv[1], &end, 10) : 0;
  if (argc != 2 || *end != '\0' || bytes == 0) {
    std::fprintf(stderr, "usage: rx_pipe_stream BYTES\n");
    return 2;
  }
  int fds[2];
  if (pipe(fds) != 0) die("pipe");
  // Best effort, as rexecd: the kernel may refuse past its per-user limits.
  fcntl(fds[1], F_SETPIPE_SZ, kPipeSize);
  std::vector<char> buf(kChunk, 0);
  const double start = now();
  const pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    close(fds[0]);
    unsigned long long left = bytes;
    while (left > 0) {
      const size_t n = left < kChunk ? static_cast<size_t>(left) : kChunk;
      const ssize_t w = write(fds[1], buf.data(), n);
      if (w < 0) {
        if (errno == EINTR) continue;
        die("write");
      }
      left -= static_cast<unsigned long long>(w);
    }
    _exit(0);
  }
  close(fds[1]);
  unsigned long long got = 0;
  for (;;) {
    const ssize_t r = read(fds[0], buf.data(), buf.size());
    if (r < 0) {
      if (errno == EINTR) continue;
      die("read");
    }
    if (r == 0) break;
    got += static_cast<unsigned long long>(r);
  }
  const double seconds = now() - start;
  int status = 0;
  waitpid(child, &status, 0);
  if (got != bytes || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "rx_pipe_stream: received %llu of %llu bytes\n", got, bytes);
    return 1;
  }
  std::printf("%llu %.6f %.1f\n", bytes, seconds, static_cast<double>(bytes) / seconds / 1e6);
  return 0;
}
