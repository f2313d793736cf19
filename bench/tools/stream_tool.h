#pragma once
// What bench/tools' small measuring programs share (header-only: some of them link nothing of
// rexec's). They die with one line on any error: a failure ends the measurement, and bench/run
// then reports it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace rxbench {

// The program's name, for its error lines.
inline const char* g_tool = "rx_bench";

[[noreturn]] inline void die(const char* what, const std::string& why) {
  std::fprintf(stderr, "%s: %s: %s\n", g_tool, what, why.c_str());
  std::exit(1);
}
[[noreturn]] inline void dieErrno(const char* what) { die(what, std::strerror(errno)); }

inline double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// BYTES, the last argument of the stream tools: a positive decimal count, or 0 when it is not.
inline unsigned long long parseBytes(const char* text) {
  char* end = nullptr;
  const unsigned long long n = std::strtoull(text, &end, 10);
  return *end == '\0' && text[0] != '-' ? n : 0;
}

inline void writeAll(int fd, const char* data, size_t len) {
  while (len > 0) {
    const ssize_t w = write(fd, data, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      dieErrno("write");
    }
    data += w;
    len -= static_cast<size_t>(w);
  }
}

// `bytes` zero bytes in writes of `chunk`.
inline void writeZeros(int fd, unsigned long long bytes, size_t chunk) {
  const std::vector<char> zeros(chunk, 0);
  while (bytes > 0) {
    const size_t n = bytes < chunk ? static_cast<size_t>(bytes) : chunk;
    writeAll(fd, zeros.data(), n);
    bytes -= n;
  }
}

// Reads to the end of file in reads of `chunk`, dropping the bytes; returns how many there were.
inline unsigned long long drain(int fd, size_t chunk) {
  std::vector<char> buf(chunk);
  unsigned long long got = 0;
  for (;;) {
    const ssize_t r = read(fd, buf.data(), buf.size());
    if (r < 0) {
      if (errno == EINTR) continue;
      dieErrno("read");
    }
    if (r == 0) return got;
    got += static_cast<unsigned long long>(r);
  }
}

// A listener on 127.0.0.1, port chosen by the kernel; `addr` is set to where it listens.
inline int loopbackListener(sockaddr_in& addr, int backlog) {
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) dieErrno("socket");
  addr = sockaddr_in{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) dieErrno("bind");
  if (listen(listener, backlog) != 0) dieErrno("listen");
  socklen_t len = sizeof addr;
  if (getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) dieErrno("getsockname");
  return listener;
}

inline int connectTo(const sockaddr_in& addr) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) dieErrno("socket");
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) dieErrno("connect");
  return fd;
}

// The end of a two-process stream: reaps the sending child and prints "BYTES SECONDS MB/s"
// (MB = 10^6 bytes); exit status 1 with a line on stderr when bytes went missing or the child
// failed.
inline int report(pid_t child, unsigned long long bytes, unsigned long long got, double seconds) {
  int status = 0;
  while (waitpid(child, &status, 0) < 0)
    if (errno != EINTR) dieErrno("waitpid");
  if (got != bytes || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "%s: received %llu of %llu bytes\n", g_tool, got, bytes);
    return 1;
  }
  std::printf("%llu %.6f %.1f\n", bytes, seconds, static_cast<double>(bytes) / seconds / 1e6);
  return 0;
}

}  // namespace rxbench
