#include "daemon/connection.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/log.h"
#include "common/net_address.h"
#include "common/owned_write.h"
#include "common/tcp_options.h"
#include "daemon/server.h"

namespace rx {

Connection* Connection::accept(Server& server, uv_stream_t* listener) {
  auto* conn = new Connection(server);
  uv_tcp_init(server.loop(), &conn->tcp_);
  uv_timer_init(server.loop(), &conn->timer_);
  uv_timer_init(server.loop(), &conn->stall_timer_);
  conn->tcp_.data = conn->timer_.data = conn->stall_timer_.data = conn;
  conn->open_handles_ = 3;
  if (int err = uv_accept(listener, reinterpret_cast<uv_stream_t*>(&conn->tcp_)); err != 0) {
    log::warning("accept: {}", uv_strerror(err));
    conn->close();
    return nullptr;
  }
  sockaddr_storage addr{};
  int len = sizeof addr;
  if (uv_tcp_getpeername(&conn->tcp_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    conn->peer_ = formatSockaddr(&addr);
    conn->source_ = SourceAddress::fromSockaddr(&addr);
    conn->peer_address_ = ipAddressFromSockaddr(reinterpret_cast<const sockaddr*>(&addr));
  } else {
    conn->peer_ = "unknown-peer";
  }
  // Refused: closed at once, before any TLS work.
  if (!server.admit(conn, conn->source_, conn->peer_)) {
    conn->close();
    return nullptr;
  }
  conn->admitted_ = true;
  configureTcp(&conn->tcp_);
  if (uv_os_fd_t fd; uv_fileno(reinterpret_cast<uv_handle_t*>(&conn->tcp_), &fd) == 0)
    conn->low_water_.attach(fd);
  conn->tls_ = std::make_unique<TlsEngine>(server.tlsContext(), TlsEngine::Role::Server);
  log::debug("{}: connected", conn->peer_);
  uv_timer_start(
      &conn->timer_, [](uv_timer_t* t) { static_cast<Connection*>(t->data)->onLoginGraceExpired(); },
      server.limits().login_grace_ms, 0);
  conn->applyReading();
  return conn;
}

Connection::Connection(Server& server) : server_(server) {}

Connection::~Connection() = default;

void Connection::close() {
  if (closing_) return;
  closing_ = true;
  server_.release(source_, admitted_, authenticated_);
  if (session_) session_->onPeerClosed();
  auto closed = [](uv_handle_t* h) { static_cast<Connection*>(h->data)->onHandleClosed(); };
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&stall_timer_), closed);
}

void Connection::onHandleClosed() {
  if (--open_handles_ > 0) return;
  server_.remove(this, admitted_);
  delete this;
}

void Connection::onLoginGraceExpired() {
  if (closing_ || authenticated_ || lingering_) return;
  log::notice("{}: not authenticated within the login grace time ({:g} s); closing", peer_,
              static_cast<double>(server_.limits().login_grace_ms) / 1000.0);
  close();
}

void Connection::onAuthenticated() {
  authenticated_ = true;
  if (!lingering_) uv_timer_stop(&timer_);
  server_.onAuthenticated(source_);
}

void Connection::onAuthenticationFailed() { server_.onAuthenticationFailed(source_, peer_); }

// A session that waits for its next command keeps its connection, and a daemon may hold
// thousands of those: the TLS buffers a 512 KiB output chunk grew to (about 540 KB) go back.
void Connection::onIdle() {
  if (tls_) tls_->releaseIdleBuffers();
}

uint64_t Connection::bytesWritten() const {
  return enqueued_total_ - uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&tcp_));
}

void Connection::watchForStall() {
  const uint64_t timeout = server_.limits().stall_timeout_ms;
  if (timeout == 0 || stall_watch_ || closing_ || queued_ == 0) return;
  stall_watch_ = true;
  written_at_check_ = bytesWritten();
  progress_ms_ = uv_now(server_.loop());
  // Checked four times per timeout: a stall is acted on between 1 and 1.25 timeouts after the
  // last byte went out, without restarting a timer on every write.
  const uint64_t every = std::max<uint64_t>(timeout / 4, 1);
  uv_timer_start(
      &stall_timer_, [](uv_timer_t* t) { static_cast<Connection*>(t->data)->checkStall(); }, every, every);
}

void Connection::checkStall() {
  if (closing_) return;
  if (queued_ == 0) {
    stall_watch_ = false;
    uv_timer_stop(&stall_timer_);
    return;
  }
  const uint64_t now = uv_now(server_.loop());
  if (const uint64_t written = bytesWritten(); written != written_at_check_) {
    written_at_check_ = written;
    progress_ms_ = now;
    return;
  }
  const uint64_t timeout = server_.limits().stall_timeout_ms;
  if (now - progress_ms_ < timeout) return;
  log::warning(
      "{}: client stopped reading: {} bytes queued and none taken for {:g} s (--stall-timeout); "
      "terminating its commands and closing",
      peer_, queued_, static_cast<double>(timeout) / 1000.0);
  if (session_) session_->abort("client stopped reading");
  close();
}

void Connection::linger() {
  if (lingering_ || closing_) return;
  lingering_ = true;
  auto* req = new uv_shutdown_t;
  req->data = this;
  if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&tcp_), [](uv_shutdown_t* r, int status) {
        auto* conn = static_cast<Connection*>(r->data);
        delete r;
        if (status != 0 && status != UV_ECANCELED) conn->close();
      }) != 0) {
    delete req;
    close();
    return;
  }
  applyReading();
  uv_timer_start(
      &timer_, [](uv_timer_t* t) { static_cast<Connection*>(t->data)->close(); }, 2000, 0);
}

void Connection::applyReading() {
  const bool should = !closing_ && (lingering_ || (want_reading_ && !close_after_flush_));
  if (should == reading_) return;
  if (!should) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
    reading_ = false;
    return;
  }
  const int err = uv_read_start(
      reinterpret_cast<uv_stream_t*>(&tcp_),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        // One buffer for the whole loop: a read is consumed before the next one starts, and
        // idle connections then cost no buffer at all.
        *buf = static_cast<Connection*>(h->data)->server_.readBuffer();
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        static_cast<Connection*>(s->data)->onRead(nread, buf);
      });
  if (err != 0) {
    log::warning("{}: read: {}", peer_, uv_strerror(err));
    close();
    return;
  }
  reading_ = true;
}

void Connection::onRead(ssize_t nread, const uv_buf_t* buf) {
  if (lingering_) {
    if (nread < 0) close();  // the client closed too: done
    return;                  // anything else is discarded
  }
  if (nread > 0) {
    std::string& plain = server_.plainBuffer();
    plain.clear();
    const Status s = tls_->feed(std::string_view(buf->base, static_cast<size_t>(nread)), plain);
    if (!s) {
      flushTls();  // the TLS alert
      log::warning("{}: {}", peer_, s.message());
      // Tampering or garbage: end the commands, but let the TLS alert reach the peer.
      if (session_) session_->onPeerClosed();
      closeAfterFlush();
      return;
    }
    if (!session_ && tls_->canWrite()) {
      // The challenge goes out with the server's handshake flight (0.5-RTT, see
      // TlsEngine::canWrite()), in the same write, and the client answers it together with its
      // Finished: one round trip less per connection.
      session_ = std::make_unique<Session>(server_.config(), server_.launcher(), *this, peer_, std::string(),
                                           peer_address_);
      session_->start();
    }
    if (session_ && !channel_bound_ && tls_->handshakeDone()) {
      log::debug("{}: {}", peer_, tls_->describe());
      channel_bound_ = true;
      session_->onSecureChannel(tls_->channelBinding());
    }
    if (!plain.empty() && session_ && !closing_) session_->onBytes(plain);
    flushTls();  // handshake replies the session did not take along
    if (tls_->peerClosed() && !closing_) {
      log::debug("{}: closed by the client", peer_);
      close();
      return;
    }
    // Inside a big StdinData frame, be woken only once more of it is in (see ReceiveLowWater).
    if (session_ && !closing_)
      low_water_.set(receiveLowWater(session_->stdinStillComing(), tls_->heldCiphertextBound()));
    return;
  }
  if (nread == 0) return;
  if (nread != UV_EOF) log::info("{}: {}", peer_, uv_strerror(static_cast<int>(nread)));
  log::debug("{}: disconnected", peer_);
  close();
}

void Connection::send(std::string_view bytes, std::string_view then) {
  if (closing_ || (bytes.empty() && then.empty())) return;
  if (Status s = tls_->write(bytes, then); !s) {
    log::warning("{}: {}", peer_, s.message());
    close();
    return;
  }
  flushTls();
}

void Connection::flushTls() {
  if (!tls_ || closing_) return;
  const std::string_view out = tls_->pendingOutput();
  if (out.empty()) return;
  // Straight from the TLS buffer to the kernel: only what the socket cannot take at once is
  // copied into a queued write.
  size_t written = 0;
  const int err = writeBorrowed(reinterpret_cast<uv_stream_t*>(&tcp_), out, written,
                                [this](int status, size_t n) { onWriteDone(n, status); });
  tls_->consumeOutput(out.size());
  enqueued_total_ += out.size();
  if (err != 0) {
    log::info("{}: write: {}", peer_, uv_strerror(err));
    close();
    return;
  }
  queued_ += out.size() - written;
  watchForStall();
}

void Connection::onWriteDone(size_t bytes, int status) {
  queued_ -= bytes;
  if (closing_) return;
  if (queued_ == 0 && stall_watch_) {
    stall_watch_ = false;
    uv_timer_stop(&stall_timer_);
  }
  if (status != 0) {
    log::info("{}: write: {}", peer_, uv_strerror(status));
    close();
    return;
  }
  if (close_after_flush_) {
    if (queued_ == 0) linger();
    return;
  }
  if (queued_ < server_.config().write_low_water && session_) session_->onWriteQueueDrained();
}

void Connection::setReading(bool on) {
  want_reading_ = on;
  applyReading();
}

void Connection::closeAfterFlush() {
  if (close_after_flush_) return;
  // close_notify: the client can tell a finished session from a cut connection.
  tls_->shutdown();
  flushTls();
  close_after_flush_ = true;
  applyReading();
  if (queued_ == 0) linger();
}

}  // namespace rx
