#include "daemon/server.h"

#include <netdb.h>

#include <random>

#include <fmt/format.h>

#include "common/log.h"
#include "daemon/connection.h"

namespace rx {

namespace {

// The dice for random early drop. Not a secret: knowing it only tells an attacker which of its
// own connections are refused.
uint32_t rollPercent() {
  static std::mt19937 rng{std::random_device{}()};
  return std::uniform_int_distribution<uint32_t>(0, 99)(rng);
}

std::string seconds(uint64_t ms) { return fmt::format("{}", (ms + 999) / 1000); }

}  // namespace

Server::Server(uv_loop_t* loop, SessionConfig config, ServerLimits limits, SslCtxPtr tls)
    : loop_(loop),
      config_(std::move(config)),
      limits_(limits),
      source_limits_(
          limits.admission, [loop] { return uv_now(loop); }, rollPercent),
      tls_(std::move(tls)),
      launcher_(loop),
      read_buffer_(new char[kReadBufferSize]) {}

Server::~Server() = default;

Status Server::listen(const std::vector<HostPort>& addresses) {
  for (const HostPort& hp : addresses) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    const std::string port = std::to_string(hp.port);
    // Start-up only, so a blocking lookup is fine here.
    if (int err = getaddrinfo(hp.host.empty() ? nullptr : hp.host.c_str(), port.c_str(), &hints, &res);
        err != 0)
      return Status::Error(fmt::format("listen {}: {}", hp.host, gai_strerror(err)));
    const addrinfo* ai = res;
    auto* tcp = new uv_tcp_t;
    uv_tcp_init(loop_, tcp);
    tcp->data = this;
    listeners_.push_back(tcp);
    const int err = uv_tcp_bind(tcp, ai->ai_addr, ai->ai_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
    freeaddrinfo(res);
    if (err != 0) return Status::Error(fmt::format("listen {}:{}: {}", hp.host, hp.port, uv_strerror(err)));
    if (Status s = startListening(tcp); !s)
      return Status::Error(fmt::format("listen {}:{}: {}", hp.host, hp.port, s.message()));
  }
  return Status::Ok();
}

Status Server::adopt(const std::vector<int>& fds) {
  for (int fd : fds) {
    auto* tcp = new uv_tcp_t;
    uv_tcp_init(loop_, tcp);
    tcp->data = this;
    listeners_.push_back(tcp);
    if (int err = uv_tcp_open(tcp, fd); err != 0)
      return Status::Error(fmt::format("socket {} from systemd: {}", fd, uv_strerror(err)));
    if (Status s = startListening(tcp); !s)
      return Status::Error(fmt::format("socket {} from systemd: {}", fd, s.message()));
  }
  return Status::Ok();
}

Status Server::startListening(uv_tcp_t* tcp) {
  const int err = uv_listen(reinterpret_cast<uv_stream_t*>(tcp), 1024, [](uv_stream_t* s, int status) {
    static_cast<Server*>(s->data)->onConnection(s, status);
  });
  if (err != 0) return Status::Error(uv_strerror(err));
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&bound), &len);
  bound_.push_back(formatSockaddr(&bound));
  // sin_port and sin6_port sit at the same offset.
  ports_.push_back(ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port));
  log::notice("listening on {}", bound_.back());
  return Status::Ok();
}

void Server::reconfigure(const SessionConfig& fresh, const ServerLimits& limits,
                         std::shared_ptr<const KeySet> keys) {
  // New connections get the new grace and stall timeouts; connections already open keep theirs.
  limits_ = limits;
  source_limits_.setConfig(limits.admission);
  SessionConfig next = fresh;
  next.keys = std::move(keys);
  next.user = config_.user;
  next.home = config_.home;
  next.shell = config_.shell;
  // Sessions hold a reference to config_: they see the new values from their next command on.
  config_ = std::move(next);
}

void Server::onConnection(uv_stream_t* listener, int status) {
  if (status != 0) {
    // Out of descriptors, typically: libuv has already accepted and closed the pending ones.
    logRefusal(accept_error_log_, fmt::format("accept: {}", uv_strerror(status)));
    return;
  }
  if (stopping_) return;
  Connection::accept(*this, listener);
}

void Server::logRefusal(LogThrottle& throttle, const std::string& line) {
  uint64_t held_back = 0;
  if (!throttle.allow(uv_now(loop_), held_back)) return;
  if (held_back > 0)
    log::notice("{} ({} more like this not logged)", line, held_back);
  else
    log::notice("{}", line);
}

bool Server::admit(Connection* conn, const SourceAddress& source, const std::string& peer) {
  using V = SourceLimits::Verdict;
  const SourceLimits::Decision d = source_limits_.admit(source);
  switch (d.verdict) {
    case V::Admit:
      connections_.insert(conn);
      return true;
    case V::TooManyConnections:
      logRefusal(max_connections_log_, fmt::format("{} refused: {} connections open (--max-connections {})",
                                                   peer, d.count, limits_.admission.max_connections));
      return false;
    case V::Penalized:
      log::notice("source {} refused: penalty for failed authentication, {} s left", source.toString(),
                  seconds(d.penalty_left_ms));
      return false;
    case V::TooManyFromSource:
      logRefusal(per_source_log_,
                 fmt::format("{} refused: {} unauthenticated connections from source {} "
                             "(--per-source-max-startups {})",
                             peer, d.count, source.toString(), limits_.admission.per_source_max_startups));
      return false;
    case V::StartupsFull:
      logRefusal(startups_log_, fmt::format("{} refused: {} unauthenticated connections (--max-startups {})",
                                            peer, d.count, toString(limits_.admission.max_startups)));
      return false;
    case V::RandomEarlyDrop:
      logRefusal(startups_log_,
                 fmt::format("{} refused: {} unauthenticated connections, random early drop at {}% "
                             "(--max-startups {})",
                             peer, d.count, d.drop_percent, toString(limits_.admission.max_startups)));
      return false;
  }
  return false;
}

void Server::onAuthenticated(const SourceAddress& source) { source_limits_.authenticated(source); }

void Server::onAuthenticationFailed(const SourceAddress& source, const std::string& peer) {
  const uint64_t ms = source_limits_.authenticationFailed(source);
  if (ms > 0)
    log::notice("{}: source {} penalized for {} s after failed authentication", peer, source.toString(),
                seconds(ms));
}

void Server::release(const SourceAddress& source, bool admitted, bool authenticated) {
  if (admitted) source_limits_.closed(source, authenticated);
}

void Server::remove(Connection* conn, bool admitted) {
  if (admitted) connections_.erase(conn);
  if (stopping_) checkStopped();
}

void Server::installSignalHandlers() {
  uv_signal_init(loop_, &sigterm_);
  uv_signal_init(loop_, &sigint_);
  uv_signal_init(loop_, &sighup_);
  sigterm_.data = sigint_.data = sighup_.data = this;
  uv_signal_start(
      &sighup_,
      [](uv_signal_t* s, int) {
        auto* server = static_cast<Server*>(s->data);
        log::notice("received SIGHUP, reloading");
        if (server->on_reload_ && !server->stopping_) server->on_reload_();
      },
      SIGHUP);
  auto handler = [](uv_signal_t* s, int signum) {
    log::notice("received SIG{}, shutting down", signum == SIGTERM ? "TERM" : "INT");
    static_cast<Server*>(s->data)->stop();
  };
  uv_signal_start(&sigterm_, handler, SIGTERM);
  uv_signal_start(&sigint_, handler, SIGINT);
  uv_timer_init(loop_, &stop_timer_);
  stop_timer_.data = this;
  signals_installed_ = true;
}

void Server::stop() {
  if (stopping_) return;
  stopping_ = true;
  if (on_stopping_) on_stopping_();
  for (uv_tcp_t* tcp : listeners_)
    uv_close(reinterpret_cast<uv_handle_t*>(tcp),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  listeners_.clear();
  // Copy: shutdown() may close connections, which removes them from the set.
  const std::vector<Connection*> conns(connections_.begin(), connections_.end());
  for (Connection* c : conns) {
    if (c->session())
      c->session()->shutdown();
    else
      c->close();  // still in the TLS handshake: nothing runs yet
  }
  // TERM, then KILL after the kill grace, then the drain grace twice; a little on top.
  stop_deadline_ms_ = uv_now(loop_) + config_.kill_grace_ms + 2 * config_.drain_grace_ms + 2000;
  if (signals_installed_) {
    // Polls the remaining work every 50 ms until everything is done or the deadline passes.
    uv_timer_start(
        &stop_timer_, [](uv_timer_t* t) { static_cast<Server*>(t->data)->checkStopped(); }, 50, 50);
  }
  checkStopped();
}

void Server::checkStopped() {
  if (!stopping_) return;
  const bool done = connections_.empty() && launcher_.liveJobs() == 0;
  if (!done && uv_now(loop_) < stop_deadline_ms_) return;
  if (!done) forceStop();
  launcher_.close();  // the spawn helper exits
  if (on_stopped_) {
    auto cb = std::move(on_stopped_);
    on_stopped_ = nullptr;
    cb();
  }
  if (signals_installed_) {
    signals_installed_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&sigterm_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&sighup_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&stop_timer_), nullptr);
  }
}

void Server::forceStop() {
  log::warning("shutdown deadline passed with {} connections and {} jobs left; killing them",
               connections_.size(), launcher_.liveJobs());
  launcher_.killAll();
  const std::vector<Connection*> conns(connections_.begin(), connections_.end());
  for (Connection* c : conns) c->close();
  uv_stop(loop_);
}

}  // namespace rx
