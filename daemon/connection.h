#pragma once
// One accepted TCP connection: owns its uv_tcp_t, the TLS engine between the socket and the
// protocol, and the Session that speaks the protocol once the TLS handshake is done.
// close() is idempotent; the object is freed only after the close callbacks of all its handles
// (STYLE.md 4), so after calling close() from a callback, return at once.
//
// Timers: `timer_` is the login grace from accept to authenticated, and then the lingering close
// (the two never overlap: linger starts only once the session is over); `stall_timer_` runs while
// the write queue is not empty, and closes a client that has stopped reading.
#include <uv.h>

#include <memory>
#include <optional>
#include <string>

#include "common/ip_address.h"
#include "common/receive_low_water.h"
#include "common/tls_engine.h"
#include "daemon/session.h"
#include "daemon/source_address.h"

namespace rx {

class Server;

class Connection final : public SessionHost {
 public:
  // Accepts one pending connection from `listener`; nullptr (logged) when that fails.
  static Connection* accept(Server& server, uv_stream_t* listener);

  void close();
  // Null until the TLS handshake is done (a connection still in it is simply closed).
  Session* session() { return channel_bound_ ? session_.get() : nullptr; }
  const std::string& peer() const { return peer_; }

  // SessionHost
  void send(std::string_view bytes, std::string_view then) override;
  size_t queuedBytes() const override { return queued_; }
  void setReading(bool on) override;
  void closeAfterFlush() override;
  void onAuthenticated() override;
  void onAuthenticationFailed() override;
  void onIdle() override;

 private:
  explicit Connection(Server& server);
  ~Connection() override;
  void onRead(ssize_t nread, const uv_buf_t* buf);
  void onWriteDone(size_t bytes, int status);
  void applyReading();
  // Puts whatever the TLS engine has produced on the wire.
  void flushTls();
  // After the last bytes are written: half-close, then read and discard until the client closes
  // (or a short timer), so unread client bytes cannot turn our close into a reset that destroys
  // the final frames on their way.
  void linger();
  void onHandleClosed();
  void onLoginGraceExpired();
  // Bytes the kernel has taken from us so far (queued ones not yet included).
  uint64_t bytesWritten() const;
  void watchForStall();
  void checkStall();

  Server& server_;
  uv_tcp_t tcp_{};
  uv_timer_t timer_{};
  uv_timer_t stall_timer_{};
  int open_handles_ = 0;
  SourceAddress source_;
  std::unique_ptr<TlsEngine> tls_;
  ReceiveLowWater low_water_;
  // Created when the server's handshake flight is out (it sends the challenge at once), and
  // given the channel binding once the handshake is complete (channel_bound_).
  std::unique_ptr<Session> session_;
  bool channel_bound_ = false;
  std::string peer_;
  std::optional<IpAddress> peer_address_;  // parsed, for the keys' from= rules
  size_t queued_ = 0;
  uint64_t enqueued_total_ = 0;
  // Stall watch: bytesWritten() at the last check, and when it last grew.
  bool stall_watch_ = false;
  uint64_t written_at_check_ = 0;
  uint64_t progress_ms_ = 0;
  bool admitted_ = false;
  bool authenticated_ = false;
  bool want_reading_ = true;
  bool reading_ = false;
  bool closing_ = false;
  bool close_after_flush_ = false;
  bool lingering_ = false;
};

}  // namespace rx
