#include "client/master.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

#include "client/auto_master.h"
#include "client/exit_status.h"
#include "client/known_hosts.h"
#include "client/master_log.h"
#include "common/limits.h"

namespace rx {

using rxpb::v1::Frame;

namespace {

// Stdin back-pressure: local clients are read only while the shared connection's send queue is
// under these marks (the same as one rexec's for its own socket).
constexpr size_t kSharedHighWater = 4 * 1024 * 1024;
constexpr size_t kSharedLowWater = 1024 * 1024;

}  // namespace

Master::Master(uv_loop_t* loop, HostPort target, std::string control_path, ClientKey key,
               ClientTimeouts timeouts, SSL_CTX* tls, HostKeyPolicy host_keys, uint64_t persist_ms)
    : loop_(loop),
      target_(target),
      path_(std::move(control_path)),
      conn_(loop, std::move(target), std::move(key), ExecParams{}, timeouts, tls, std::move(host_keys),
            *this),
      persist_ms_(persist_ms) {}

Master::~Master() = default;

int Master::run() {
  // Checked and bound now, so that a bad path fails before any network traffic; listening and
  // in place at the path only once the connection is authenticated (control_socket.h).
  int fd = -1;
  bool taken = false;
  Status socket = checkControlPath(path_, taken);
  if (socket) socket = bindControlSocket(path_, fd, bound_path_);
  if (!socket) {
    failure_ = socketFailureLine(socket, taken);
    if (!failure_->empty()) masterSay(*failure_);
    return kExitFailure;
  }
  uv_pipe_init(loop_, &listener_, 0);
  listener_.data = this;
  listener_closed_ = false;
  uv_pipe_open(&listener_, fd);
  for (auto [sig, num] : {std::pair{&sig_int_, SIGINT}, {&sig_term_, SIGTERM}, {&sig_hup_, SIGHUP}}) {
    uv_signal_init(loop_, sig);
    sig->data = this;
    uv_signal_start(
        sig, [](uv_signal_t* s, int) { static_cast<Master*>(s->data)->stop("the master was stopped"); }, num);
  }
  uv_timer_init(loop_, &idle_timer_);
  idle_timer_.data = this;
  conn_.startAsMaster();
  uv_run(loop_, UV_RUN_DEFAULT);
  return exit_status_;
}

void Master::onExecStarted(ExecClient&) {
  const std::string label = knownHostLabel(target_.host, target_.port);
  Frame hello;
  auto* c = hello.mutable_auth_challenge();
  c->set_protocol_version(kProtocolVersion);
  c->set_features(conn_.features());
  c->set_master_target(label);
  greeting_ = encodeFrame(hello);
  if (int err =
          uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 128,
                    [](uv_stream_t* s, int status) { static_cast<Master*>(s->data)->onConnection(status); });
      err != 0) {
    failSocket(Status::Error(fmt::format("cannot listen on {}: {}", bound_path_, uv_strerror(err))), false);
    return;
  }
  bool taken = false;
  if (Status s = publishControlSocket(bound_path_, path_, published_as_, taken); !s) {
    failSocket(s, taken);
    return;
  }
  published_ = true;
  listening_ = true;
  becomeReady(label);
  updateIdleTimer();
}

std::string Master::socketFailureLine(const Status& status, bool taken) const {
  // Started for a client (notifyWhenReady) that found no master a moment ago, and another one got
  // there first: the client uses that one, so nothing to say.
  if (ready_fd_ >= 0 && taken) return {};
  return ready_fd_ >= 0 ? status.message() + " (the command runs without a master)" : status.message();
}

void Master::failSocket(const Status& status, bool taken) {
  failure_ = socketFailureLine(status, taken);
  conn_.abort(status.message());
}

void Master::becomeReady(const std::string& label) {
  const std::string listening = fmt::format("master for {} listening on {}", label, path_);
  if (ready_fd_ < 0) {
    masterSay(listening);
    return;
  }
  // The client that started this master runs its command through it now. This master is no
  // longer part of that client's job: a new session (no SIGINT or SIGHUP from its terminal) and
  // none of its streams, so that whoever waits for the client's output to end is not kept
  // waiting by the master (as ssh's ControlPersist).
  masterLog(listening);  // the file only: its stderr is the client's
  reportMasterReady(ready_fd_);
  close(ready_fd_);
  ready_fd_ = -1;
  setsid();
  if (const int null = open("/dev/null", O_RDWR | O_CLOEXEC); null >= 0) {
    for (int std_fd = 0; std_fd < 3; ++std_fd) dup2(null, std_fd);
    close(null);
  }
}

void Master::updateIdleTimer() {
  if (persist_ms_ == 0 || ended_ || !listening_) return;
  if (!clients_.empty()) {
    uv_timer_stop(&idle_timer_);
    return;
  }
  // A command runs only while its client is connected (one that leaves has its command stopped),
  // so no client also means no command of ours.
  uv_timer_start(
      &idle_timer_, [](uv_timer_t* t) { static_cast<Master*>(t->data)->stop("the master was idle"); },
      persist_ms_, 0);
}

void Master::onConnection(int status) {
  if (status != 0 || ended_) return;
  auto owned = std::make_unique<MasterClient>(loop_, *this);
  MasterClient* client = owned.get();
  clients_.emplace(client, std::move(owned));
  updateIdleTimer();
  client->accept(reinterpret_cast<uv_stream_t*>(&listener_), greeting_);
  if (stdin_paused_) client->setReadPaused(true);
}

uint32_t Master::startCommand(MasterClient& client, Frame& request) {
  const uint32_t id = ++last_id_;  // the protocol wants each id greater than the last
  request.mutable_exec_request()->set_exec_id(id);
  commands_[id] = &client;
  conn_.send(encodeFrame(request), {});
  return id;
}

void Master::sendToServer(const Frame& frame) {
  if (!ended_) conn_.send(encodeFrame(frame), {});
}

void Master::onClientFull(bool full) {
  full_clients_ += full ? 1 : -1;
  // With output credit the server holds back a full client's command alone, and the client's
  // queue stays within the window; only an older server needs the whole connection paused.
  if (!ended_ && !(features() & rxpb::v1::FEATURE_CREDIT)) conn_.setOutputPaused(full_clients_ > 0);
}

void Master::onClientClosed(MasterClient& client) {
  if (client.remoteId() != 0) {
    auto it = commands_.find(client.remoteId());
    if (it != commands_.end() && it->second == &client) commands_.erase(it);
  }
  if (relay_to_ == &client) relay_to_ = nullptr;
  clients_.erase(&client);
  updateIdleTimer();
}

void Master::onExecSendQueue(ExecClient& exec) {
  const bool paused = exec.socketQueued() >= (stdin_paused_ ? kSharedLowWater : kSharedHighWater);
  if (paused == stdin_paused_) return;
  stdin_paused_ = paused;
  for (auto& [ptr, client] : clients_) client->setReadPaused(paused);
}

bool Master::onRelayDataHeader(ExecClient&, const DataFrameHeader& header) {
  auto it = commands_.find(header.exec_id);
  if (it == commands_.end()) return false;
  relay_to_ = it->second;
  std::string head;
  appendOutputFrameHeader(head, ClientSession::kExecId, static_cast<rxpb::v1::Stream>(header.stream),
                          header.data_size);
  relay_to_->write(head);
  return true;
}

void Master::onRelayData(ExecClient&, std::string_view part, bool last) {
  if (relay_to_) relay_to_->writeOutput(part);
  if (last) relay_to_ = nullptr;
}

void Master::onRelayFrame(ExecClient&, const Frame& frame) {
  if (frame.msg_case() == Frame::kStdinAck) {
    // For a command that has ended, or one this master never ran: nothing to do.
    auto it = commands_.find(frame.stdin_ack().exec_id());
    if (it != commands_.end()) it->second->onStdinAck(frame.stdin_ack().bytes());
    return;
  }
  const bool result = frame.msg_case() == Frame::kExecResult;
  const uint32_t id = result ? frame.exec_result().exec_id() : frame.output().exec_id();
  auto it = commands_.find(id);
  if (it == commands_.end()) {
    conn_.abort(fmt::format("protocol error: {} for unknown command {}", result ? "result" : "output", id));
    return;
  }
  MasterClient* client = it->second;
  if (result) {
    commands_.erase(it);
    Frame copy = frame;
    copy.mutable_exec_result()->set_exec_id(ClientSession::kExecId);
    client->finishWith(encodeFrame(copy));
    return;
  }
  // An Output frame the server did not write in the streamable shape (rexecd always does).
  std::string head;
  appendOutputFrameHeader(head, ClientSession::kExecId, frame.output().stream(),
                          frame.output().data().size());
  client->write(head);
  client->writeOutput(frame.output().data());
}

void Master::stop(const char* why) {
  stopping_ = true;
  conn_.abort(why);
}

void Master::onExecDone(ExecClient&, const ExecOutcome& outcome) {
  ended_ = true;
  const std::string label = knownHostLabel(target_.host, target_.port);
  const std::string message = fmt::format("master: its connection to {} ended: {}", label, outcome.message);
  for (auto& [ptr, client] : clients_) client->end(message);
  commands_.clear();
  relay_to_ = nullptr;
  closeListener();
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&idle_timer_)))
    uv_close(reinterpret_cast<uv_handle_t*>(&idle_timer_), nullptr);
  for (uv_signal_t* s : {&sig_int_, &sig_term_, &sig_hup_})
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(s)))
      uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
  if (failure_) {
    exit_status_ = kExitFailure;
    if (!failure_->empty()) masterSay(*failure_);
  } else if (stopping_) {
    exit_status_ = 0;
    masterLog(fmt::format("master for {} on {} ended: {}", label, path_, outcome.message));
  } else {
    exit_status_ = kExitFailure;
    masterSay(fmt::format("{}: {}", target_.host, outcome.message));
  }
}

void Master::closeListener() {
  if (listener_closed_) return;
  listener_closed_ = true;
  if (published_)
    unpublishControlSocket(path_, published_as_);
  else if (!bound_path_.empty())
    unlink(bound_path_.c_str());
  uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
}

}  // namespace rx
