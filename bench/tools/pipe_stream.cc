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
#include <unistd.h>

#include <cstdio>

#include "bench/tools/stream_tool.h"

namespace {

constexpr int kPipeSize = 1024 * 1024;  // daemon/job.cc kPipeSize
constexpr size_t kChunk = 1024 * 1024;

}  // namespace

int main(int argc, char** argv) {
  rxbench::g_tool = "rx_pipe_stream";
  const unsigned long long bytes = argc == 2 ? rxbench::parseBytes(argv[1]) : 0;
  if (bytes == 0) {
    std::fprintf(stderr, "usage: rx_pipe_stream BYTES\n");
    return 2;
  }
  int fds[2];
  if (pipe(fds) != 0) rxbench::dieErrno("pipe");
  // Best effort, as rexecd: the kernel may refuse past its per-user limits.
  fcntl(fds[1], F_SETPIPE_SZ, kPipeSize);
  const double start = rxbench::now();
  const pid_t child = fork();
  if (child < 0) rxbench::dieErrno("fork");
  if (child == 0) {
    close(fds[0]);
    rxbench::writeZeros(fds[1], bytes, kChunk);
    _exit(0);
  }
  close(fds[1]);
  const unsigned long long got = rxbench::drain(fds[0], kChunk);
  return rxbench::report(child, bytes, got, rxbench::now() - start);
}
