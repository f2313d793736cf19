#pragma once
// One accepted TCP connection: owns its uv_tcp_t and the Session that speaks the protocol on it.
// close() is idempotent; the object is freed only in the handle's close callback (STYLE.md 4),
// so after calling close() from a callback, return at once.
#include <uv.h>

#include <memory>
#include <string>

#include "daemon/session.h"

namespace rx {

class Server;

class Connection final : public SessionHost {
 public:
  // Accepts one pending connection from `listener`; nullptr (logged) when that fails.
  static Connection* accept(Server& server, uv_stream_t* listener);

  void close();
  Session& session() { return *session_; }
  const std::string& peer() const { return peer_; }

  // SessionHost
  void send(std::string bytes) override;
  size_t queuedBytes() const override { return queued_; }
  void setReading(bool on) override;
  void closeAfterFlush() override;

 private:
  struct WriteReq;
  explicit Connection(Server& server);
  ~Connection() override;
  void onRead(ssize_t nread, const uv_buf_t* buf);
  void onWriteDone(size_t bytes, int status);
  void applyReading();

  Server& server_;
  uv_tcp_t tcp_{};
  std::unique_ptr<Session> session_;
  std::string peer_;
  size_t queued_ = 0;
  bool want_reading_ = true;
  bool reading_ = false;
  bool closing_ = false;
  bool close_after_flush_ = false;
};

}  // namespace rx
