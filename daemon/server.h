#pragma once
// Listeners, the set of live connections, and orderly shutdown, all on one libuv loop.
#include <uv.h>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/net_address.h"
#include "common/status.h"
#include "common/tls_engine.h"
#include "daemon/job.h"
#include "daemon/log_throttle.h"
#include "daemon/server_limits.h"
#include "daemon/session_config.h"
#include "daemon/source_limits.h"

namespace rx {

class Connection;

class Server {
 public:
  // `tls` is the server TLS context made from the host key (start-up).
  Server(uv_loop_t* loop, SessionConfig config, ServerLimits limits, SslCtxPtr tls);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Start-up only: binds and listens on every address, or says which one failed.
  Status listen(const std::vector<HostPort>& addresses);
  // Start-up only: listens on sockets handed over by systemd (socket activation).
  Status adopt(const std::vector<int>& listening_fds);
  const std::vector<std::string>& boundAddresses() const { return bound_; }
  const std::vector<uint16_t>& boundPorts() const { return ports_; }

  // Handles SIGTERM and SIGINT with stop(), SIGHUP with the reload callback; call once the
  // server is listening.
  void installSignalHandlers();
  void onStopping(std::function<void()> cb) { on_stopping_ = std::move(cb); }
  void onStopped(std::function<void()> cb) { on_stopped_ = std::move(cb); }
  void onReload(std::function<void()> cb) { on_reload_ = std::move(cb); }
  // Applies reloaded settings: new connections and new commands use them; running commands
  // keep going. The identity commands run as is kept.
  void reconfigure(const SessionConfig& fresh, const ServerLimits& limits,
                   std::shared_ptr<const KeySet> keys);
  // Stop accepting, terminate running jobs, let their results go out, then let the loop end.
  // Bounded: after the deadline whatever remains is killed and closed.
  void stop();

  uv_loop_t* loop() const { return loop_; }
  Launcher& launcher() { return launcher_; }
  // Start-up: the process that starts every command (daemon/spawner.h). Returns 0 or a libuv
  // error.
  int startSpawnHelper() { return launcher_.startHelper(); }
  const SessionConfig& config() const { return config_; }
  const ServerLimits& limits() const { return limits_; }
  SSL_CTX* tlsContext() const { return tls_.get(); }
  uv_buf_t readBuffer() { return uv_buf_init(read_buffer_.get(), kReadBufferSize); }
  // Decrypted bytes of the read in progress, shared the same way as readBuffer(): emptied by
  // every read, its capacity kept, so a stream of stdin does not allocate per read.
  std::string& plainBuffer() { return plain_buffer_; }
  // A connection just accepted from `source` (`peer` is its address for the log): admitted and
  // counted, or refused with a log line, and then the caller closes it at once.
  bool admit(Connection* conn, const SourceAddress& source, const std::string& peer);
  void onAuthenticated(const SourceAddress& source);
  void onAuthenticationFailed(const SourceAddress& source, const std::string& peer);
  // The connection is closing: its socket is closed at once (uv_close), so its place among the
  // connections and startups is free from now on. A client that saw the close and connects again
  // must not find it still counted, as it was when this waited for the close callback (a loop
  // iteration later, after the next accept). `admitted` and `authenticated` as it was.
  void release(const SourceAddress& source, bool admitted, bool authenticated);
  // The connection's last handle closed.
  void remove(Connection* conn, bool admitted);

 private:
  // One buffer for every connection's reads (a read is handled whole before the next). 1 MiB
  // rather than 256 KiB: a 512 KiB StdinData frame then comes in one read instead of two or
  // three, so it is decrypted and handed on in one go and SO_RCVLOWAT is not re-set after every
  // read. 1 GiB of stdin into `cat`: 4110 -> 1208 reads and 4112 -> 307 setsockopt calls (strace),
  // rexecd's CPU 0.73 -> 0.53 s and the stream 0.85 -> 0.67 s (medians of 15 alternating runs of
  // the two builds, in both orders).
  static constexpr size_t kReadBufferSize = 1024 * 1024;
  void onConnection(uv_stream_t* listener, int status);
  Status startListening(uv_tcp_t* tcp);
  void checkStopped();
  void forceStop();

  void logRefusal(LogThrottle& throttle, const std::string& line);

  uv_loop_t* loop_;
  SessionConfig config_;
  ServerLimits limits_;
  SourceLimits source_limits_;
  // Refusals by count come in floods; each kind gets a few lines per 10 s (penalty refusals are
  // all logged: each names how long its source has left).
  LogThrottle max_connections_log_{10, 10000};
  LogThrottle startups_log_{10, 10000};
  LogThrottle per_source_log_{10, 10000};
  LogThrottle accept_error_log_{10, 10000};
  SslCtxPtr tls_;
  UvLauncher launcher_;
  std::unique_ptr<char[]> read_buffer_;
  std::string plain_buffer_;
  std::vector<uv_tcp_t*> listeners_;
  std::vector<std::string> bound_;
  std::vector<uint16_t> ports_;
  std::set<Connection*> connections_;
  uv_signal_t sigterm_{};
  uv_signal_t sigint_{};
  uv_signal_t sighup_{};
  std::function<void()> on_stopping_, on_stopped_, on_reload_;
  uv_timer_t stop_timer_{};
  bool signals_installed_ = false;
  bool stopping_ = false;
  uint64_t stop_deadline_ms_ = 0;
};

}  // namespace rx
