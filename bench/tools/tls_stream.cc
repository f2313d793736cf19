// rx_tls_stream [--from-pipe|--to-pipe] BYTES: the ceilings of bench/run's stream rows.
// rx_tcp_stream's two processes and loopback connection, with rexec's own TLS layer
// (common/tls_engine.h: TLS 1.3, AES-128-GCM, OpenSSL 3.0 in user space) between them and nothing
// else: no event loop, no protocol frames. The child is the TLS server and sends BYTES zero bytes,
// encrypted in writes of rexec's chunk size (kMaxChunk, 512 KiB), each chunk's records in one
// write(); the parent, the TLS client, reads them in reads of 1 MiB (as rexec's client does) and
// decrypts them. Prints "BYTES SECONDS MB/s" (MB = 10^6 bytes), the time counted from the connect
// to the last byte decrypted (or, with --to-pipe, read from the pipe), handshake included.
//
//   (no option)  the zeros come from memory and the decrypted bytes are dropped: TLS alone.
//   --from-pipe  the shape of a command's stdout: a third process writes the zeros into a pipe of
//                rexecd's size (1 MiB, daemon/job.cc) in writes of 1 MiB (`dd bs=1M`), and the
//                sender reads that pipe in reads of 1 MiB (as rexecd does) before it encrypts.
//   --to-pipe    the shape of a command's stdin: the sender reads the bytes from its stdin (a file,
//                BYTES long) in reads of 512 KiB (as rexec's client does), and the receiver writes
//                what it decrypts into such a pipe, which a third process reads in reads of 128 KiB
//                (`cat`) and drops.
//
// What it is for: a rexec stream does all of this and more (its frames, its loop, flow control),
// so what this program reaches against rx_tcp_stream in the same run bounds what a stream of
// rexec's shape can reach against it on that machine. The kernel has no TLS of its own here (no
// "tls" in /proc/sys/net/ipv4/tcp_available_ulp), so the records are encrypted and copied in user
// space on both sides.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/tools/blocking_tls.h"
#include "common/limits.h"
#include "common/tls_engine.h"

namespace {

using rxbench::die;
using rxbench::dieErrno;
using rxbench::flush;
using rxbench::readInto;

constexpr size_t kChunk = rx::kMaxChunk;
constexpr size_t kReadSize = 1 << 20;
constexpr int kPipeSize = 1 << 20;          // daemon/job.cc kPipeSize
constexpr size_t kCommandRead = 128 << 10;  // what `cat` reads at a time

// A pipe of rexecd's size whose other end a child process holds: it writes `bytes` zeros in 1 MiB
// writes (to_child false), or reads to the end in 128 KiB reads (to_child true). Returns our end;
// `pid` is the child's, for waitpid (a plain wait() could reap the TLS peer's process instead).
int startCommand(bool to_child, unsigned long long bytes, pid_t& pid) {
  int fds[2];
  if (pipe(fds) != 0) dieErrno("pipe");
  fcntl(fds[1], F_SETPIPE_SZ, kPipeSize);
  pid = fork();
  if (pid < 0) dieErrno("fork");
  if (pid == 0) {
    if (to_child) {
      close(fds[1]);
      rxbench::drain(fds[0], kCommandRead);
    } else {
      close(fds[0]);
      rxbench::writeZeros(fds[1], bytes, kReadSize);
    }
    _exit(0);
  }
  close(to_child ? fds[0] : fds[1]);
  return to_child ? fds[1] : fds[0];
}

void serve(int fd, unsigned long long bytes, bool from_pipe, bool from_stdin) {
  const rx::SslCtxPtr ctx = rxbench::serverContext();
  rx::TlsEngine tls(ctx.get(), rx::TlsEngine::Role::Server);
  std::vector<char> buf(kReadSize);
  std::string plain;
  while (!tls.handshakeDone()) {
    if (!readInto(tls, fd, buf, plain)) die("handshake", "the client went away");
    flush(tls, fd);
  }
  if (from_pipe || from_stdin) {
    pid_t producer = -1;
    const int source = from_pipe ? startCommand(false, bytes, producer) : STDIN_FILENO;
    const size_t read_size = from_pipe ? kReadSize : kChunk;
    for (;;) {
      ssize_t r;
      do r = read(source, buf.data(), read_size);
      while (r < 0 && errno == EINTR);
      if (r < 0) dieErrno("read");
      if (r == 0) break;
      for (size_t at = 0; at < static_cast<size_t>(r); at += kChunk) {
        const std::string_view chunk(buf.data() + at, std::min(kChunk, static_cast<size_t>(r) - at));
        if (rx::Status s = tls.write(chunk); !s) die("TLS", s.message());
      }
      flush(tls, fd);
    }
    if (from_pipe) waitpid(producer, nullptr, 0);
  } else {
    const std::string zeros(kChunk, '\0');
    while (bytes > 0) {
      const size_t n = bytes < kChunk ? static_cast<size_t>(bytes) : kChunk;
      if (rx::Status s = tls.write(std::string_view(zeros).substr(0, n)); !s) die("TLS", s.message());
      flush(tls, fd);
      bytes -= n;
    }
  }
  tls.shutdown();
  flush(tls, fd);
}

unsigned long long receive(int fd, bool to_pipe) {
  const rx::SslCtxPtr ctx = rxbench::clientContext();
  rx::TlsEngine tls(ctx.get(), rx::TlsEngine::Role::Client);
  if (rx::Status s = tls.start(); !s) die("TLS", s.message());
  flush(tls, fd);
  pid_t consumer = -1;
  const int command = to_pipe ? startCommand(true, 0, consumer) : -1;
  std::vector<char> buf(kReadSize);
  std::string plain;
  unsigned long long got = 0;
  while (!tls.peerClosed() && readInto(tls, fd, buf, plain)) {
    flush(tls, fd);  // the client's Finished, once
    if (to_pipe) rxbench::writeAll(command, plain.data(), plain.size());
    got += plain.size();
    plain.clear();
  }
  if (to_pipe) {
    close(command);
    waitpid(consumer, nullptr, 0);
  }
  return got;
}

}  // namespace

int main(int argc, char** argv) {
  rxbench::g_tool = "rx_tls_stream";
  const std::string mode = argc == 3 ? argv[1] : "";
  const bool from_pipe = mode == "--from-pipe", to_pipe = mode == "--to-pipe";
  const unsigned long long bytes = argc >= 2 ? rxbench::parseBytes(argv[argc - 1]) : 0;
  if (argc < 2 || argc > 3 || (argc == 3 && !from_pipe && !to_pipe) || bytes == 0) {
    std::fprintf(stderr, "usage: rx_tls_stream [--from-pipe|--to-pipe] BYTES\n");
    return 2;
  }
  sockaddr_in addr;
  const int listener = rxbench::loopbackListener(addr, 1);
  const double start = rxbench::now();
  const pid_t child = fork();
  if (child < 0) dieErrno("fork");
  if (child == 0) {
    close(listener);
    const int fd = rxbench::connectTo(addr);
    serve(fd, bytes, from_pipe, to_pipe);
    close(fd);
    _exit(0);
  }
  const int fd = accept(listener, nullptr, nullptr);
  if (fd < 0) dieErrno("accept");
  const unsigned long long got = receive(fd, to_pipe);
  return rxbench::report(child, bytes, got, rxbench::now() - start);
}
