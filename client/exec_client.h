#pragma once
// One command on one host: resolve, connect, authenticate, relay output, and turn the result into
// an exit status. It owns only its connection; what happens to the output, stdin and signals is up
// to its ExecObserver (the one-host rexec, or the fan-out driving many of these on one loop).
#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "client/client_session.h"
#include "client/exec_observer.h"
#include "client/known_hosts.h"
#include "common/net_address.h"
#include "common/receive_low_water.h"
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
             SSL_CTX* tls, HostKeyPolicy host_keys, ExecObserver& observer);
  ~ExecClient() override;
  ExecClient(const ExecClient&) = delete;
  ExecClient& operator=(const ExecClient&) = delete;

  // Starts resolving and connecting; everything else arrives through the observer.
  void start();
  // rexec -M: connects and authenticates only; onExecStarted() once authenticated, then the
  // observer's relay callbacks carry what the server sends, and send() what goes to it.
  void startAsMaster();
  // rexec -S: runs the command through the master connected on `fd` (a Unix socket), with no
  // TLS and no authentication of its own; the master must lead to this target.
  void startOnMaster(int fd);
  // Master: the features agreed with the server.
  uint64_t features() const { return session_.features(); }
  const HostPort& target() const { return target_; }

  void sendStdin(std::string_view data) { session_.sendStdin(data); }
  void closeStdin() { session_.closeStdin(); }
  void sendSignal(std::string_view name) { session_.sendSignal(name); }
  // rexec -t: whether the request asked for a terminal (known once it is sent), and a resize.
  bool ptyActive() const { return session_.ptyActive(); }
  void sendWindowChange(const TerminalSize& size) { session_.sendWindowChange(size); }
  bool requestSent() const { return session_.requestSent(); }
  bool done() const { return finished_; }
  // Ends the command here with `message` (rexec's own failure, 255); the server kills the command
  // when the connection goes away.
  void abort(const std::string& message) { fail(message); }
  // Local output back-pressure: stop reading the socket while paused.
  void setOutputPaused(bool paused);
  size_t socketQueued() const { return socket_queued_; }

  // ClientSessionHost
  void send(std::string_view bytes, std::string_view then) override;
  void onRequestSent() override;
  void onOutput(rxpb::v1::Stream stream, std::string_view data) override;
  void onResult(const rxpb::v1::ExecResult& result) override;
  void onFailure(const std::string& message) override;
  bool onRelayDataHeader(const DataFrameHeader& header) override {
    return observer_.onRelayDataHeader(*this, header);
  }
  void onRelayData(std::string_view part, bool last) override { observer_.onRelayData(*this, part, last); }
  void onRelayFrame(const rxpb::v1::Frame& frame) override { observer_.onRelayFrame(*this, frame); }

 private:
  void resolve();
  // The connect bound: from the start until the request is sent (restarted after the host key
  // was accepted, which may have taken a question on the terminal).
  // Both timers, with the connect bound running: the first step of start() and startOnMaster().
  void startTimers();
  void armConnectTimer();
  void connectNext();
  void onConnected(int status);
  void onSocketRead(ssize_t nread, const uv_buf_t* buf);
  void onMasterRead(ssize_t nread, const uv_buf_t* buf);
  // Through a master: plain bytes, straight to the socket.
  void writePlain(std::string_view bytes);
  uv_stream_t* stream() {
    return via_master_ ? reinterpret_cast<uv_stream_t*>(&pipe_) : reinterpret_cast<uv_stream_t*>(&tcp_);
  }
  void flushTls();
  void queueWrite(std::string bytes);  // also after finish (the final close_notify)
  void onSocketWritten(int status, size_t n);
  void closeSocket();
  void fail(const std::string& message);
  void finish(ExecOutcome outcome);
  void updateSocketReading();
  void sendQueueChanged();
  void closeHandle(uv_handle_t* handle);
  void maybeClosed();

  uv_loop_t* loop_;
  HostPort target_;
  ExecObserver& observer_;
  ClientSession session_;
  ClientTimeouts timeouts_;
  uint32_t remote_timeout_ms_;
  SSL_CTX* tls_ctx_;
  HostKeyPolicy host_keys_;
  std::unique_ptr<TlsEngine> tls_;
  bool secure_ = false;  // handshake done and the host key accepted
  // While a read is processed, the frames it leads to are collected here and written at once.
  bool batching_ = false;
  std::string batched_;

  std::vector<sockaddr_storage> addresses_;
  size_t next_address_ = 0;
  std::string last_connect_error_;
  uv_getaddrinfo_t resolver_{};
  uv_tcp_t tcp_{};
  uv_pipe_t pipe_{};  // the master's socket, when via_master_
  bool via_master_ = false;
  bool tcp_initialised_ = false;
  bool connected_ = false;
  bool socket_reading_ = false;
  uv_connect_t connect_req_{};
  uv_timer_t connect_timer_{};
  uv_timer_t result_timer_{};
  size_t socket_queued_ = 0;
  bool output_paused_ = false;
  std::unique_ptr<char[]> read_buffer_;
  ReceiveLowWater low_water_;
  std::string plain_;  // decrypted bytes of one read; its capacity is kept between reads

  bool finished_ = false;
  // What must end before the object may be freed: open handles and a resolver request.
  int open_handles_ = 0;
  bool resolving_ = false;
  bool closed_reported_ = false;
};

}  // namespace rx
