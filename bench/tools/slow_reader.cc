// rx_slow_reader MB_PER_S: a slow consumer for bench/run's bounded-memory figure. Reads stdin at
// most MB_PER_S megabytes (10^6 bytes) a second, in 64 KiB reads, discards it, and prints the
// number of bytes read. Put behind `rexec ... | ` it makes the client, and through TCP flow
// control the daemon, hold back output the command keeps producing: the daemon's memory must stay
// bounded however long that goes on.
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "bench/tools/stream_tool.h"

int main(int argc, char** argv) {
  char* end = nullptr;
  const double rate = argc == 2 ? std::strtod(argv[1], &end) * 1e6 : 0;
  if (argc != 2 || *end != '\0' || !(rate > 0)) {
    std::fprintf(stderr, "usage: rx_slow_reader MB_PER_S\n");
    return 2;
  }
  static char buf[64 * 1024];
  unsigned long long total = 0;
  const double start = rxbench::now();
  for (;;) {
    // Ahead of the allowed rate: sleep until the bytes read so far are due.
    const double due = start + static_cast<double>(total) / rate;
    const double ahead = due - rxbench::now();
    if (ahead > 0) {
      timespec ts{static_cast<time_t>(ahead),
                  static_cast<long>((ahead - static_cast<double>(static_cast<time_t>(ahead))) * 1e9)};
      nanosleep(&ts, nullptr);
    }
    const ssize_t r = read(0, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "rx_slow_reader: read: %s\n", std::strerror(errno));
      return 1;
    }
    if (r == 0) break;
    total += static_cast<unsigned long long>(r);
  }
  std::printf("%llu\n", total);
  return 0;
}
