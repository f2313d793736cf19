#include "client/client_session.h"

#include <fmt/format.h>

#include "common/auth_proof.h"
#include "common/encoding.h"
#include "common/limits.h"

namespace rx {

using rxpb::v1::Frame;

namespace {
constexpr uint64_t kClientFeatures = rxpb::v1::FEATURE_SHELL | rxpb::v1::FEATURE_SIGNALS;
// A master runs its clients' commands side by side, on terminals when they ask for one.
// With output credit, one client that does not read holds up its own command only.
constexpr uint64_t kMasterFeatures =
    kClientFeatures | rxpb::v1::FEATURE_MULTI_EXEC | rxpb::v1::FEATURE_PTY | rxpb::v1::FEATURE_CREDIT;
}  // namespace

ClientSession::ClientSession(ClientKey key, ExecParams params, ClientSessionHost& host)
    : key_(std::move(key)), params_(std::move(params)), host_(host) {}

void ClientSession::onSecureChannel(std::string channel_binding) {
  channel_binding_ = std::move(channel_binding);
}

void ClientSession::onBytes(std::string_view bytes) {
  if (state_ == State::Done) return;
  if (channel_binding_.empty() && role_ != Role::ViaMaster) {
    fail("protocol error: data before the secure channel was set up");
    return;
  }
  reader_.feed(bytes, *this);
}

void ClientSession::onError(const std::string& error) { fail("protocol error from the server: " + error); }

bool ClientSession::countOutput(uint32_t exec_id, uint32_t stream, size_t size) {
  if (exec_id != kExecId) {
    fail(fmt::format("protocol error: output for unknown command {}", exec_id));
    return false;
  }
  if (stream == rxpb::v1::STREAM_STDOUT) {
    stdout_bytes_ += size;
  } else if (stream == rxpb::v1::STREAM_STDERR) {
    stderr_bytes_ += size;
  } else {
    fail("protocol error: output on an unknown stream");
    return false;
  }
  return true;
}

bool ClientSession::onDataHeader(const DataFrameHeader& h) {
  if (role_ == Role::Master) {
    if (host_.onRelayDataHeader(h)) return true;
    fail(fmt::format("protocol error: output for unknown command {}", h.exec_id));
    return false;
  }
  if (!countOutput(h.exec_id, h.stream, h.data_size)) return false;
  output_stream_ = static_cast<rxpb::v1::Stream>(h.stream);
  return true;
}

void ClientSession::fail(const std::string& message) {
  if (state_ == State::Done) return;
  state_ = State::Done;
  host_.onFailure(message);
}

void ClientSession::onClosed(const std::string& why) {
  if (state_ == State::Done) return;
  if (state_ == State::Running && role_ == Role::Master)
    fail(fmt::format("connection lost ({})", why));
  else if (state_ == State::Running)
    fail(fmt::format("connection lost before the command finished ({}); output may be incomplete", why));
  else
    fail(fmt::format("connection closed during authentication ({})", why));
}

void ClientSession::dispatch(const Frame& frame) {
  if (frame.msg_case() == Frame::kError) {
    const std::string text = printableText(frame.error().message().substr(0, 300));
    // Through a master, the error is the master's own (its messages say so).
    if (role_ == Role::ViaMaster)
      fail(text.empty() ? "master: an error without a message" : text);
    else
      fail("server error: " + text);
    return;
  }
  switch (state_) {
    case State::AwaitChallenge: {
      if (frame.msg_case() != Frame::kAuthChallenge) {
        fail(role_ == Role::ViaMaster ? "protocol error: the master did not start with its greeting"
                                      : "protocol error: the server did not start with a challenge");
        return;
      }
      const auto& c = frame.auth_challenge();
      if (c.protocol_version() != kProtocolVersion) {
        fail(fmt::format("the {} speaks protocol version {}, this client {}",
                         role_ == Role::ViaMaster ? "master" : "server", c.protocol_version(),
                         kProtocolVersion));
        return;
      }
      if (role_ == Role::ViaMaster)
        answerMaster(c);
      else
        answerChallenge(c);
      return;
    }
    case State::AwaitAuthResult: {
      if (frame.msg_case() != Frame::kAuthResult) {
        fail("protocol error: expected the authentication result");
        return;
      }
      const auto& r = frame.auth_result();
      if (!r.ok()) {
        fail("authentication refused by the server: " + printableText(r.message().substr(0, 200)));
        return;
      }
      const ProofInput in{server_nonce_, client_nonce_, channel_binding_, key_.key_id};
      if (!checkServerProof(key_, in, r.server_proof())) {
        fail("the server failed to prove it holds the key: not the expected server");
        return;
      }
      state_ = State::Running;
      if (role_ == Role::Master) host_.onRequestSent();  // ready to take commands
      return;
    }
    case State::Running:
      break;
    case State::Done:
      return;
  }
  if (role_ == Role::Master) {
    if (frame.msg_case() == Frame::kOutput || frame.msg_case() == Frame::kExecResult ||
        frame.msg_case() == Frame::kStdinAck) {
      host_.onRelayFrame(frame);
      return;
    }
    fail(fmt::format("protocol error: unexpected message type {}", static_cast<int>(frame.msg_case())));
    return;
  }
  switch (frame.msg_case()) {
    case Frame::kOutput: {
      const auto& o = frame.output();
      if (!countOutput(o.exec_id(), static_cast<uint32_t>(o.stream()), o.data().size())) return;
      host_.onOutput(o.stream(), o.data());
      return;
    }
    case Frame::kExecResult: {
      const auto& r = frame.exec_result();
      if (r.exec_id() != kExecId) {
        fail(fmt::format("protocol error: result for unknown command {}", r.exec_id()));
        return;
      }
      if (r.stdout_bytes() != stdout_bytes_ || r.stderr_bytes() != stderr_bytes_) {
        fail(fmt::format("output truncated: received {}/{} stdout and {}/{} stderr bytes", stdout_bytes_,
                         r.stdout_bytes(), stderr_bytes_, r.stderr_bytes()));
        return;
      }
      if (r.outcome_case() == rxpb::v1::ExecResult::OUTCOME_NOT_SET) {
        fail("protocol error: result without an outcome");
        return;
      }
      state_ = State::Done;
      host_.onResult(r);
      return;
    }
    default:
      fail(fmt::format("protocol error: unexpected message type {}", static_cast<int>(frame.msg_case())));
  }
}

void ClientSession::answerChallenge(const rxpb::v1::AuthChallenge& c) {
  if (c.server_nonce().size() != kNonceSize) {
    fail("protocol error: bad challenge from the server");
    return;
  }
  prepareKey();  // normally done already
  server_nonce_ = c.server_nonce();
  client_nonce_ = randomBytes(kNonceSize);
  const ProofInput in{server_nonce_, client_nonce_, channel_binding_, key_.key_id};
  std::string out;
  Frame auth;
  auto* a = auth.mutable_auth_response();
  a->set_protocol_version(kProtocolVersion);
  pty_active_ = role_ == Role::OneCommand && params_.pty && (c.features() & rxpb::v1::FEATURE_PTY);
  features_ = (role_ == Role::Master ? kMasterFeatures
                                     : kClientFeatures | (pty_active_ ? rxpb::v1::FEATURE_PTY : 0)) &
              c.features();
  a->set_features(features_);
  a->set_key_id(key_.key_id);
  a->set_client_nonce(client_nonce_);
  a->set_proof(clientProof(key_, in));
  appendFrame(out, auth);
  state_ = State::AwaitAuthResult;
  if (role_ == Role::Master) {
    host_.send(std::move(out));
    return;
  }
  // Pipelined behind the proof: the server acts on it only once the proof checked out, and
  // the command starts one round trip sooner.
  appendExecRequest(out);
  host_.send(std::move(out));
  host_.onRequestSent();
}

void ClientSession::answerMaster(const rxpb::v1::AuthChallenge& c) {
  // The master authenticated its own connection; it only says where that leads. A server's
  // challenge (a nonce, no target) here would mean the socket is not a master at all.
  if (!c.server_nonce().empty() || c.master_target().empty()) {
    fail("protocol error: bad greeting from the master");
    return;
  }
  if (c.master_target() != master_target_) {
    fail(fmt::format("the master on this control socket runs commands on {}, not {}",
                     printableText(c.master_target().substr(0, 300)), master_target_));
    return;
  }
  pty_active_ = params_.pty && (c.features() & rxpb::v1::FEATURE_PTY);
  std::string out;
  appendExecRequest(out);
  state_ = State::Running;
  host_.send(std::move(out));
  host_.onRequestSent();
}

void ClientSession::appendExecRequest(std::string& out) {
  Frame exec;
  auto* r = exec.mutable_exec_request();
  r->set_exec_id(kExecId);
  for (const auto& arg : params_.argv) r->add_argv(arg);
  r->set_shell(params_.shell);
  r->set_cwd(params_.cwd);
  for (const auto& [name, value] : params_.env) {
    auto* e = r->add_env();
    e->set_name(name);
    e->set_value(value);
  }
  r->set_stdin_open(params_.stdin_open);
  r->set_timeout_ms(params_.timeout_ms);
  if (pty_active_) {
    r->mutable_pty()->set_term(validTermName(params_.pty->term) ? params_.pty->term : "");
    setWindowSize(params_.pty->size, *r->mutable_pty()->mutable_size());
  }
  appendFrame(out, exec);
}

void ClientSession::sendStdin(std::string_view data) {
  if (!ownCommand()) return;
  // The header, then the data straight from the caller: no copy of the data into a frame first.
  while (!data.empty()) {
    const size_t n = std::min(data.size(), kMaxChunk);
    stdin_out_.clear();
    appendStdinFrameHeader(stdin_out_, kExecId, n);
    host_.send(stdin_out_, data.substr(0, n));
    data.remove_prefix(n);
  }
}

void ClientSession::closeStdin() {
  if (!ownCommand()) return;
  Frame f;
  f.mutable_stdin_close()->set_exec_id(kExecId);
  host_.send(encodeFrame(f));
}

void ClientSession::sendSignal(std::string_view name) {
  if (!ownCommand()) return;
  Frame f;
  f.mutable_signal()->set_exec_id(kExecId);
  f.mutable_signal()->set_name(std::string(name));
  host_.send(encodeFrame(f));
}

void ClientSession::sendWindowChange(const TerminalSize& size) {
  if (!pty_active_ || !ownCommand()) return;
  Frame f;
  f.mutable_window_change()->set_exec_id(kExecId);
  setWindowSize(size, *f.mutable_window_change()->mutable_size());
  host_.send(encodeFrame(f));
}

}  // namespace rx
