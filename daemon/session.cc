#include "daemon/session.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/auth_proof.h"
#include "common/encoding.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/pty_request.h"
#include "common/signal_names.h"
#include "daemon/dir_access.h"

namespace rx {
namespace {

using rxpb::v1::Frame;
using rxpb::v1::StartFailed;

constexpr uint64_t kServerFeatures = rxpb::v1::FEATURE_SHELL | rxpb::v1::FEATURE_SIGNALS |
                                     rxpb::v1::FEATURE_MULTI_EXEC | rxpb::v1::FEATURE_PTY |
                                     rxpb::v1::FEATURE_CREDIT;

// What an idle connection may keep of its output buffer.
constexpr size_t kIdleBufferCapacity = 4096;

bool validKeyId(std::string_view id) {
  if (id.empty() || id.size() > kMaxKeyIdSize) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == ':' || c == '@' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool isDirectory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// What REXEC_ORIGINAL_COMMAND holds under a forced command: the shell string, or the argv words
// joined with single spaces (as OpenSSH's SSH_ORIGINAL_COMMAND).
std::string originalCommand(const rxpb::v1::ExecRequest& req) {
  if (req.shell()) return req.argv(0);
  std::string out;
  for (int i = 0; i < req.argv_size(); ++i) {
    if (i) out += ' ';
    out += req.argv(i);
  }
  return out;
}

std::string argvForLog(const rxpb::v1::ExecRequest& req) {
  std::string out = req.shell() ? "sh -c [" : "[";
  for (int i = 0; i < req.argv_size(); ++i) {
    if (i) out += ",";
    if (out.size() > 1024) {
      out += "...";
      break;
    }
    out += quoteForLog(req.argv(i).substr(0, 256));
  }
  return out + "]";
}

}  // namespace

bool envNameAccepted(const std::vector<std::string>& patterns, std::string_view name) {
  for (const auto& p : patterns) {
    if (!p.empty() && p.back() == '*') {
      if (name.substr(0, p.size() - 1) == std::string_view(p).substr(0, p.size() - 1)) return true;
    } else if (name == p) {
      return true;
    }
  }
  return false;
}

Session::Session(const SessionConfig& config, Launcher& launcher, SessionHost& host, std::string peer,
                 std::string channel_binding, std::optional<IpAddress> peer_address)
    : config_(config),
      launcher_(launcher),
      host_(host),
      peer_(std::move(peer)),
      peer_address_(peer_address),
      reader_(peekStdinFrameHeader),
      channel_binding_(std::move(channel_binding)) {}

Session::~Session() { terminateAll("connection closed"); }

void Session::start() {
  server_nonce_ = randomBytes(kNonceSize);
  Frame f;
  auto* c = f.mutable_auth_challenge();
  c->set_protocol_version(kProtocolVersion);
  c->set_features(kServerFeatures);
  c->set_server_nonce(server_nonce_);
  queue(f);
  flush();
}

void Session::onBytes(std::string_view bytes) {
  if (state_ == State::Closing) return;
  in_dispatch_ = true;
  reader_.feed(bytes, *this);
  in_dispatch_ = false;
  flush();
}

size_t Session::maxPayload() const {
  return state_ == State::AwaitAuth ? kMaxFramePreAuth : kMaxFramePostAuth;
}

bool Session::onDataHeader(const DataFrameHeader& header) {
  stdin_exec_id_ = header.exec_id;
  return true;
}

void Session::onData(std::string_view part, bool) {
  // A StdinData frame's data goes to the child's pipe as each read brings it, straight from the
  // decrypted read, never gathered into a whole frame first. Gathering a frame that two reads cut
  // (most of them, with 1 MiB socket reads and 512 KiB frames) cost a copy of its bytes, a 512 KiB
  // buffer kept for the rest of the session, and often a pipe write too big for the room left
  // (the rest copied again into a queued write). 1 GiB into `cat >/dev/null`, two sets of 20
  // alternating runs: rexecd's CPU 0.584/0.597 -> 0.533/0.530 s, the stream 0.838/0.820 ->
  // 0.809/0.795 s. (With 256 KiB socket reads, a frame came in three or more parts and
  // gathering was the faster.)
  deliverStdin(stdin_exec_id_, part);
}

void Session::deliverStdin(uint32_t exec_id, std::string_view data) {
  // Data for a job that already finished is dropped: the client could not know. So is data for a
  // job whose stdin is /dev/null (stdin_open false, or the key's no-stdin).
  auto it = jobs_.find(exec_id);
  if (it == jobs_.end()) return;
  JobEntry& entry = it->second;
  if (features_ & rxpb::v1::FEATURE_CREDIT) {
    entry.stdin_outstanding += data.size();
    if (entry.stdin_outstanding > kStdinWindow) {
      protocolError(fmt::format("exec {}: {} bytes of stdin unacknowledged, more than the window of {}",
                                exec_id, entry.stdin_outstanding, kStdinWindow));
      return;
    }
  }
  if (entry.stdin_open)
    entry.handle->writeStdin(data);
  else
    onJobStdinWritten(*entry.handle, data.size());  // dropped, and done with
  updateReading();
}

void Session::onJobStdinWritten(JobHandle& job, size_t bytes) {
  if (!(features_ & rxpb::v1::FEATURE_CREDIT)) return;
  const auto it = jobs_.find(job.execId());
  if (it == jobs_.end()) return;
  JobEntry& entry = it->second;
  entry.stdin_done += bytes;
  // Whenever the job has taken everything too: a client holding back a frame larger than what
  // its window has left must not wait for a step that never comes.
  if (entry.stdin_done < kCreditAckStep && job.stdinQueued() > 0) return;
  Frame f;
  f.mutable_stdin_ack()->set_exec_id(job.execId());
  f.mutable_stdin_ack()->set_bytes(entry.stdin_done);
  entry.stdin_outstanding -= entry.stdin_done;
  entry.stdin_done = 0;
  queue(f);
  if (!in_dispatch_) flush();
}

void Session::dispatch(Frame& frame) {
  if (state_ == State::AwaitAuth) {
    if (frame.msg_case() != Frame::kAuthResponse) {
      protocolError("the first message must be AuthResponse");
      return;
    }
    handleAuth(frame.auth_response());
    return;
  }
  switch (frame.msg_case()) {
    case Frame::kExecRequest:
      handleExec(frame.exec_request());
      break;
    case Frame::kStdinData:  // one that reader_ did not stream (another field order, or empty)
      deliverStdin(frame.stdin_data().exec_id(), frame.stdin_data().data());
      break;
    case Frame::kStdinClose: {
      auto it = jobs_.find(frame.stdin_close().exec_id());
      if (it != jobs_.end() && it->second.stdin_open) it->second.handle->closeStdin();
      break;
    }
    case Frame::kSignal: {
      if (!(features_ & rxpb::v1::FEATURE_SIGNALS)) {
        protocolError("signal sent without the signals feature");
        return;
      }
      auto it = jobs_.find(frame.signal().exec_id());
      const auto signo = signalFromName(frame.signal().name());
      if (!signo) {
        protocolError(fmt::format("unknown signal {}", quoteForLog(frame.signal().name())));
        return;
      }
      if (it != jobs_.end()) {
        log::info("{} exec {}: signal {}", peer_, frame.signal().exec_id(), signalName(*signo));
        it->second.handle->signalGroup(*signo);
      }
      break;
    }
    case Frame::kWindowChange:
      handleWindowChange(frame.window_change());
      break;
    case Frame::kOutputAck:
      handleOutputAck(frame.output_ack());
      break;
    case Frame::kError:
      log::info("{}: client reported an error: {}", peer_, quoteForLog(frame.error().message()));
      terminateAll("client reported an error");
      closeSession();
      break;
    default:
      protocolError(fmt::format("unexpected message type {}", static_cast<int>(frame.msg_case())));
  }
}

void Session::handleAuth(const rxpb::v1::AuthResponse& auth) {
  auto fail = [&](const std::string& why, const std::string& to_client) {
    log::warning("{}: authentication failed for key {}: {}", peer_,
                 quoteForLog(auth.key_id().substr(0, kMaxKeyIdSize)), why);
    host_.onAuthenticationFailed();
    Frame f;
    f.mutable_auth_result()->set_ok(false);
    f.mutable_auth_result()->set_message(to_client);
    queue(f);
    closeSession();
  };
  if (auth.protocol_version() != kProtocolVersion) {
    fail(fmt::format("protocol version {}", auth.protocol_version()),
         fmt::format("unsupported protocol version {} (server speaks {})", auth.protocol_version(),
                     kProtocolVersion));
    return;
  }
  if ((auth.features() & ~kServerFeatures) != 0) {
    fail("unknown feature bits", "unsupported feature bits requested");
    return;
  }
  if (!validKeyId(auth.key_id()) || auth.client_nonce().size() != kNonceSize ||
      (auth.proof().size() != kProofSize && auth.proof().size() != kSignatureSize)) {
    fail("malformed AuthResponse", "malformed authentication message");
    return;
  }
  if (channel_binding_.empty()) {  // the host got the order wrong: fail closed
    fail("no channel binding yet", "authentication failed");
    return;
  }
  const AuthorizedKey* key = config_.keys ? config_.keys->find(auth.key_id()) : nullptr;
  const ProofInput in{server_nonce_, auth.client_nonce(), channel_binding_, auth.key_id()};
  if (key == nullptr) {
    fail("unknown key", "authentication failed");
    return;
  }
  if (auth.proof().size() != (key->type == KeyType::Ed25519 ? kSignatureSize : kProofSize)) {
    fail("proof of the wrong size for the key type", "authentication failed");
    return;
  }
  if (!checkClientProof(*key, in, auth.proof())) {
    fail("bad proof", "authentication failed");
    return;
  }
  // After the proof, so that a client without the key learns nothing about from=, and with the
  // same answer as a bad proof, so that a client with the key learns nothing more either.
  if (!key->options.allowsSource(peer_address_)) {
    fail(fmt::format("source address {} is not allowed by from= of the key on line {}",
                     peer_address_ ? formatIpAddress(*peer_address_) : "unknown", key->line),
         "authentication failed");
    return;
  }
  key_id_ = auth.key_id();
  key_options_ = key->options;
  features_ = auth.features();
  state_ = State::Authenticated;
  host_.onAuthenticated();
  Frame f;
  f.mutable_auth_result()->set_ok(true);
  f.mutable_auth_result()->set_server_proof(serverProof(*key, in));
  queue(f);
  log::info("{}: authenticated with key {} ({})", peer_, key_id_, quoteForLog(key->comment));
}

void Session::refuseExec(uint32_t exec_id, StartFailed::Reason reason, std::string message,
                         const std::string& argv_for_log) {
  Frame f;
  auto* r = f.mutable_exec_result();
  r->set_exec_id(exec_id);
  r->mutable_start_failed()->set_reason(reason);
  r->mutable_start_failed()->set_message(printableText(message));
  queue(f);
  audit(exec_id, argv_for_log, "start-failed " + quoteForLog(message), 0, 0, 0);
}

void Session::handleExec(const rxpb::v1::ExecRequest& req) {
  const uint32_t id = req.exec_id();
  // Ids only grow, so an id is never reused on a connection (no set of old ids to keep).
  if (id <= last_exec_id_) {
    protocolError(fmt::format("exec id {} is not greater than the previous one ({})", id, last_exec_id_));
    return;
  }
  last_exec_id_ = id;
  if (req.shell() && !(features_ & rxpb::v1::FEATURE_SHELL)) {
    protocolError("shell mode requested without the shell feature");
    return;
  }
  if (req.has_pty() && !(features_ & rxpb::v1::FEATURE_PTY)) {
    protocolError("pty requested without the pty feature");
    return;
  }
  if (!jobs_.empty() && !(features_ & rxpb::v1::FEATURE_MULTI_EXEC)) {
    protocolError("a second command at once without the multi-exec feature");
    return;
  }
  const std::optional<std::string>& forced = key_options_.command;
  // The audit shows both what runs and what was asked for.
  const std::string argv_log =
      forced ? fmt::format("sh -c [{}] requested={}", quoteForLog(forced->substr(0, 1024)), argvForLog(req))
             : argvForLog(req);
  if (shutting_down_) {
    refuseExec(id, StartFailed::REFUSED, "the server is shutting down", argv_log);
    return;
  }
  if (jobs_.size() >= config_.max_jobs_per_connection) {
    refuseExec(id, StartFailed::REFUSED,
               fmt::format("too many commands on one connection (limit {})", config_.max_jobs_per_connection),
               argv_log);
    return;
  }
  if (key_options_.max_jobs && jobs_.size() >= *key_options_.max_jobs) {
    refuseExec(
        id, StartFailed::REFUSED,
        fmt::format("too many commands on one connection (limit {} for this key)", *key_options_.max_jobs),
        argv_log);
    return;
  }
  if (req.argv_size() == 0 || (req.shell() && req.argv_size() != 1)) {
    refuseExec(id, StartFailed::REFUSED,
               req.shell() ? "shell mode takes exactly one command string" : "empty argv", argv_log);
    return;
  }
  size_t argv_bytes = 0;
  for (const auto& a : req.argv()) {
    argv_bytes += a.size() + 1;
    if (a.find('\0') != std::string::npos) {
      refuseExec(id, StartFailed::REFUSED, "an argument contains a NUL byte", argv_log);
      return;
    }
  }
  if (static_cast<size_t>(req.argv_size()) > config_.max_argc || argv_bytes > config_.max_argv_bytes) {
    refuseExec(id, StartFailed::REFUSED,
               fmt::format("argv too large (limits: {} arguments, {} bytes)", config_.max_argc,
                           config_.max_argv_bytes),
               argv_log);
    return;
  }
  if (req.has_pty()) {
    // no-stdin promises a command that reads nothing from the client; a terminal is input too.
    if (key_options_.no_pty || key_options_.no_stdin) {
      refuseExec(id, StartFailed::REFUSED,
                 fmt::format("this key may not use a terminal (key option {})",
                             key_options_.no_pty ? "no-pty" : "no-stdin"),
                 argv_log);
      return;
    }
    if (Status s = checkPtyRequest(req.pty()); !s) {
      refuseExec(id, StartFailed::REFUSED, "invalid terminal request: " + s.message(), argv_log);
      return;
    }
  }

  JobSpec spec;
  spec.exec_id = id;
  if (forced) {
    // The key is restricted to one command: the request never runs, whatever it asked.
    spec.argv = {"/bin/sh", "-c", *forced};
  } else if (req.shell()) {
    spec.argv = {"/bin/sh", "-c", req.argv(0)};
  } else {
    spec.argv.assign(req.argv().begin(), req.argv().end());
  }

  // Who the command runs as: the key's user=, else the daemon's own account.
  std::string user = config_.user, home = config_.home, shell = config_.shell;
  if (const auto& run_as = key_options_.user) {
    user = run_as->name;
    shell = run_as->shell;
    // As login(1) does: without its home directory the account starts in "/", with HOME=/.
    home = isDirectory(run_as->home) ? run_as->home : "/";
    spec.credentials = Credentials{run_as->uid, run_as->gid};
  }

  // A forced command starts in the home directory whatever the client asked: a relative path in
  // it must not resolve in a directory the client picked.
  std::string cwd = forced || req.cwd().empty() ? home : req.cwd();
  if (!cwd.empty() && cwd.front() != '/') cwd = (home == "/" ? "" : home) + "/" + cwd;
  if (spec.credentials) {
    // One answer for "missing" and "not allowed", so the client cannot probe directories it
    // could not enter (the daemon itself, as root, sees them all).
    if (!dirUsableBy(cwd, spec.credentials->uid, spec.credentials->gid)) {
      refuseExec(id, StartFailed::BAD_CWD,
                 fmt::format("{}: no such directory, or user {} may not use it", quoteForLog(cwd), user),
                 argv_log);
      return;
    }
  } else {
    if (cwd.find('\0') != std::string::npos || !isDirectory(cwd)) {
      refuseExec(id, StartFailed::BAD_CWD, fmt::format("{}: no such directory", quoteForLog(cwd)), argv_log);
      return;
    }
    if (::access(cwd.c_str(), X_OK) != 0) {
      refuseExec(id, StartFailed::BAD_CWD, fmt::format("{}: permission denied", quoteForLog(cwd)), argv_log);
      return;
    }
  }
  spec.cwd = cwd;

  // A minimal, clean environment, as a login would set it; the client adds only allow-listed names.
  std::map<std::string, std::string> env{
      {"PATH", "/usr/local/bin:/usr/bin:/bin"},
      {"HOME", home},
      {"USER", user},
      {"LOGNAME", user},
      {"SHELL", shell},
      {"LANG", "C.UTF-8"},
  };
  const std::vector<std::string>& accept_env = key_options_.env ? *key_options_.env : config_.accept_env;
  if (static_cast<size_t>(req.env_size()) > config_.max_env_vars) {
    refuseExec(id, StartFailed::REFUSED,
               fmt::format("too many environment variables (limit {})", config_.max_env_vars), argv_log);
    return;
  }
  for (const auto& var : req.env()) {
    if (!validEnvName(var.name()) || var.value().find('\0') != std::string::npos) {
      refuseExec(id, StartFailed::REFUSED,
                 fmt::format("invalid environment variable {}", quoteForLog(var.name())), argv_log);
      return;
    }
    if (!envNameAccepted(accept_env, var.name())) {
      log::info("{} exec {}: ignoring environment variable {} (not accepted)", peer_, id, var.name());
      continue;
    }
    env[var.name()] = var.value();
  }
  // The terminal's type, as sshd sets it from the pty request (checked to be a short plain word).
  if (req.has_pty() && !req.pty().term().empty()) env["TERM"] = req.pty().term();
  // Set last, so that no variable from the client can stand in for it.
  if (forced) env["REXEC_ORIGINAL_COMMAND"] = originalCommand(req);
  for (const auto& [name, value] : env) spec.env.push_back(name + "=" + value);
  spec.stdin_open = req.stdin_open() && !key_options_.no_stdin;
  if (req.has_pty()) {
    spec.pty = terminalSizeFrom(req.pty().size());
    spec.stdin_open = true;  // the terminal is the command's input
  }
  spec.timeout_ms = req.timeout_ms();
  spec.kill_grace_ms = config_.kill_grace_ms;
  spec.drain_grace_ms = config_.drain_grace_ms;
  spec.stdin_high_water = config_.stdin_high_water;

  StartError error;
  JobHandle* job = launcher_.start(spec, this, error);
  if (job == nullptr) {
    refuseExec(id, error.reason, error.message, argv_log);
    return;
  }
  JobEntry& entry = jobs_[id] = JobEntry{job, argv_log, spec.stdin_open, spec.pty.has_value()};
  updateJobOutput(entry);
}

void Session::onJobStarted(JobHandle& job) {
  const auto it = jobs_.find(job.execId());
  log::info("{} exec {}: started pid {} {}", peer_, job.execId(), job.pid(),
            it != jobs_.end() ? it->second.argv_for_log : "?");
}

void Session::onJobStartFailed(JobHandle& job, const StartError& error) {
  const std::string argv_log = forgetJob(job.execId());
  refuseExec(job.execId(), error.reason, error.message, argv_log);
  afterJobEnded();
}

std::string Session::forgetJob(uint32_t exec_id) {
  const auto it = jobs_.find(exec_id);
  if (it == jobs_.end()) return "?";
  std::string argv_log = std::move(it->second.argv_for_log);
  jobs_.erase(it);
  return argv_log;
}

void Session::handleWindowChange(const rxpb::v1::WindowChange& change) {
  if (!(features_ & rxpb::v1::FEATURE_PTY)) {
    protocolError("window change sent without the pty feature");
    return;
  }
  if (Status s = checkWindowSize(change.size()); !s) {
    protocolError("invalid window change: " + s.message());
    return;
  }
  // Like a signal, a change for a command that has finished (or has no terminal) is dropped: the
  // client could not know.
  auto it = jobs_.find(change.exec_id());
  if (it != jobs_.end() && it->second.pty) it->second.handle->resizeTerminal(terminalSizeFrom(change.size()));
}

void Session::onJobOutput(JobHandle& job, rxpb::v1::Stream stream, std::string_view data) {
  // The data goes to TLS straight from the job's read buffer, behind its frame header: copying
  // each 256 KiB chunk into out_ first was 7% of rexecd's CPU on a stream.
  // A read may hold more than one frame may carry (daemon/job.cc reads up to 1 MiB).
  for (size_t at = 0; at < data.size(); at += kMaxChunk) {
    const std::string_view piece = data.substr(at, kMaxChunk);
    appendOutputFrameHeader(out_, job.execId(), stream, piece.size());
    flush(piece);
  }
  if (!(features_ & rxpb::v1::FEATURE_CREDIT)) return;
  const auto it = jobs_.find(job.execId());
  if (it == jobs_.end()) return;
  JobEntry& entry = it->second;
  entry.unacked += data.size();
  if (!entry.window_full && entry.unacked >= kOutputWindow) {
    log::debug("{} exec {}: output window full, pausing its output", peer_, job.execId());
    entry.window_full = true;
    updateJobOutput(entry);
  }
}

void Session::handleOutputAck(const rxpb::v1::OutputAck& ack) {
  if (!(features_ & rxpb::v1::FEATURE_CREDIT)) {
    protocolError("output acknowledged without the credit feature");
    return;
  }
  // A command that has finished may still be acknowledged: the client could not know.
  const auto it = jobs_.find(ack.exec_id());
  if (it == jobs_.end()) return;
  JobEntry& entry = it->second;
  if (ack.bytes() > entry.unacked) {
    protocolError(
        fmt::format("exec {}: {} bytes acknowledged, {} sent", ack.exec_id(), ack.bytes(), entry.unacked));
    return;
  }
  entry.unacked -= ack.bytes();
  if (entry.window_full && entry.unacked < kOutputWindow) {
    entry.window_full = false;
    updateJobOutput(entry);
  }
}

void Session::updateJobOutput(JobEntry& entry) {
  const bool paused = output_paused_ || entry.window_full;
  if (paused == entry.output_paused) return;
  entry.output_paused = paused;
  if (paused)
    entry.handle->pauseOutput();
  else
    entry.handle->resumeOutput();
}

void Session::onJobStdinDrained(JobHandle&) { updateReading(); }

void Session::onJobFinished(JobHandle& job, const rxpb::v1::ExecResult& result) {
  const std::string argv_log = forgetJob(job.execId());
  Frame f;
  *f.mutable_exec_result() = result;
  queue(f);
  std::string outcome;
  switch (result.outcome_case()) {
    case rxpb::v1::ExecResult::kExitCode:
      outcome = fmt::format("exit={}", result.exit_code());
      break;
    case rxpb::v1::ExecResult::kSignaled:
      outcome = fmt::format("signal={}{}", result.signaled().name(),
                            result.signaled().core_dumped() ? " core-dumped" : "");
      break;
    case rxpb::v1::ExecResult::kTimedOut:
      outcome = "timed-out";
      break;
    default:
      outcome = "unknown";
  }
  audit(result.exec_id(), argv_log, outcome, result.wall_time_us(), result.stdout_bytes(),
        result.stderr_bytes());
  afterJobEnded();
}

void Session::afterJobEnded() {
  updateReading();
  if (shutting_down_ && jobs_.empty()) {
    closeSession();
  } else if (!in_dispatch_) {
    flush();
  }
}

void Session::onJobLost(JobHandle& job, const std::string& why) {
  // No result can be sent for it, and a made-up one would be a lie: the client hears why in an
  // Error and the session ends (its other commands are terminated, as on any fatal error).
  const uint32_t exec_id = job.execId();
  if (auto it = jobs_.find(exec_id); it != jobs_.end()) {
    audit(exec_id, it->second.argv_for_log, "lost", 0, 0, 0);
    jobs_.erase(it);
  }
  log::error("{}: {}", peer_, why);
  Frame f;
  f.mutable_error()->set_message(why);
  queue(f);
  terminateAll("another command of the session was lost");
  closeSession();
}

void Session::audit(uint32_t exec_id, const std::string& argv, const std::string& outcome, uint64_t wall_us,
                    uint64_t out_bytes, uint64_t err_bytes) {
  log::notice("audit peer={} key={}{} exec={} argv={} {} duration_ms={:.3f} stdout_bytes={} stderr_bytes={}",
              peer_, key_id_, key_options_.user ? " user=" + key_options_.user->name : "", exec_id, argv,
              outcome, static_cast<double>(wall_us) / 1000.0, out_bytes, err_bytes);
}

void Session::onWriteQueueDrained() {
  if (!output_paused_) return;
  log::debug("{}: resuming command output", peer_);
  output_paused_ = false;
  for (auto& [id, entry] : jobs_) updateJobOutput(entry);
}

void Session::updateReading() {
  if (state_ == State::Closing) return;
  // With credit the client keeps each command's stdin within its window, and the connection is
  // always read: it also carries the OutputAck frames that let a paused command go on, and the
  // frames of every other command.
  if (features_ & rxpb::v1::FEATURE_CREDIT) {
    host_.setReading(true);
    return;
  }
  bool stdin_full = false;
  for (auto& [id, entry] : jobs_)
    if (entry.handle->stdinQueued() >= config_.stdin_high_water) stdin_full = true;
  host_.setReading(!stdin_full);
}

void Session::queue(const Frame& frame) { appendFrame(out_, frame); }

void Session::flush(std::string_view then) {
  if (out_.empty()) return;
  host_.send(out_, then);
  out_.clear();
  // Keep the buffers for the next chunk while commands stream; an idle connection holds none.
  if (jobs_.empty()) {
    if (out_.capacity() > kIdleBufferCapacity) out_.shrink_to_fit();
    host_.onIdle();
  }
  if (!output_paused_ && host_.queuedBytes() > config_.write_high_water) {
    log::debug("{}: client is slow, pausing command output ({} bytes queued)", peer_, host_.queuedBytes());
    output_paused_ = true;
    for (auto& [id, entry] : jobs_) updateJobOutput(entry);
  }
}

void Session::protocolError(const std::string& message) {
  log::warning("{}: protocol error: {}", peer_, message);
  Frame f;
  f.mutable_error()->set_message(printableText(message));
  queue(f);
  terminateAll("protocol error");
  closeSession();
}

void Session::closeSession() {
  state_ = State::Closing;
  flush();
  host_.closeAfterFlush();
}

void Session::terminateAll(const char* why) {
  for (auto& [id, entry] : jobs_) {
    audit(id, entry.argv_for_log, fmt::format("terminated ({})", why), 0, 0, 0);
    entry.handle->detach();
    entry.handle->terminate();
  }
  jobs_.clear();
}

void Session::onPeerClosed() {
  if (state_ == State::Closing && jobs_.empty()) return;
  terminateAll("client disconnected");
  state_ = State::Closing;
}

void Session::abort(const char* why) {
  terminateAll(why);
  state_ = State::Closing;
}

void Session::shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  if (jobs_.empty() || state_ != State::Authenticated) {
    terminateAll("server shutting down");
    closeSession();
    return;
  }
  for (auto& [id, entry] : jobs_) entry.handle->terminate();
}

}  // namespace rx
