// rx_tcp_stream BYTES: the plain loopback TCP baseline of bench/run. A child process connects to
// a listener on 127.0.0.1 (port chosen by the kernel) and sends BYTES zero bytes in writes of
// rexec's chunk size (kMaxChunk, 512 KiB); the parent reads them in reads of that size and
// discards them, as a client sending output to
// /dev/null would. Prints "BYTES SECONDS MB/s" (MB = 10^6 bytes), the time counted from the
// connect to the last byte read. No encryption, no framing: what the kernel alone can move
// between two processes, which no protocol over TCP can beat.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/limits.h"

namespace {

constexpr size_t kChunk = rx::kMaxChunk;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "rx_tcp_stream: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void sendAll(int fd, unsigned long long bytes) {
  std::vector<char> buf(kChunk, 0);
  while (bytes > 0) {
    const size_t n = bytes < kChunk ? static_cast<size_t>(bytes) : kChunk;
    const ssize_t w = write(fd, buf.data(), n);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    bytes -= static_cast<unsigned long long>(w);
  }
}

}  // namespace

int main(int argc, char** argv) {
  char* end = nullptr;
  const unsigned long long bytes = argc == 2 ? std::strtoull(argv[1], &end, 10) : 0;
  if (argc != 2 || *end != '\0' || bytes == 0) {
    std::fprintf(stderr, "usage: rx_tcp_stream BYTES\n");
    return 2;
  }
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  if (listener < 0) die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind");
  if (listen(listener, 1) != 0) die("listen");
  socklen_t len = sizeof addr;
  if (getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) die("getsockname");

  const double start = now();
  const pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    close(listener);
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("connect");
    sendAll(fd, bytes);
    close(fd);
    _exit(0);
  }
  const int fd = accept(listener, nullptr, nullptr);
  if (fd < 0) die("accept");
  std::vector<char> buf(kChunk);
  unsigned long long got = 0;
  for (;;) {
    const ssize_t r = read(fd, buf.data(), buf.size());
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
    std::fprintf(stderr, "rx_tcp_stream: received %llu of %llu bytes\n", got, bytes);
    return 1;
  }
  std::printf("%llu %.6f %.1f\n", bytes, seconds, static_cast<double>(bytes) / seconds / 1e6);
  return 0;
}
