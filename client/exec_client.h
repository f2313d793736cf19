#pragma once
// One command on one host: resolve, connect, authenticate, stream stdin/stdout/stderr, forward
// signals, and turn the result into an exit status. Everything happens on one libuv loop.
#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "client/client_session.h"
#include "client/known_hosts.h"
#include "client/local_input.h"
#include "client/local_output.h"
#include "common/net_address.h"
#include "common/tls_engine.h"

namespace rx {

struct ClientTimeouts {
  uint64_t connect_ms = 10000;  // TCP connect through authentication
  // Local guard beyond the remote timeout: the server must end the command within this much
  // more, or the client gives up itself.
  uint64_t result_slack_ms = 15000;
};

class ExecClient final : public ClientSessionHost {
 public:
  ExecClient(uv_loop_t* loop, HostPort target, ClientKey key, ExecParams params, ClientTimeouts timeouts,
             SSL_CTX* tls, HostKeyPolicy host_keys);
  ~ExecClient() override;
  ExecClient(const ExecClient&) = delete;
  ExecClient& operator=(const ExecClient&) = delete;

  // Runs the loop until the command is over and everything is closed; returns the exit status.
  int run();

  // ClientSessionHost
  void send(std::string_view bytes) override;
  void onRequestSent() override;
  void onOutput(rxpb::v1::Stream stream, std::string_view data) override;
  void onResult(const rxpb::v1::ExecResult& result) override;
  void onFailure(const std::string& message) override;

 private:
  void resolve();
  // The connect bound: from the start until the request is sent (restarted after the host key
  // was accepted, which may have taken a question on the terminal).
  void armConnectTimer();
  void connectNext();
  void onConnected(int status);
  void onSocketRead(ssize_t nread, const uv_buf_t* buf);
  void flushTls();
  void queueWrite(std::string bytes);  // also after finish (the final close_notify)
  void onSocketWritten(int status, size_t n);
  void closeSocket();
  void onSignal(int signum);
  void fail(const std::string& message);
  void finish(int status);
  void updateSocketReading();
  void updateStdinReading();
  void closeHandle(uv_handle_t* handle);

  uv_loop_t* loop_;
  HostPort target_;
  ClientSession session_;
  ClientTimeouts timeouts_;
  uint32_t remote_timeout_ms_;
  bool stdin_open_;
  SSL_CTX* tls_ctx_;
  HostKeyPolicy host_keys_;
  std::unique_ptr<TlsEngine> tls_;
  bool secure_ = false;  // handshake done and the host key accepted

  std::vector<sockaddr_storage> addresses_;
  size_t next_address_ = 0;
  std::string last_connect_error_;
  uv_getaddrinfo_t resolver_{};
  uv_tcp_t tcp_{};
  bool tcp_initialised_ = false;
  bool connected_ = false;
  bool socket_reading_ = false;
  uv_connect_t connect_req_{};
  uv_timer_t connect_timer_{};
  uv_timer_t result_timer_{};
  uv_signal_t sig_int_{}, sig_term_{}, sig_hup_{};
  int interrupts_ = 0;
  size_t socket_queued_ = 0;
  std::unique_ptr<char[]> read_buffer_;
  std::string plain_;  // decrypted bytes of one read; its capacity is kept between reads

  LocalOutput stdout_;
  LocalOutput stderr_;
  std::unique_ptr<LocalInput> stdin_;
  bool stdout_broken_reported_ = false;

  bool finished_ = false;
  int exit_status_ = 255;
};

}  // namespace rx
