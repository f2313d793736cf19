// rx_tcp_stream BYTES: the plain loopback TCP baseline of bench/run. A child process connects to
// a listener on 127.0.0.1 (port chosen by the kernel) and sends BYTES zero bytes in writes of
// rexec's chunk size (kMaxChunk, 512 KiB); the parent reads them in reads of that size and
// discards them, as a client sending output to
// /dev/null would. Prints "BYTES SECONDS MB/s" (MB = 10^6 bytes), the time counted from the
// connect to the last byte read. No encryption, no framing: what the kernel alone can move
// between two processes, which no protocol over TCP can beat.
#include <unistd.h>

#include <cstdio>

#include "bench/tools/stream_tool.h"
#include "common/limits.h"

int main(int argc, char** argv) {
  rxbench::g_tool = "rx_tcp_stream";
  const unsigned long long bytes = argc == 2 ? rxbench::parseBytes(argv[1]) : 0;
  if (bytes == 0) {
    std::fprintf(stderr, "usage: rx_tcp_stream BYTES\n");
    return 2;
  }
  sockaddr_in addr;
  const int listener = rxbench::loopbackListener(addr, 1);
  const double start = rxbench::now();
  const pid_t child = fork();
  if (child < 0) rxbench::dieErrno("fork");
  if (child == 0) {
    close(listener);
    const int fd = rxbench::connectTo(addr);
    rxbench::writeZeros(fd, bytes, rx::kMaxChunk);
    close(fd);
    _exit(0);
  }
  const int fd = accept(listener, nullptr, nullptr);
  if (fd < 0) rxbench::dieErrno("accept");
  const unsigned long long got = rxbench::drain(fd, rx::kMaxChunk);
  return rxbench::report(child, bytes, got, rxbench::now() - start);
}
