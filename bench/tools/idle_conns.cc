// rx_idle_conns: opens N connections to rexecd, authenticates each (TLS 1.3, the pinned host key,
// the key's proof), and then holds them idle, so bench/run can measure what an idle
// authenticated connection costs the daemon. One libuv loop; the protocol from rx_common
// (TlsEngine, frame codec, auth proofs), without the client's pipelined ExecRequest: an idle
// connection runs no command.
//
//   rx_idle_conns --port P --identity KEYFILE --fingerprint SHA256:... --count N [--in-flight K]
//
// At most K (default 50) connections are being set up at once, so the daemon's limits on
// unauthenticated connections are not what is measured. Prints "ready N SECONDS" on stdout once
// all N are authenticated, then holds them until SIGTERM or SIGINT, closes them and exits 0.
// Any failure prints one line and exits 1.
#include <uv.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "common/auth_proof.h"
#include "common/frame_codec.h"
#include "common/key_file.h"
#include "common/limits.h"
#include "common/owned_write.h"
#include "common/tcp_options.h"
#include "common/tls_engine.h"

namespace rx {
namespace {

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "rx_idle_conns: %s\n", message.c_str());
  std::exit(1);
}

struct Settings {
  int port = 0;
  std::string identity, fingerprint;
  size_t count = 0;
  size_t in_flight = 50;
};

class Pool;

// One connection; lives until the loop ends (the pool owns it and closes it at the end).
class IdleConn {
 public:
  IdleConn(Pool& pool, size_t index) : pool_(pool), index_(index), decoder_(kMaxFramePostAuth) {
    tcp_.data = this;
  }
  void start(uv_loop_t* loop, const sockaddr_in& addr, SSL_CTX* ctx);
  void close() {
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&tcp_)))
      uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), nullptr);
  }

 private:
  void onConnected(int status);
  void onRead(ssize_t nread, const uv_buf_t* buf);
  void onPlain();
  void flush();
  void fail(const std::string& why);

  Pool& pool_;
  size_t index_;
  uv_tcp_t tcp_{};
  uv_connect_t connect_req_{};
  std::unique_ptr<TlsEngine> tls_;
  FrameDecoder decoder_;
  std::string plain_, binding_, server_nonce_, client_nonce_;
  bool authenticated_ = false;
};

class Pool {
 public:
  Pool(uv_loop_t* loop, Settings s, ClientKey key, SSL_CTX* ctx)
      : loop_(loop), s_(std::move(s)), key_(std::move(key)), ctx_(ctx) {
    uv_ip4_addr("127.0.0.1", s_.port, &addr_);
  }
  void startMore() {
    while (started_ < s_.count && started_ - authenticated_ < s_.in_flight) {
      conns_.push_back(std::make_unique<IdleConn>(*this, started_));
      conns_.back()->start(loop_, addr_, ctx_);
      ++started_;
    }
  }
  void onAuthenticated() {
    ++authenticated_;
    if (authenticated_ == s_.count) {
      std::printf("ready %zu %.3f\n", s_.count, static_cast<double>(uv_now(loop_) - start_ms_) / 1000.0);
      std::fflush(stdout);
    }
    startMore();
  }
  void closeAll() {
    closing_ = true;
    for (auto& c : conns_) c->close();
  }
  // Once closing, cancelled writes and closed reads are expected, not failures.
  bool closing() const { return closing_; }
  const Settings& settings() const { return s_; }
  const ClientKey& key() const { return key_; }
  uint64_t start_ms_ = 0;

 private:
  uv_loop_t* loop_;
  Settings s_;
  ClientKey key_;
  SSL_CTX* ctx_;
  sockaddr_in addr_{};
  std::vector<std::unique_ptr<IdleConn>> conns_;
  size_t started_ = 0, authenticated_ = 0;
  bool closing_ = false;
};

// One loop, one thread: a single read buffer serves every connection (alloc is always followed
// by its read callback), so the tool's own memory does not grow with N.
char g_read_buffer[64 * 1024];

void IdleConn::start(uv_loop_t* loop, const sockaddr_in& addr, SSL_CTX* ctx) {
  tls_ = std::make_unique<TlsEngine>(ctx, TlsEngine::Role::Client);
  if (int e = uv_tcp_init(loop, &tcp_); e != 0) die(std::string("uv_tcp_init: ") + uv_strerror(e));
  connect_req_.data = this;
  const int e = uv_tcp_connect(
      &connect_req_, &tcp_, reinterpret_cast<const sockaddr*>(&addr),
      [](uv_connect_t* req, int status) { static_cast<IdleConn*>(req->data)->onConnected(status); });
  if (e != 0) return fail(std::string("connect: ") + uv_strerror(e));
}

void IdleConn::fail(const std::string& why) {
  if (pool_.closing()) return;
  die("connection " + std::to_string(index_) + ": " + why);
}

void IdleConn::onConnected(int status) {
  if (status != 0) return fail(std::string("connect: ") + uv_strerror(status));
  configureTcp(&tcp_);
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&tcp_),
      [](uv_handle_t*, size_t, uv_buf_t* buf) { *buf = uv_buf_init(g_read_buffer, sizeof g_read_buffer); },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        static_cast<IdleConn*>(s->data)->onRead(nread, buf);
      });
  if (Status st = tls_->start(); !st) return fail(st.message());
  flush();
}

void IdleConn::flush() {
  if (!tls_->hasOutput()) return;
  if (int e = writeOwned(reinterpret_cast<uv_stream_t*>(&tcp_), tls_->takeOutput(),
                         [this](int status, size_t) {
                           if (status != 0) return fail(std::string("write: ") + uv_strerror(status));
                         });
      e != 0)
    return fail(std::string("write: ") + uv_strerror(e));
}

void IdleConn::onRead(ssize_t nread, const uv_buf_t* buf) {
  if (nread == 0 || pool_.closing()) return;
  if (nread < 0)
    return fail(authenticated_ ? "the daemon closed an idle connection"
                               : std::string("read: ") + uv_strerror(static_cast<int>(nread)));
  const bool was_done = tls_->handshakeDone();
  if (Status st = tls_->feed(std::string_view(buf->base, static_cast<size_t>(nread)), plain_); !st)
    return fail(st.message());
  if (!was_done && tls_->handshakeDone()) {
    if (tls_->peerKeyFingerprint() != pool_.settings().fingerprint)
      return fail("the daemon's host key is not " + pool_.settings().fingerprint);
    binding_ = tls_->channelBinding();
  }
  if (!plain_.empty()) onPlain();
  flush();
}

void IdleConn::onPlain() {
  decoder_.feed(plain_);
  plain_.clear();
  rxpb::v1::Frame frame;
  for (;;) {
    const auto r = decoder_.next(frame);
    if (r == FrameDecoder::Result::NeedMore) return;
    if (r == FrameDecoder::Result::Error) return fail("bad frame: " + decoder_.error());
    if (frame.has_auth_challenge() && server_nonce_.empty()) {
      server_nonce_ = frame.auth_challenge().server_nonce();
      client_nonce_ = randomBytes(kNonceSize);
      const ClientKey& key = pool_.key();
      const ProofInput in{server_nonce_, client_nonce_, binding_, key.key_id};
      rxpb::v1::Frame auth;
      auto* a = auth.mutable_auth_response();
      a->set_protocol_version(kProtocolVersion);
      a->set_features(0);
      a->set_key_id(key.key_id);
      a->set_client_nonce(client_nonce_);
      a->set_proof(clientProof(key, in));
      if (Status st = tls_->write(encodeFrame(auth)); !st) return fail(st.message());
    } else if (frame.has_auth_result() && !authenticated_) {
      if (!frame.auth_result().ok()) return fail("authentication refused: " + frame.auth_result().message());
      authenticated_ = true;
      pool_.onAuthenticated();
    } else {
      return fail("unexpected frame from the daemon");
    }
  }
}

Settings parseArgs(int argc, char** argv) {
  Settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc)
      die("usage: rx_idle_conns --port P --identity KEYFILE --fingerprint FP --count N [--in-flight K]");
    const std::string v = argv[++i];
    if (a == "--port")
      s.port = std::atoi(v.c_str());
    else if (a == "--identity")
      s.identity = v;
    else if (a == "--fingerprint")
      s.fingerprint = v;
    else if (a == "--count")
      s.count = std::strtoul(v.c_str(), nullptr, 10);
    else if (a == "--in-flight")
      s.in_flight = std::strtoul(v.c_str(), nullptr, 10);
    else
      die("unknown option " + a);
  }
  if (s.port <= 0 || s.port > 65535 || s.identity.empty() || s.fingerprint.empty() || s.count == 0 ||
      s.in_flight == 0)
    die("usage: rx_idle_conns --port P --identity KEYFILE --fingerprint FP --count N [--in-flight K]");
  return s;
}

}  // namespace
}  // namespace rx

int main(int argc, char** argv) {
  rx::Settings settings = rx::parseArgs(argc, argv);
  rx::ClientKey key;
  if (rx::Status s = rx::loadKeyFile(settings.identity, key); !s) rx::die(s.message());
  rx::SslCtxPtr ctx;
  if (rx::Status s = rx::makeClientTlsContext(ctx); !s) rx::die(s.message());
  signal(SIGPIPE, SIG_IGN);

  uv_loop_t* loop = uv_default_loop();
  rx::Pool pool(loop, settings, std::move(key), ctx.get());
  pool.start_ms_ = uv_now(loop);
  pool.startMore();

  // SIGTERM or SIGINT: close every connection and the signal handles, so the loop ends.
  uv_signal_t sig_term, sig_int;
  struct Stop {
    rx::Pool* pool;
    uv_signal_t* a;
    uv_signal_t* b;
  } stop{&pool, &sig_term, &sig_int};
  for (uv_signal_t* sig : {&sig_term, &sig_int}) {
    uv_signal_init(loop, sig);
    sig->data = &stop;
  }
  auto on_signal = [](uv_signal_t* sig, int) {
    auto* st = static_cast<Stop*>(sig->data);
    st->pool->closeAll();
    uv_close(reinterpret_cast<uv_handle_t*>(st->a), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(st->b), nullptr);
  };
  uv_signal_start(&sig_term, on_signal, SIGTERM);
  uv_signal_start(&sig_int, on_signal, SIGINT);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return 0;
}
