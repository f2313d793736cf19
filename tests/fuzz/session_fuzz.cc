// libFuzzer target: the daemon's connection state machine (rx::Session) fed raw client bytes,
// with a fake connection, a fake launcher and fake jobs whose events the input schedules. No
// sockets, no processes. THREATS.md row 10.
//
// Input (tests/fuzz/fuzz_input.h, session_input): a mode byte, then operations. With kModeAuth
// the harness answers the session's challenge itself (the nonce is random: it is read back from
// the AuthChallenge the session sends), so the fuzzer explores the authenticated state too;
// otherwise the fuzzer is on its own, cannot forge a proof, and nothing may ever be launched.
//
// Invariants: no crash, UB or leak; nothing launched before a valid AuthResponse, or after
// closeAfterFlush or the peer closing; nothing sent after closeAfterFlush; every byte sent is
// whole frames of server message types, in protocol order (challenge, then the auth result, then
// output and at most one ExecResult per exec id); live jobs never exceed max_jobs_per_connection;
// a job the session let go (detach) is never used again, and none is left attached when the
// session is destroyed.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/auth_proof.h"
#include "common/limits.h"
#include "daemon/session.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/fuzz_keys.h"
#include "tests/fuzz/fuzz_logs.h"

namespace rx {
namespace {

using rxpb::v1::Frame;
namespace in = fuzz::session_input;

// Small limits, so that the fuzzer reaches them.
const SessionConfig& fuzzConfig() {
  static const SessionConfig config = [] {
    SessionConfig c;
    auto keys = std::make_shared<KeySet>();
    keys->keys.push_back(fuzz::authorizedFor(fuzz::ed25519Key(), 1));
    keys->keys.push_back(fuzz::authorizedFor(fuzz::hmacKey(), 2));
    c.keys = keys;
    c.max_jobs_per_connection = 3;
    c.max_argc = 16;
    c.max_argv_bytes = 1024;
    c.max_env_vars = 8;
    c.write_high_water = 8 * 1024;
    c.write_low_water = 2 * 1024;
    c.stdin_high_water = 512;
    c.user = "fuzz";
    c.home = "/tmp";
    c.shell = "/bin/sh";
    return c;
  }();
  return config;
}

// What the fakes saw, shared between them.
struct Ledger {
  bool valid_auth_fed = false;  // the harness fed a valid AuthResponse
  bool auth_ok_sent = false;    // the session sent AuthResult{ok}
  bool close_requested = false;
  bool peer_closed = false;
  bool error_sent = false;
  size_t frames_sent = 0;
  std::string server_nonce;
  std::set<uint32_t> launched;  // exec ids the launcher started
  std::set<uint32_t> results;   // exec ids an ExecResult was sent for
};

// The connection: collects and checks what the session sends; never blocks.
class FuzzHost final : public SessionHost {
 public:
  explicit FuzzHost(Ledger& ledger) : ledger_(ledger) {}

  void send(std::string_view bytes, std::string_view then) override {
    // Connection::closeAfterFlush has already queued TLS close_notify.
    RX_FUZZ_CHECK(!ledger_.close_requested);
    RX_FUZZ_CHECK(!bytes.empty());
    queued_ += bytes.size() + then.size();
    decoder_.feed(bytes);
    decoder_.feed(then);
    Frame f;
    for (;;) {
      const auto r = decoder_.next(f);
      if (r == FrameDecoder::Result::NeedMore) break;
      RX_FUZZ_CHECK(r == FrameDecoder::Result::Frame);  // every frame sent decodes
      onFrame(f);
    }
    RX_FUZZ_CHECK(decoder_.buffered() == 0);  // whole frames only
  }
  size_t queuedBytes() const override { return queued_; }
  void setReading(bool) override {}
  void closeAfterFlush() override { ledger_.close_requested = true; }

  void written(size_t n) { queued_ -= std::min(n, queued_); }

 private:
  void onFrame(const Frame& f) {
    const size_t index = ledger_.frames_sent++;
    RX_FUZZ_CHECK(!ledger_.error_sent);  // an Error is the last frame
    switch (f.msg_case()) {
      case Frame::kAuthChallenge:
        RX_FUZZ_CHECK(index == 0);
        RX_FUZZ_CHECK(f.auth_challenge().server_nonce().size() == kNonceSize);
        ledger_.server_nonce = f.auth_challenge().server_nonce();
        break;
      case Frame::kAuthResult:
        RX_FUZZ_CHECK(index == 1);
        if (f.auth_result().ok()) {
          RX_FUZZ_CHECK(ledger_.valid_auth_fed);
          ledger_.auth_ok_sent = true;
        }
        break;
      case Frame::kOutput:
        RX_FUZZ_CHECK(ledger_.auth_ok_sent);
        RX_FUZZ_CHECK(ledger_.launched.count(f.output().exec_id()) == 1);
        RX_FUZZ_CHECK(ledger_.results.count(f.output().exec_id()) == 0);
        break;
      case Frame::kExecResult: {
        const auto& r = f.exec_result();
        RX_FUZZ_CHECK(ledger_.auth_ok_sent);
        RX_FUZZ_CHECK(ledger_.results.insert(r.exec_id()).second);  // one result per command
        RX_FUZZ_CHECK(ledger_.launched.count(r.exec_id()) == 1 || r.has_start_failed());
        RX_FUZZ_CHECK(r.outcome_case() != rxpb::v1::ExecResult::OUTCOME_NOT_SET);
        break;
      }
      case Frame::kError:
        RX_FUZZ_CHECK(index >= 1);
        ledger_.error_sent = true;
        break;
      default:
        RX_FUZZ_CHECK(!"a client-to-server message type from the server");
    }
  }

  Ledger& ledger_;
  size_t queued_ = 0;
  FrameDecoder decoder_{kMaxFramePostAuth};
};

class FuzzJob final : public JobHandle {
 public:
  FuzzJob(const JobSpec& spec, JobObserver* observer, int pid)
      : exec_id_(spec.exec_id), pid_(pid), stdin_open_(spec.stdin_open), observer_(observer) {}

  uint32_t execId() const override { return exec_id_; }
  int pid() const override { return pid_; }
  // After detach() the session may only terminate a job.
  void signalGroup(int) override { RX_FUZZ_CHECK(!detached_); }
  void terminate() override {}
  void writeStdin(std::string_view data) override {
    RX_FUZZ_CHECK(!detached_);
    if (stdin_open_ && !stdin_closed_) stdin_queued_ += data.size();
  }
  void closeStdin() override {
    RX_FUZZ_CHECK(!detached_);
    stdin_closed_ = true;
  }
  size_t stdinQueued() const override {
    RX_FUZZ_CHECK(!detached_);
    return stdin_queued_;
  }
  void pauseOutput() override {
    RX_FUZZ_CHECK(!detached_);
    paused_ = true;
  }
  void resumeOutput() override {
    RX_FUZZ_CHECK(!detached_);
    paused_ = false;
  }
  void detach() override { detached_ = true; }

  // Events the input schedules, reported the way the real Job does (never from inside a call
  // the session makes).
  void output(rxpb::v1::Stream stream, std::string_view data) {
    if (detached_ || paused_ || data.empty()) return;
    (stream == rxpb::v1::STREAM_STDOUT ? stdout_bytes_ : stderr_bytes_) += data.size();
    observer_->onJobOutput(*this, stream, data);
  }
  void stdinDrained(size_t high_water) {
    if (stdin_queued_ < high_water) return;  // the real job reports only after crossing it
    stdin_queued_ = 0;
    if (!detached_) observer_->onJobStdinDrained(*this);
  }
  // Last call: the launcher frees the job right after, as the contract allows.
  void finish(uint8_t outcome, uint8_t code) {
    if (detached_) return;
    rxpb::v1::ExecResult r;
    r.set_exec_id(exec_id_);
    switch (outcome % 3) {
      case 0:
        r.set_exit_code(code);
        break;
      case 1:
        r.mutable_signaled()->set_name(code & 1 ? "KILL" : "TERM");
        r.mutable_signaled()->set_number(code & 1 ? 9 : 15);
        break;
      default:
        r.mutable_timed_out()->set_timeout_ms(code);
    }
    r.set_stdout_bytes(stdout_bytes_);
    r.set_stderr_bytes(stderr_bytes_);
    r.set_wall_time_us(1000);
    observer_->onJobFinished(*this, r);
  }
  bool detached() const { return detached_; }

 private:
  uint32_t exec_id_;
  int pid_;
  bool stdin_open_;
  JobObserver* observer_;
  bool detached_ = false;
  bool stdin_closed_ = false;
  bool paused_ = false;
  size_t stdin_queued_ = 0;
  uint64_t stdout_bytes_ = 0;
  uint64_t stderr_bytes_ = 0;
};

bool isBaseEnvName(std::string_view name) {
  for (std::string_view base : {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG"})
    if (name == base) return true;
  return false;
}

// Records what the session starts; argv[0] "nosuch..." fails like a missing program.
class FuzzLauncher final : public Launcher {
 public:
  FuzzLauncher(Ledger& ledger, const SessionConfig& config) : ledger_(ledger), config_(config) {}

  void setObserver(JobObserver* observer) { observer_ = observer; }

  JobHandle* start(const JobSpec& spec, JobObserver* observer, StartError& error) override {
    RX_FUZZ_CHECK(ledger_.valid_auth_fed);  // the fuzzer alone cannot get a command run
    RX_FUZZ_CHECK(!ledger_.close_requested);
    RX_FUZZ_CHECK(!ledger_.peer_closed);
    RX_FUZZ_CHECK(observer == observer_);
    RX_FUZZ_CHECK(spec.exec_id != 0);
    RX_FUZZ_CHECK(ledger_.launched.count(spec.exec_id) == 0 && ledger_.results.count(spec.exec_id) == 0);
    RX_FUZZ_CHECK(!spec.argv.empty() && spec.argv.size() <= std::max<size_t>(config_.max_argc, 3));
    RX_FUZZ_CHECK(!spec.cwd.empty() && spec.cwd.front() == '/');
    for (const auto& e : spec.env) {
      const size_t eq = e.find('=');
      RX_FUZZ_CHECK(eq != std::string::npos);
      const std::string_view name(e.data(), eq);
      RX_FUZZ_CHECK(isBaseEnvName(name) || envNameAccepted(config_.accept_env, name));
    }
    // Counting jobs still being killed after a detach, too.
    RX_FUZZ_CHECK(jobs_.size() < config_.max_jobs_per_connection);
    if (spec.argv[0].starts_with("nosuch")) {
      error.reason = rxpb::v1::StartFailed::NOT_FOUND;
      error.message = spec.argv[0] + ": not found";
      return nullptr;
    }
    ledger_.launched.insert(spec.exec_id);
    jobs_.push_back(std::make_unique<FuzzJob>(spec, observer, next_pid_++));
    return jobs_.back().get();
  }
  size_t liveJobs() const override { return jobs_.size(); }

  FuzzJob* pick(uint8_t which) { return jobs_.empty() ? nullptr : jobs_[which % jobs_.size()].get(); }
  void reap(FuzzJob* job) {
    std::erase_if(jobs_, [job](const std::unique_ptr<FuzzJob>& j) { return j.get() == job; });
  }
  bool allDetached() const {
    return std::all_of(jobs_.begin(), jobs_.end(), [](const auto& j) { return j->detached(); });
  }

 private:
  Ledger& ledger_;
  const SessionConfig& config_;
  JobObserver* observer_ = nullptr;
  std::vector<std::unique_ptr<FuzzJob>> jobs_;
  int next_pid_ = 1000;
};

// The AuthResponse an honest client would send for this session's challenge.
std::string authBytes(uint8_t mode, const std::string& server_nonce) {
  const ClientKey& key = (mode & in::kModeEd25519) ? fuzz::ed25519Key() : fuzz::hmacKey();
  const ProofInput proof_in{server_nonce, fuzz::fixedClientNonce(), fuzz::channelBinding(), key.key_id};
  std::string proof = clientProof(key, proof_in);
  if (mode & in::kModeBadProof) proof[0] = static_cast<char>(proof[0] ^ 0x01);
  Frame f;
  auto* a = f.mutable_auth_response();
  a->set_protocol_version(kProtocolVersion);
  a->set_features((mode >> in::kModeFeatureShift) & 0x7);
  a->set_key_id(key.key_id);
  a->set_client_nonce(fuzz::fixedClientNonce());
  a->set_proof(proof);
  return encodeFrame(f);
}

void run(fuzz::InputReader& input) {
  const SessionConfig& config = fuzzConfig();
  Ledger ledger;
  FuzzHost host(ledger);
  FuzzLauncher launcher(ledger, config);
  auto session = std::make_unique<Session>(config, launcher, host, "fuzz-peer", fuzz::channelBinding());
  launcher.setObserver(session.get());

  session->start();
  RX_FUZZ_CHECK(ledger.frames_sent == 1 && !ledger.server_nonce.empty());

  const uint8_t mode = input.u8();
  std::string pending;  // the AuthResponse, when it rides with the first kFeed
  if (mode & in::kModeAuth) {
    const bool valid = !(mode & in::kModeBadProof);
    ledger.valid_auth_fed = valid;
    pending = authBytes(mode, ledger.server_nonce);
    if (!(mode & in::kModePipelined)) {
      session->onBytes(pending);
      pending.clear();
      RX_FUZZ_CHECK(session->authenticated() == valid);
      RX_FUZZ_CHECK(ledger.auth_ok_sent == valid);
      RX_FUZZ_CHECK(ledger.close_requested == !valid);
    }
  }

  auto feed = [&](std::string_view bytes) {
    // The connection stops reading once it has closed.
    if (ledger.peer_closed || (bytes.empty() && pending.empty())) return;
    if (pending.empty()) {
      session->onBytes(bytes);
    } else {
      pending.append(bytes);
      session->onBytes(pending);
      pending.clear();
    }
  };

  while (!input.empty()) {
    switch (input.u8() % in::kOpCount) {
      case in::kFeed: {
        const uint16_t n = input.u16();
        feed(input.bytes(n));
        break;
      }
      case in::kOutput: {
        FuzzJob* job = launcher.pick(input.u8());
        const auto stream = (input.u8() & 1) ? rxpb::v1::STREAM_STDERR : rxpb::v1::STREAM_STDOUT;
        const std::string_view data = input.bytes(input.u8());
        if (job) job->output(stream, data);
        break;
      }
      case in::kFinish: {
        FuzzJob* job = launcher.pick(input.u8());
        const uint8_t outcome = input.u8();
        const uint8_t code = input.u8();
        if (job) {
          job->finish(outcome, code);
          launcher.reap(job);  // freed now: any later use by the session is caught by ASan
        }
        break;
      }
      case in::kStdinDrained: {
        FuzzJob* job = launcher.pick(input.u8());
        if (job) job->stdinDrained(config.stdin_high_water);
        break;
      }
      case in::kWritten:
        host.written(input.u16());
        // As Connection does after each completed write.
        if (!ledger.close_requested && !ledger.peer_closed && host.queuedBytes() < config.write_low_water)
          session->onWriteQueueDrained();
        break;
      case in::kShutdown:
        session->shutdown();
        break;
      case in::kPeerClosed:
        if (!ledger.peer_closed) {
          ledger.peer_closed = true;
          session->onPeerClosed();
          RX_FUZZ_CHECK(session->jobCount() == 0);
          RX_FUZZ_CHECK(launcher.allDetached());
        }
        break;
    }
    RX_FUZZ_CHECK(session->jobCount() <= config.max_jobs_per_connection);
    RX_FUZZ_CHECK(launcher.liveJobs() <= config.max_jobs_per_connection);
    // Closing lets go of every job first, so none can report to a closed connection.
    if (ledger.close_requested) RX_FUZZ_CHECK(session->jobCount() == 0 && launcher.allDetached());
  }
  feed({});  // an AuthResponse still waiting for a kFeed

  session.reset();
  // A job still attached would report to a destroyed session.
  RX_FUZZ_CHECK(launcher.allDetached());
}

}  // namespace
}  // namespace rx

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  rx::fuzz::quietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rx::fuzz::InputReader input(data, size);
  rx::run(input);
  return 0;
}
