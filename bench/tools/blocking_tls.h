#pragma once
// What bench/tools' plain TLS programs (tls_stream.cc, bare_oneshot.cc) share: rexec's TlsEngine
// driven by blocking reads and writes on a socket, and dying with one line on any error (these
// are measuring tools; a failure ends the measurement, which bench/run then reports).
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "common/tls_engine.h"

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

// Everything the engine has to send, in as few write()s as the socket takes.
inline void flush(rx::TlsEngine& tls, int fd) {
  while (tls.hasOutput()) {
    const std::string_view out = tls.pendingOutput();
    const ssize_t w = write(fd, out.data(), out.size());
    if (w < 0) {
      if (errno == EINTR) continue;
      dieErrno("write");
    }
    tls.consumeOutput(static_cast<size_t>(w));
  }
}

// One read from the socket into the engine, what it decrypts appended to `plain`; false at end
// of file.
inline bool readInto(rx::TlsEngine& tls, int fd, std::vector<char>& buf, std::string& plain) {
  ssize_t r;
  do r = read(fd, buf.data(), buf.size());
  while (r < 0 && errno == EINTR);
  if (r < 0) dieErrno("read");
  if (r == 0) return false;
  if (rx::Status s = tls.feed(std::string_view(buf.data(), static_cast<size_t>(r)), plain); !s)
    die("TLS", s.message());
  return true;
}

}  // namespace rxbench
