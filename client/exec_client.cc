#include "client/exec_client.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "client/exit_status.h"
#include "common/owned_write.h"
#include "common/tcp_options.h"

namespace rx {
namespace {

constexpr size_t kReadBufferSize = 256 * 1024;
// Back-pressure thresholds, in bytes, for local output and for the socket's send queue.
constexpr size_t kHighWater = 4 * 1024 * 1024;
constexpr size_t kLowWater = 1024 * 1024;

}  // namespace

ExecClient::ExecClient(uv_loop_t* loop, HostPort target, ClientKey key, ExecParams params,
                       ClientTimeouts timeouts, SSL_CTX* tls, HostKeyPolicy host_keys)
    : loop_(loop),
      target_(std::move(target)),
      session_(std::move(key), params, *this),
      timeouts_(timeouts),
      remote_timeout_ms_(params.timeout_ms),
      stdin_open_(params.stdin_open),
      tls_ctx_(tls),
      host_keys_(std::move(host_keys)),
      read_buffer_(new char[kReadBufferSize]),
      stdout_(loop, STDOUT_FILENO),
      stderr_(loop, STDERR_FILENO) {
  auto drained = [this] { updateSocketReading(); };
  stdout_.setOnDrain(drained);
  stderr_.setOnDrain(drained);
}

ExecClient::~ExecClient() = default;

int ExecClient::run() {
  uv_timer_init(loop_, &connect_timer_);
  uv_timer_init(loop_, &result_timer_);
  connect_timer_.data = result_timer_.data = this;
  armConnectTimer();
  for (auto [sig, num] : {std::pair{&sig_int_, SIGINT}, {&sig_term_, SIGTERM}, {&sig_hup_, SIGHUP}}) {
    uv_signal_init(loop_, sig);
    sig->data = this;
    uv_signal_start(
        sig, [](uv_signal_t* s, int signum) { static_cast<ExecClient*>(s->data)->onSignal(signum); }, num);
  }
  resolve();
  uv_run(loop_, UV_RUN_DEFAULT);
  return exit_status_;
}

void ExecClient::armConnectTimer() {
  uv_timer_start(
      &connect_timer_,
      [](uv_timer_t* t) {
        auto* c = static_cast<ExecClient*>(t->data);
        c->fail(fmt::format("connection timed out after {:g} s", c->timeouts_.connect_ms / 1000.0));
      },
      timeouts_.connect_ms, 0);
}

void ExecClient::resolve() {
  sockaddr_storage ss{};
  if (uv_ip4_addr(target_.host.c_str(), target_.port, reinterpret_cast<sockaddr_in*>(&ss)) == 0 ||
      uv_ip6_addr(target_.host.c_str(), target_.port, reinterpret_cast<sockaddr_in6*>(&ss)) == 0) {
    // A numeric address needs no resolver round trip through the thread pool.
    addresses_.push_back(ss);
    connectNext();
    return;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  resolver_.data = this;
  const std::string port = std::to_string(target_.port);
  const int err = uv_getaddrinfo(
      loop_, &resolver_,
      [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
        auto* c = static_cast<ExecClient*>(req->data);
        if (status == 0) {
          for (addrinfo* ai = res; ai; ai = ai->ai_next) {
            sockaddr_storage found{};
            std::memcpy(&found, ai->ai_addr, ai->ai_addrlen);
            c->addresses_.push_back(found);
          }
        }
        uv_freeaddrinfo(res);
        if (c->finished_) return;
        if (status != 0) {
          c->fail(fmt::format("cannot resolve {}: {}", c->target_.host, uv_strerror(status)));
          return;
        }
        c->connectNext();
      },
      target_.host.c_str(), port.c_str(), &hints);
  if (err != 0) fail(fmt::format("cannot resolve {}: {}", target_.host, uv_strerror(err)));
}

void ExecClient::connectNext() {
  if (finished_) return;
  if (next_address_ >= addresses_.size()) {
    fail(fmt::format("cannot connect to {}:{}: {}", target_.host, target_.port, last_connect_error_));
    return;
  }
  const sockaddr_storage& addr = addresses_[next_address_++];
  if (tcp_initialised_) {
    // A failed attempt's handle is closed first; the next attempt starts from its callback.
    tcp_initialised_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), [](uv_handle_t* h) {
      auto* c = static_cast<ExecClient*>(h->data);
      --c->next_address_;
      c->connectNext();
    });
    return;
  }
  uv_tcp_init(loop_, &tcp_);
  tcp_.data = this;
  tcp_initialised_ = true;
  connect_req_.data = this;
  const int err = uv_tcp_connect(
      &connect_req_, &tcp_, reinterpret_cast<const sockaddr*>(&addr),
      [](uv_connect_t* req, int status) { static_cast<ExecClient*>(req->data)->onConnected(status); });
  if (err != 0) {
    last_connect_error_ = uv_strerror(err);
    connectNext();
  }
}

void ExecClient::onConnected(int status) {
  if (finished_) return;
  if (status != 0) {
    last_connect_error_ = uv_strerror(status);
    connectNext();
    return;
  }
  connected_ = true;
  configureTcp(&tcp_);
  tls_ = std::make_unique<TlsEngine>(tls_ctx_, TlsEngine::Role::Client);
  if (Status s = tls_->start(); !s) {
    fail(s.message());
    return;
  }
  flushTls();
  updateSocketReading();
}

void ExecClient::updateSocketReading() {
  if (finished_ || !connected_) return;
  const bool want = stdout_.queued() + stderr_.queued() < (socket_reading_ ? kHighWater : kLowWater);
  if (want == socket_reading_) return;
  socket_reading_ = want;
  if (!want) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
    return;
  }
  const int err = uv_read_start(
      reinterpret_cast<uv_stream_t*>(&tcp_),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        *buf = uv_buf_init(static_cast<ExecClient*>(h->data)->read_buffer_.get(), kReadBufferSize);
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        static_cast<ExecClient*>(s->data)->onSocketRead(nread, buf);
      });
  if (err != 0) session_.onClosed(uv_strerror(err));
}

void ExecClient::onSocketRead(ssize_t nread, const uv_buf_t* buf) {
  if (nread == 0) return;
  if (nread < 0) {
    session_.onClosed(nread != UV_EOF      ? uv_strerror(static_cast<int>(nread))
                      : tls_->peerClosed() ? "closed by the server"
                                           : "cut without a TLS close_notify");
    return;
  }
  plain_.clear();
  const Status s = tls_->feed(std::string_view(buf->base, static_cast<size_t>(nread)), plain_);
  flushTls();
  if (!s) {
    fail(s.message());
    return;
  }
  if (!secure_ && tls_->handshakeDone()) {
    // Pin check before a single byte of ours goes out: a wrong server learns nothing.
    uv_timer_stop(&connect_timer_);  // a question on the terminal may take a while
    const std::string label = knownHostLabel(target_.host, target_.port);
    if (Status v = verifyHostKey(host_keys_, label, tls_->peerKeyFingerprint()); !v) {
      fail(v.message());
      return;
    }
    secure_ = true;
    // The rest of the connect bound covers authentication; it restarts after any question.
    armConnectTimer();
    session_.onSecureChannel(tls_->channelBinding());
  }
  if (!plain_.empty()) session_.onBytes(plain_);
}

void ExecClient::flushTls() {
  if (!tls_ || finished_ || !connected_) return;
  // Straight from the TLS buffer to the kernel; only what the socket cannot take at once is
  // copied into a queued write.
  const std::string_view out = tls_->pendingOutput();
  size_t written = 0;
  const int err = writeBorrowed(reinterpret_cast<uv_stream_t*>(&tcp_), out, written,
                                [this](int status, size_t n) { onSocketWritten(status, n); });
  tls_->consumeOutput(out.size());
  if (err != 0) {
    session_.onClosed(uv_strerror(err));
    return;
  }
  socket_queued_ += out.size() - written;
  updateStdinReading();
}

void ExecClient::onSocketWritten(int status, size_t n) {
  socket_queued_ -= n;
  if (status != 0 && status != UV_ECANCELED) session_.onClosed(uv_strerror(status));
  updateStdinReading();
}

void ExecClient::send(std::string_view bytes) {
  if (finished_ || !secure_ || bytes.empty()) return;
  if (Status s = tls_->write(bytes); !s) {
    fail(s.message());
    return;
  }
  flushTls();
}

void ExecClient::queueWrite(std::string bytes) {
  if (!connected_ || bytes.empty()) return;
  const size_t size = bytes.size();
  socket_queued_ += size;
  const int err = writeOwned(reinterpret_cast<uv_stream_t*>(&tcp_), std::move(bytes),
                             [this](int status, size_t n) { onSocketWritten(status, n); });
  if (err != 0) {
    socket_queued_ -= size;
    session_.onClosed(uv_strerror(err));
    return;
  }
  updateStdinReading();
}

void ExecClient::onRequestSent() {
  uv_timer_stop(&connect_timer_);
  if (remote_timeout_ms_ > 0) {
    uv_timer_start(
        &result_timer_,
        [](uv_timer_t* t) {
          auto* c = static_cast<ExecClient*>(t->data);
          std::fprintf(stderr,
                       "rexec: %s: the server did not end the command within its timeout; giving up\n",
                       c->target_.host.c_str());
          c->finish(kExitTimeout);
        },
        remote_timeout_ms_ + timeouts_.result_slack_ms, 0);
  }
  if (!stdin_open_) return;
  stdin_ = std::make_unique<LocalInput>(
      loop_, STDIN_FILENO, [this](std::string_view data) { session_.sendStdin(data); },
      [this] { session_.closeStdin(); });
  updateStdinReading();
}

void ExecClient::updateStdinReading() {
  if (!stdin_ || finished_) return;
  if (socket_queued_ > kHighWater)
    stdin_->pause();
  else if (socket_queued_ < kLowWater)
    stdin_->resume();
}

void ExecClient::onOutput(rxpb::v1::Stream stream, std::string_view data) {
  LocalOutput& out = stream == rxpb::v1::STREAM_STDOUT ? stdout_ : stderr_;
  if (!out.write(data)) {
    // Our reader went away (`rexec host cmd | head`): the remote command gets SIGPIPE just as a
    // local one would, so pipelines behave the same either way.
    if (&out == &stdout_ && !stdout_broken_reported_) {
      stdout_broken_reported_ = true;
      session_.sendSignal("PIPE");
    }
    return;
  }
  updateSocketReading();
}

void ExecClient::onResult(const rxpb::v1::ExecResult& result) {
  std::string message;
  const int status = exitStatusFor(result, message);
  if (!message.empty()) std::fprintf(stderr, "rexec: %s: %s\n", target_.host.c_str(), message.c_str());
  finish(status);
}

void ExecClient::onFailure(const std::string& message) { fail(message); }

void ExecClient::fail(const std::string& message) {
  if (finished_) return;
  std::fprintf(stderr, "rexec: %s: %s\n", target_.host.c_str(), message.c_str());
  finish(kExitFailure);
}

void ExecClient::onSignal(int signum) {
  if (!session_.requestSent() || session_.done()) {
    // Nothing runs remotely yet: just stop.
    fail(fmt::format("interrupted by SIG{}", signum == SIGINT ? "INT" : signum == SIGTERM ? "TERM" : "HUP"));
    exit_status_ = 128 + signum;
    return;
  }
  if (signum != SIGINT) {
    session_.sendSignal(signum == SIGTERM ? "TERM" : "HUP");
    return;
  }
  // First Ctrl-C asks politely, the second kills, the third gives up locally (the server then
  // kills the group because the connection went away).
  ++interrupts_;
  if (interrupts_ == 1) {
    session_.sendSignal("INT");
  } else if (interrupts_ == 2) {
    session_.sendSignal("KILL");
  } else {
    fail("interrupted three times; disconnecting (the server kills the command)");
    exit_status_ = 128 + SIGINT;
  }
}

void ExecClient::finish(int status) {
  if (finished_) return;
  finished_ = true;
  exit_status_ = status;
  uv_cancel(reinterpret_cast<uv_req_t*>(&resolver_));
  closeHandle(reinterpret_cast<uv_handle_t*>(&result_timer_));
  for (uv_signal_t* s : {&sig_int_, &sig_term_, &sig_hup_}) closeHandle(reinterpret_cast<uv_handle_t*>(s));
  if (stdin_) stdin_->close([] {});
  stdout_.close([] {});
  stderr_.close([] {});
  if (!(tcp_initialised_ && connected_)) {
    closeSocket();
    return;
  }
  // A clean end: TLS close_notify, then a half-close once it is written. A peer that does not
  // take it within a second does not hold us up.
  if (secure_ && tls_) {
    tls_->shutdown();
    queueWrite(tls_->takeOutput());
  }
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
  auto* req = new uv_shutdown_t;
  req->data = this;
  if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&tcp_), [](uv_shutdown_t* r, int) {
        auto* c = static_cast<ExecClient*>(r->data);
        delete r;
        c->closeSocket();
      }) != 0) {
    delete req;
    closeSocket();
    return;
  }
  uv_timer_start(
      &connect_timer_, [](uv_timer_t* t) { static_cast<ExecClient*>(t->data)->closeSocket(); }, 1000, 0);
}

void ExecClient::closeSocket() {
  if (tcp_initialised_) closeHandle(reinterpret_cast<uv_handle_t*>(&tcp_));
  closeHandle(reinterpret_cast<uv_handle_t*>(&connect_timer_));
}

void ExecClient::closeHandle(uv_handle_t* handle) {
  if (!uv_is_closing(handle)) uv_close(handle, nullptr);
}

}  // namespace rx
