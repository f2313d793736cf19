// rx_bare_oneshot: the floor of bench/run's one-shot rows. What a one-shot command over TLS
// cannot do without, written as plainly as it can be, with rexec's own pieces, so that rexec's
// one-shot can be compared with it in the same rounds as ssh's:
//
//   rx_bare_oneshot --serve PORT_FILE   listens on 127.0.0.1 (port chosen by the kernel, written
//                                       to PORT_FILE, then said on stderr as "listening on
//                                       127.0.0.1:PORT") and serves one connection after another
//                                       until it is killed: a TLS 1.3 handshake as rexecd's (its
//                                       TlsEngine and server context, an Ed25519 host key), the
//                                       command line the client sends, `/bin/sh -c LINE` started
//                                       with posix_spawn and waited for, its exit status back.
//   rx_bare_oneshot ADDRESS:PORT LINE   the client, a new process each time as `rexec` is, linked
//                                       as `rexec` is (static PIE) and set up as rexec's main()
//                                       sets up OpenSSL: connects, handshakes, sends LINE with its
//                                       Finished in one write, exits with the status it gets.
//
// Left out, so that this is a floor and not a rival: the client's key and its proof (an Ed25519
// signature and its check), the check of the server's key against known_hosts, option parsing,
// protocol frames, the event loops, rexecd's spawn helper, the command's output and stdin. Both
// ends use blocking I/O on one connection at a time.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/tools/blocking_tls.h"
#include "common/crypto_library.h"
#include "common/tls_engine.h"

extern char** environ;

namespace {

using rxbench::die;
using rxbench::dieErrno;
using rxbench::flush;
using rxbench::readInto;

constexpr size_t kReadSize = 64 * 1024;
constexpr size_t kMaxLine = 64 * 1024;

void noDelay(int fd) {
  const int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) dieErrno("TCP_NODELAY");
}

// One connection: handshake, the line, the command, its status. False when the client went
// away or broke the protocol (the server goes on with the next one).
bool serveOne(SSL_CTX* ctx, int fd) {
  rx::TlsEngine tls(ctx, rx::TlsEngine::Role::Server);
  std::vector<char> buf(kReadSize);
  std::string line;
  while (line.empty() || line.back() != '\n') {
    if (line.size() > kMaxLine || !readInto(tls, fd, buf, line)) return false;
    flush(tls, fd);
  }
  line.pop_back();
  const char* argv[] = {"sh", "-c", line.c_str(), nullptr};
  pid_t pid = -1;
  if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char* const*>(argv), environ) != 0)
    return false;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) dieErrno("waitpid");
  const char code = static_cast<char>(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  if (rx::Status s = tls.write(std::string_view(&code, 1)); !s) return false;
  tls.shutdown();
  flush(tls, fd);
  return true;
}

int serve(const char* port_file) {
  signal(SIGPIPE, SIG_IGN);
  const rx::SslCtxPtr ctx = rxbench::serverContext();
  sockaddr_in addr;
  const int listener = rxbench::loopbackListener(addr, 64);
  // Written whole under another name, then renamed: a reader never sees half a port.
  const std::string tmp = std::string(port_file) + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr || std::fprintf(f, "%d\n", ntohs(addr.sin_port)) < 0 || std::fclose(f) != 0 ||
      std::rename(tmp.c_str(), port_file) != 0)
    dieErrno(port_file);
  // After the file: whoever waits for this line finds the file written.
  std::fprintf(stderr, "rx_bare_oneshot: listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
  for (;;) {
    const int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      dieErrno("accept");
    }
    noDelay(fd);
    if (!serveOne(ctx.get(), fd)) std::fprintf(stderr, "rx_bare_oneshot: a client went away\n");
    close(fd);
  }
}

int runOne(const char* host_port, const std::string& line) {
  rx::startClientCrypto();  // as rexec's main()
  signal(SIGPIPE, SIG_IGN);
  const std::string hp = host_port;
  const size_t colon = hp.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (colon == std::string::npos || inet_pton(AF_INET, hp.substr(0, colon).c_str(), &addr.sin_addr) != 1)
    die(host_port, "not an IPv4 ADDRESS:PORT");
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(hp.c_str() + colon + 1)));
  const rx::SslCtxPtr ctx = rxbench::clientContext();
  const int fd = rxbench::connectTo(addr);
  noDelay(fd);
  rx::TlsEngine tls(ctx.get(), rx::TlsEngine::Role::Client);
  if (rx::Status s = tls.start(); !s) die("TLS", s.message());
  flush(tls, fd);
  std::vector<char> buf(kReadSize);
  std::string plain;
  bool sent = false;
  while (plain.empty()) {
    if (!readInto(tls, fd, buf, plain)) die("read", "the server closed the connection");
    if (tls.handshakeDone() && !sent) {
      // The Finished and the line in one write, as rexec sends its Finished and its request.
      if (rx::Status s = tls.write(line + "\n"); !s) die("TLS", s.message());
      sent = true;
    }
    flush(tls, fd);
  }
  close(fd);
  return static_cast<unsigned char>(plain[0]);
}

}  // namespace

int main(int argc, char** argv) {
  rxbench::g_tool = "rx_bare_oneshot";
  if (argc == 3 && std::string(argv[1]) == "--serve") return serve(argv[2]);
  if (argc == 3 && argv[1][0] != '-') return runOne(argv[1], argv[2]);
  std::fprintf(stderr, "usage: rx_bare_oneshot --serve PORT_FILE | rx_bare_oneshot ADDRESS:PORT LINE\n");
  return 2;
}
