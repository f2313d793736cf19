#pragma once
// Small loopback proxies for the threat tests: a TCP proxy that can tamper with the byte stream
// (flip a byte, cut the connection), and a relay that terminates TLS on both sides and passes
// the decrypted protocol bytes through (the man in the middle of THREATS row 1).
// Each serves connections on 127.0.0.1 port 0 until destroyed; threads stop by themselves.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace rxtest {

enum class Direction { ToServer, ToClient };

class TcpProxy {
 public:
  // Called with each chunk on its way, and the stream offset of its first byte in that direction.
  // Return false to cut the connection (both sides) instead of forwarding the chunk.
  using Tamper = std::function<bool(Direction, uint64_t offset, std::string& chunk)>;
  TcpProxy(uint16_t target_port, Tamper tamper);
  ~TcpProxy();
  uint16_t port() const { return port_; }

 private:
  void serve();
  void pump(int client, int server);
  uint16_t target_;
  Tamper tamper_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::thread thread_;
  std::vector<std::thread> pumps_;
};

class TlsRelay {
 public:
  // Presents its own (new) Ed25519 host key to the client and relays to the daemon.
  explicit TlsRelay(uint16_t target_port);
  ~TlsRelay();
  uint16_t port() const { return port_; }
  const std::string& fingerprint() const { return fingerprint_; }

 private:
  void serve();
  void relay(int client, int server);
  uint16_t target_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::string fingerprint_;
  void* server_ctx_ = nullptr;  // SSL_CTX*
  void* host_key_ = nullptr;    // EVP_PKEY*
  std::thread thread_;
  std::vector<std::thread> relays_;
};

}  // namespace rxtest
