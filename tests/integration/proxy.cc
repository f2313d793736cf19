#include "tests/integration/proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

#include "common/tls_engine.h"
#include "tests/integration/harness.h"

namespace rxtest {
namespace {

int listenLoopback(uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0)
    throw std::runtime_error("proxy: cannot listen on loopback");
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

bool writeAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Accepts until woken; calls `handle(client_fd)` on a new thread per connection.
template <typename F>
void acceptLoop(int listen_fd, int wake_fd, std::vector<std::thread>& threads, F handle) {
  for (;;) {
    pollfd p[2] = {{listen_fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) return;
    if (p[1].revents) return;
    const int c = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    threads.emplace_back([c, handle] { handle(c); });
  }
}

}  // namespace

TcpProxy::TcpProxy(uint16_t target_port, Tamper tamper) : target_(target_port), tamper_(std::move(tamper)) {
  listen_fd_ = listenLoopback(port_);
  if (::pipe2(wake_, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  thread_ = std::thread([this] { serve(); });
}

TcpProxy::~TcpProxy() {
  (void)!::write(wake_[1], "x", 1);
  thread_.join();
  for (auto& t : pumps_) t.join();
  ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

void TcpProxy::serve() {
  acceptLoop(listen_fd_, wake_[0], pumps_, [this](int client) {
    const int server = connectLoopback(target_);
    if (server >= 0) pump(client, server);
    ::close(client);
    if (server >= 0) ::close(server);
  });
}

void TcpProxy::pump(int client, int server) {
  uint64_t offset[2] = {0, 0};
  char buf[65536];
  for (;;) {
    pollfd p[3] = {{client, POLLIN, 0}, {server, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(p, 3, 60000) <= 0 || p[2].revents) return;
    for (int i = 0; i < 2; ++i) {
      if (!p[i].revents) continue;
      const ssize_t n = ::recv(p[i].fd, buf, sizeof buf, 0);
      if (n <= 0) return;  // either side closed: close both
      const Direction d = i == 0 ? Direction::ToServer : Direction::ToClient;
      std::string chunk(buf, static_cast<size_t>(n));
      const uint64_t at = offset[i];
      offset[i] += chunk.size();
      if (!tamper_(d, at, chunk)) return;
      if (!writeAll(i == 0 ? server : client, chunk)) return;
    }
  }
}

TlsRelay::TlsRelay(uint16_t target_port) : target_(target_port) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  host_key_ = key;
  fingerprint_ = rx::keyFingerprint(key);
  rx::SslCtxPtr ctx;
  if (!rx::makeServerTlsContext(key, ctx)) throw std::runtime_error("relay: TLS context");
  server_ctx_ = ctx.release();
  listen_fd_ = listenLoopback(port_);
  if (::pipe2(wake_, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  thread_ = std::thread([this] { serve(); });
}

TlsRelay::~TlsRelay() {
  (void)!::write(wake_[1], "x", 1);
  thread_.join();
  for (auto& t : relays_) t.join();
  ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
  SSL_CTX_free(static_cast<SSL_CTX*>(server_ctx_));
  EVP_PKEY_free(static_cast<EVP_PKEY*>(host_key_));
}

void TlsRelay::serve() {
  acceptLoop(listen_fd_, wake_[0], relays_, [this](int client) {
    const int server = connectLoopback(target_);
    if (server >= 0) relay(client, server);
    ::close(client);
    if (server >= 0) ::close(server);
  });
}

void TlsRelay::relay(int client, int server) {
  // Two TLS sessions: the client's (we are its server) and the daemon's (we are its client).
  rx::SslCtxPtr client_ctx;
  if (!rx::makeClientTlsContext(client_ctx)) return;
  rx::TlsEngine to_client(static_cast<SSL_CTX*>(server_ctx_), rx::TlsEngine::Role::Server);
  rx::TlsEngine to_server(client_ctx.get(), rx::TlsEngine::Role::Client);
  if (!to_server.start() || !writeAll(server, to_server.takeOutput())) return;
  std::string pending_to_server, pending_to_client;  // plaintext waiting for a finished handshake
  char buf[65536];
  for (;;) {
    pollfd p[3] = {{client, POLLIN, 0}, {server, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(p, 3, 60000) <= 0 || p[2].revents) return;
    for (int i = 0; i < 2; ++i) {
      if (!p[i].revents) continue;
      const ssize_t n = ::recv(p[i].fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      rx::TlsEngine& from = i == 0 ? to_client : to_server;
      std::string plain;
      if (!from.feed(std::string_view(buf, static_cast<size_t>(n)), plain)) return;
      if (!writeAll(p[i].fd, from.takeOutput())) return;
      (i == 0 ? pending_to_server : pending_to_client) += plain;
    }
    // Pass the decrypted protocol bytes through, unchanged, as soon as each side can take them.
    if (to_server.handshakeDone() && !pending_to_server.empty()) {
      if (!to_server.write(pending_to_server) || !writeAll(server, to_server.takeOutput())) return;
      pending_to_server.clear();
    }
    if (to_client.handshakeDone() && !pending_to_client.empty()) {
      if (!to_client.write(pending_to_client) || !writeAll(client, to_client.takeOutput())) return;
      pending_to_client.clear();
    }
  }
}

}  // namespace rxtest
