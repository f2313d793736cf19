// rx::Session driven over bytes with a fake host and a fake launcher: no sockets, no processes.
#include "daemon/session.h"

#include <stdlib.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/auth_proof.h"
#include "common/encoding.h"
#include "common/limits.h"
#include "common/log.h"
#include "tests/unit/scratch_dir.h"

namespace rx {
namespace {

using rxpb::v1::Frame;
using rxpb::v1::StartFailed;

// Collects what the session sends, decoded into frames, and what it asks of the connection.
class FakeHost : public SessionHost {
 public:
  void send(std::string_view bytes, std::string_view then) override {
    ASSERT_FALSE(closed) << "send after closeAfterFlush";
    bytes_sent += bytes.size() + then.size();
    decoder_.feed(bytes);
    decoder_.feed(then);
    Frame f;
    for (;;) {
      const auto r = decoder_.next(f);
      if (r == FrameDecoder::Result::NeedMore) break;
      ASSERT_EQ(r, FrameDecoder::Result::Frame) << "the session sent a bad frame: " << decoder_.error();
      frames.push_back(f);
    }
  }
  size_t queuedBytes() const override { return queued; }
  void setReading(bool on) override { reading.push_back(on); }
  void closeAfterFlush() override {
    closed = true;
    frames_before_close = frames.size();
  }
  void onAuthenticated() override {
    ++authenticated_calls;
    frames_at_auth_callback = frames.size();
  }
  void onAuthenticationFailed() override {
    ++failed_calls;
    frames_at_auth_callback = frames.size();
  }
  void onIdle() override { frames_at_idle.push_back(frames.size()); }

  std::vector<Frame> frames;
  size_t bytes_sent = 0;
  size_t queued = 0;  // what queuedBytes() reports
  std::vector<bool> reading;
  bool closed = false;
  size_t frames_before_close = 0;
  int authenticated_calls = 0;
  int failed_calls = 0;
  std::vector<size_t> frames_at_idle;  // frames sent when each onIdle() came
  size_t frames_at_auth_callback = 0;  // frames sent when either auth callback ran

 private:
  FrameDecoder decoder_{kMaxFramePostAuth};
};

class FakeJob : public JobHandle {
 public:
  FakeJob(uint32_t exec_id, int pid) : exec_id_(exec_id), pid_(pid) {}
  uint32_t execId() const override { return exec_id_; }
  int pid() const override { return pid_; }
  void signalGroup(int signo) override { signals.push_back(signo); }
  void terminate() override { ++terminated; }
  void writeStdin(std::string_view data) override {
    stdin_data += data;
    ++stdin_writes;
  }
  void closeStdin() override { stdin_closed = true; }
  size_t stdinQueued() const override { return stdin_queued; }
  void pauseOutput() override { paused = true; }
  void resumeOutput() override { paused = false; }
  void detach() override { detached = true; }
  void resizeTerminal(const TerminalSize& size) override { sizes.push_back(size); }

  std::vector<int> signals;
  std::vector<TerminalSize> sizes;
  int terminated = 0;
  std::string stdin_data;
  size_t stdin_writes = 0;
  bool stdin_closed = false;
  size_t stdin_queued = 0;
  bool paused = false;
  bool detached = false;

 private:
  uint32_t exec_id_;
  int pid_;
};

class FakeLauncher : public Launcher {
 public:
  JobHandle* start(const JobSpec& spec, JobObserver* observer, StartError& error) override {
    specs.push_back(spec);
    if (fail) {
      error = *fail;
      return nullptr;
    }
    observers.push_back(observer);
    jobs.push_back(std::make_unique<FakeJob>(spec.exec_id, 1000 + static_cast<int>(jobs.size())));
    return jobs.back().get();
  }
  size_t liveJobs() const override { return jobs.size(); }

  std::vector<JobSpec> specs;
  std::vector<JobObserver*> observers;
  std::vector<std::unique_ptr<FakeJob>> jobs;
  std::unique_ptr<StartError> fail;  // set: every start fails with this
};

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool hasEnvName(const std::vector<std::string>& env, const std::string& name) {
  return std::any_of(env.begin(), env.end(),
                     [&](const std::string& e) { return e.rfind(name + "=", 0) == 0; });
}

// What the daemon's authorized keys would hold for `key`.
AuthorizedKey authorizedFor(const ClientKey& key, int line) {
  AuthorizedKey ak;
  ak.type = key.type;
  ak.key_id = key.key_id;
  ak.material = key.type == KeyType::Ed25519 ? key.public_key : key.secret;
  ak.comment = key.comment;
  ak.line = line;
  return ak;
}

Frame execFrame(uint32_t exec_id, std::vector<std::string> argv, const std::string& cwd = "/tmp") {
  Frame f;
  auto* req = f.mutable_exec_request();
  req->set_exec_id(exec_id);
  for (auto& a : argv) req->add_argv(a);
  req->set_cwd(cwd);
  return f;
}

// An ExecRequest whose stdin is a pipe fed by StdinData (without it, StdinData is ignored).
Frame execWithStdin(uint32_t exec_id, std::vector<std::string> argv) {
  Frame f = execFrame(exec_id, std::move(argv));
  f.mutable_exec_request()->set_stdin_open(true);
  return f;
}

class SessionTest : public ::testing::Test {
 protected:
  SessionTest()
      : key_(generateKey(KeyType::HmacSha256, "unit test key")),
        ed_key_(generateKey(KeyType::Ed25519, "unit test ed25519 key")) {
    auto keys = std::make_shared<KeySet>();
    keys->keys.push_back(authorizedFor(key_, 1));
    keys->keys.push_back(authorizedFor(ed_key_, 2));
    config_.keys = keys;
    config_.user = "tester";
    config_.home = "/tmp";
    config_.shell = "/bin/sh";
    log::setMaxLevel(log::Level::Error);  // no audit lines in the test output
    session_ = std::make_unique<Session>(config_, launcher_, host_, "test-peer", binding_);
  }

  ~SessionTest() override {
    session_.reset();
    log::setMaxLevel(log::Level::Info);
  }

  // start() and return the server nonce from the challenge.
  std::string startAndGetNonce() {
    session_->start();
    EXPECT_EQ(host_.frames.size(), 1u);
    if (host_.frames.empty() || !host_.frames[0].has_auth_challenge()) return "";
    return host_.frames[0].auth_challenge().server_nonce();
  }

  // The ProofInput this session's client would use.
  ProofInput input(const std::string& server_nonce, const std::string& key_id) const {
    return ProofInput{server_nonce, client_nonce_, binding_, key_id};
  }

  // An AuthResponse claiming `key_id` and carrying `proof`.
  Frame authFrameWithProof(const std::string& key_id, const std::string& proof) {
    Frame f;
    auto* a = f.mutable_auth_response();
    a->set_protocol_version(kProtocolVersion);
    a->set_features(client_features_);
    a->set_key_id(key_id);
    a->set_client_nonce(client_nonce_);
    a->set_proof(proof);
    return f;
  }

  // An AuthResponse for `server_nonce`, with an HMAC proof made from `secret` under `role`, over
  // `binding` (this connection's by default).
  Frame authFrame(const std::string& server_nonce, const std::string& secret, const std::string& key_id,
                  ProofRole role = ProofRole::Client, const std::string* binding = nullptr) {
    return authFrameWithProof(
        key_id, computeProof(role, secret,
                             ProofInput{server_nonce, client_nonce_, binding ? *binding : binding_, key_id}));
  }

  Frame goodAuth(const std::string& server_nonce) {
    return authFrame(server_nonce, key_.secret, key_.key_id);
  }

  // An AuthResponse signed with the Ed25519 key, over `binding` (this connection's by default).
  Frame ed25519Auth(const std::string& server_nonce, const std::string* binding = nullptr) {
    return authFrameWithProof(
        ed_key_.key_id, clientProof(ed_key_, ProofInput{server_nonce, client_nonce_,
                                                        binding ? *binding : binding_, ed_key_.key_id}));
  }

  // Authenticates, sends `exec` in the same chunk, and returns the job the launcher made.
  FakeJob* authenticateAndExec(const Frame& exec) {
    const std::string nonce = startAndGetNonce();
    std::string chunk = encodeFrame(goodAuth(nonce));
    appendFrame(chunk, exec);
    session_->onBytes(chunk);
    EXPECT_TRUE(host_.frames.size() >= 2 && host_.frames[1].auth_result().ok());
    if (launcher_.jobs.empty()) return nullptr;
    return launcher_.jobs.back().get();
  }

  // Gives the HMAC key these options (as they would be read from the authorized keys file) and
  // starts over with a session whose client connects from `peer`.
  void restrictKey(const std::string& options, std::optional<IpAddress> peer = parseIpAddress("127.0.0.1")) {
    auto keys = std::make_shared<KeySet>(*config_.keys);
    const Status s = parseKeyOptions(options, keys->keys[0].options);
    ASSERT_TRUE(s) << s.message();
    config_.keys = keys;
    session_ = std::make_unique<Session>(config_, launcher_, host_, "test-peer", binding_, peer);
  }

  ClientKey key_;                          // HMAC
  ClientKey ed_key_;                       // Ed25519
  std::string binding_ = randomBytes(32);  // the TLS exporter of this connection
  std::string client_nonce_ = randomBytes(kNonceSize);
  // What the client asks for in its AuthResponse; several commands at once need FEATURE_MULTI_EXEC.
  uint64_t client_features_ = rxpb::v1::FEATURE_SHELL | rxpb::v1::FEATURE_SIGNALS;
  SessionConfig config_;
  FakeLauncher launcher_;
  FakeHost host_;
  std::unique_ptr<Session> session_;  // last: destroyed before the fakes it uses
};

TEST_F(SessionTest, StartSendsAnAuthChallenge) {
  session_->start();
  ASSERT_EQ(host_.frames.size(), 1u);
  ASSERT_TRUE(host_.frames[0].has_auth_challenge());
  const auto& c = host_.frames[0].auth_challenge();
  EXPECT_EQ(c.protocol_version(), 1u);
  EXPECT_EQ(c.server_nonce().size(), 32u);
  EXPECT_NE(c.features() & rxpb::v1::FEATURE_SHELL, 0u);
  EXPECT_NE(c.features() & rxpb::v1::FEATURE_SIGNALS, 0u);
  EXPECT_FALSE(host_.closed);
  EXPECT_FALSE(session_->authenticated());
}

TEST_F(SessionTest, ChallengeBeforeTheChannelBindingAuthenticatesOnlyOnceItIsGiven) {
  // The daemon starts the session in the 0.5-RTT window, before the TLS handshake is complete.
  session_ = std::make_unique<Session>(config_, launcher_, host_, "test-peer", std::string());
  const std::string nonce = startAndGetNonce();
  session_->onSecureChannel(binding_);
  std::string chunk = encodeFrame(goodAuth(nonce));
  appendFrame(chunk, execFrame(1, {"true"}));
  session_->onBytes(chunk);
  ASSERT_EQ(host_.frames.size(), 2u);
  EXPECT_TRUE(host_.frames[1].auth_result().ok());
  EXPECT_EQ(launcher_.specs.size(), 1u);
}

TEST_F(SessionTest, AuthBeforeTheChannelBindingIsRefusedAndRunsNothing) {
  session_ = std::make_unique<Session>(config_, launcher_, host_, "test-peer", std::string());
  const std::string nonce = startAndGetNonce();
  std::string chunk = encodeFrame(goodAuth(nonce));
  appendFrame(chunk, execFrame(1, {"true"}));
  session_->onBytes(chunk);
  ASSERT_EQ(host_.frames.size(), 2u);
  EXPECT_FALSE(host_.frames[1].auth_result().ok());
  EXPECT_TRUE(host_.closed);
  EXPECT_TRUE(launcher_.specs.empty());
}

TEST_F(SessionTest, EachSessionGetsAFreshNonce) {
  FakeHost other_host;
  Session other(config_, launcher_, other_host, "other-peer", randomBytes(32));
  other.start();
  const std::string nonce = startAndGetNonce();
  ASSERT_EQ(other_host.frames.size(), 1u);
  EXPECT_NE(other_host.frames[0].auth_challenge().server_nonce(), nonce);
}

TEST_F(SessionTest, AuthAndExecInOneChunkRunsTheCommand) {
  const std::string nonce = startAndGetNonce();
  Frame exec = execFrame(7, {"echo", "hello world"}, "/tmp");
  exec.mutable_exec_request()->set_stdin_open(true);
  exec.mutable_exec_request()->set_timeout_ms(2500);
  std::string chunk = encodeFrame(goodAuth(nonce));
  appendFrame(chunk, exec);
  session_->onBytes(chunk);

  ASSERT_EQ(host_.frames.size(), 2u);
  ASSERT_TRUE(host_.frames[1].has_auth_result());
  const auto& result = host_.frames[1].auth_result();
  EXPECT_TRUE(result.ok()) << result.message();
  EXPECT_TRUE(verifyProof(ProofRole::Server, key_.secret, input(nonce, key_.key_id), result.server_proof()));
  EXPECT_TRUE(checkServerProof(key_, input(nonce, key_.key_id), result.server_proof()));
  EXPECT_FALSE(host_.closed);
  EXPECT_TRUE(session_->authenticated());
  EXPECT_EQ(session_->keyId(), key_.key_id);

  ASSERT_EQ(launcher_.specs.size(), 1u);
  const JobSpec& spec = launcher_.specs[0];
  EXPECT_EQ(spec.exec_id, 7u);
  EXPECT_EQ(spec.argv, (std::vector<std::string>{"echo", "hello world"}));
  EXPECT_EQ(spec.cwd, "/tmp");
  EXPECT_TRUE(contains(spec.env, "HOME=/tmp"));
  EXPECT_TRUE(spec.stdin_open);
  EXPECT_EQ(spec.timeout_ms, 2500u);
  EXPECT_EQ(launcher_.observers[0], session_.get());
  EXPECT_EQ(session_->jobCount(), 1u);
}

TEST_F(SessionTest, AuthAndExecFedByteByByte) {
  const std::string nonce = startAndGetNonce();
  std::string chunk = encodeFrame(goodAuth(nonce));
  appendFrame(chunk, execFrame(1, {"true"}));
  for (char c : chunk) session_->onBytes(std::string_view(&c, 1));
  ASSERT_EQ(host_.frames.size(), 2u);
  EXPECT_TRUE(host_.frames[1].auth_result().ok());
  EXPECT_EQ(launcher_.specs.size(), 1u);
}

TEST_F(SessionTest, ServerProofIsNotTheClientProof) {
  const std::string nonce = startAndGetNonce();
  const Frame auth = goodAuth(nonce);
  session_->onBytes(encodeFrame(auth));
  ASSERT_EQ(host_.frames.size(), 2u);
  EXPECT_NE(host_.frames[1].auth_result().server_proof(), auth.auth_response().proof());
}

TEST_F(SessionTest, ExecBeforeAuthIsAProtocolError) {
  session_->start();
  session_->onBytes(encodeFrame(execFrame(1, {"id"})));
  ASSERT_EQ(host_.frames.size(), 2u);
  EXPECT_TRUE(host_.frames[1].has_error());
  EXPECT_TRUE(host_.closed);
  EXPECT_EQ(host_.frames_before_close, 2u);
  EXPECT_TRUE(launcher_.specs.empty());
  EXPECT_FALSE(session_->authenticated());
}

TEST_F(SessionTest, WrongKeyProofFailsAuthentication) {
  const std::string nonce = startAndGetNonce();
  const ClientKey other = generateKey(KeyType::HmacSha256, "other");
  // Claims our key id, but proves with another secret; an ExecRequest rides along.
  std::string chunk = encodeFrame(authFrame(nonce, other.secret, key_.key_id));
  appendFrame(chunk, execFrame(1, {"id"}));
  session_->onBytes(chunk);
  ASSERT_EQ(host_.frames.size(), 2u);
  ASSERT_TRUE(host_.frames[1].has_auth_result());
  EXPECT_FALSE(host_.frames[1].auth_result().ok());
  EXPECT_TRUE(host_.frames[1].auth_result().server_proof().empty());
  EXPECT_TRUE(host_.closed);
  EXPECT_TRUE(launcher_.specs.empty());
  EXPECT_FALSE(session_->authenticated());
}

TEST_F(SessionTest, ReflectedServerRoleProofFailsAuthentication) {
  const std::string nonce = startAndGetNonce();
  session_->onBytes(encodeFrame(authFrame(nonce, key_.secret, key_.key_id, ProofRole::Server)));
  ASSERT_EQ(host_.frames.size(), 2u);
  EXPECT_FALSE(host_.frames[1].auth_result().ok());
  EXPECT_TRUE(host_.closed);
  EXPECT_TRUE(launcher_.specs.empty());
}

TEST_F(SessionTest, ProofForAnotherNonceFailsAuthentication) {
  startAndGetNonce();
  session_->onBytes(encodeFrame(authFrame(std::string(kNonceSize, 'x'), key_.secret, key_.key_id)));
  ASSERT_EQ(host_.frames.size(), 2u);
  EXPECT_FALSE(host_.frames[1].auth_result().ok());
  EXPECT_TRUE(host_.closed);
}

TEST_F(SessionTest, UnknownKeyIdFailsAuthentication) {
  const std::string nonce = startAndGetNonce();
  const ClientKey stranger = generateKey(KeyType::HmacSha256, "stranger");
  std::string chunk = encodeFrame(authFrame(nonce, stranger.secret, stranger.key_id));
  appendFrame(chunk, execFrame(1, {"id"}));
  session_->onBytes(chunk);
  ASSERT_EQ(host_.frames.size(), 2u);
  ASSERT_TRUE(host_.frames[1].has_auth_result());
  EXPECT_FALSE(host_.frames[1].auth_result().ok());
  EXPECT_TRUE(host_.closed);
  EXPECT_TRUE(launcher_.specs.empty());
}

TEST_F(SessionTest, WrongProtocolVersionFailsAuthentication) {
  const std::string nonce = startAndGetNonce();
  Frame auth = goodAuth(nonce);
  auth.mutable_auth_response()->set_protocol_version(2);
  session_->onBytes(encodeFrame(auth));
  ASSERT_EQ(host_.frames.size(), 2u);
  EXPECT_FALSE(host_.frames[1].auth_result().ok());
  EXPECT_TRUE(host_.closed);
}

TEST_F(SessionTest, ShortClientNonceFailsAuthentication) {
  const std::string nonce = startAndGetNonce();
  client_nonce_ = "short";
  session_->onBytes(encodeFrame(goodAuth(nonce)));
  ASSERT_EQ(host_.frames.size(), 2u);
  EXPECT_FALSE(host_.frames[1].auth_result().ok());
  EXPECT_TRUE(host_.closed);
}

TEST_F(SessionTest, NothingIsReadAfterClosing) {
  session_->start();
  session_->onBytes(encodeFrame(execFrame(1, {"id"})));
  ASSERT_TRUE(host_.closed);
  const size_t sent = host_.bytes_sent;
  session_->onBytes(encodeFrame(goodAuth(host_.frames[0].auth_challenge().server_nonce())));
  EXPECT_EQ(host_.bytes_sent, sent);
  EXPECT_FALSE(session_->authenticated());
}

TEST_F(SessionTest, HugeLengthPrefixBeforeAuthIsAnError) {
  session_->start();
  session_->onBytes(std::string("\xff\xff\xff\xff\x0f", 5));
  ASSERT_EQ(host_.frames.size(), 2u);
  EXPECT_TRUE(host_.frames[1].has_error());
  EXPECT_TRUE(host_.closed);
  EXPECT_TRUE(launcher_.specs.empty());
}

TEST_F(SessionTest, FrameOverThePreAuthLimitIsAnError) {
  const std::string nonce = startAndGetNonce();
  Frame auth = goodAuth(nonce);
  auth.mutable_auth_response()->set_key_id(std::string(kMaxFramePreAuth, 'k'));
  session_->onBytes(encodeFrame(auth));
  ASSERT_EQ(host_.frames.size(), 2u);
  EXPECT_TRUE(host_.frames[1].has_error());
  EXPECT_TRUE(host_.closed);
}

TEST_F(SessionTest, LargerFramesAreAcceptedAfterAuth) {
  FakeJob* job = authenticateAndExec(execWithStdin(1, {"cat"}));
  ASSERT_NE(job, nullptr);
  Frame data;
  data.mutable_stdin_data()->set_exec_id(1);
  data.mutable_stdin_data()->set_data(std::string(kMaxFramePreAuth * 8, 'd'));
  session_->onBytes(encodeFrame(data));
  EXPECT_FALSE(host_.closed);
  EXPECT_EQ(job->stdin_data.size(), kMaxFramePreAuth * 8);
}

TEST_F(SessionTest, JobOutputAndResultReachTheClientInOrder) {
  FakeJob* job = authenticateAndExec(execFrame(3, {"sh", "-c", "echo out; echo err >&2; exit 5"}));
  ASSERT_NE(job, nullptr);
  host_.frames.clear();
  JobObserver* observer = launcher_.observers[0];
  observer->onJobOutput(*job, rxpb::v1::STREAM_STDOUT, "out\n");
  observer->onJobOutput(*job, rxpb::v1::STREAM_STDERR, "err\n");
  observer->onJobOutput(*job, rxpb::v1::STREAM_STDOUT, std::string("\0bin", 4));
  rxpb::v1::ExecResult result;
  result.set_exec_id(3);
  result.set_exit_code(5);
  result.set_stdout_bytes(8);
  result.set_stderr_bytes(4);
  observer->onJobFinished(*job, result);

  ASSERT_EQ(host_.frames.size(), 4u);
  ASSERT_TRUE(host_.frames[0].has_output());
  EXPECT_EQ(host_.frames[0].output().exec_id(), 3u);
  EXPECT_EQ(host_.frames[0].output().stream(), rxpb::v1::STREAM_STDOUT);
  EXPECT_EQ(host_.frames[0].output().data(), "out\n");
  ASSERT_TRUE(host_.frames[1].has_output());
  EXPECT_EQ(host_.frames[1].output().stream(), rxpb::v1::STREAM_STDERR);
  EXPECT_EQ(host_.frames[1].output().data(), "err\n");
  ASSERT_TRUE(host_.frames[2].has_output());
  EXPECT_EQ(host_.frames[2].output().data(), std::string("\0bin", 4));
  ASSERT_TRUE(host_.frames[3].has_exec_result());
  EXPECT_EQ(host_.frames[3].exec_result().exec_id(), 3u);
  EXPECT_EQ(host_.frames[3].exec_result().exit_code(), 5);
  EXPECT_EQ(host_.frames[3].exec_result().stdout_bytes(), 8u);
  EXPECT_EQ(host_.frames[3].exec_result().stderr_bytes(), 4u);
  EXPECT_EQ(session_->jobCount(), 0u);
  EXPECT_FALSE(host_.closed);
}

TEST_F(SessionTest, AReadLargerThanAFrameGoesOutAsSeveralFramesInOrder) {
  FakeJob* job = authenticateAndExec(execFrame(3, {"cat", "big"}));
  ASSERT_NE(job, nullptr);
  host_.frames.clear();
  // What daemon/job.cc may read at once (1 MiB) and one byte more: no frame may exceed the
  // post-authentication limit, so the data is cut at kMaxChunk, its bytes kept in order.
  std::string data(2 * kMaxChunk + 1, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + i / 4096);
  launcher_.observers[0]->onJobOutput(*job, rxpb::v1::STREAM_STDOUT, data);

  ASSERT_EQ(host_.frames.size(), 3u);
  std::string joined;
  for (const Frame& f : host_.frames) {
    ASSERT_TRUE(f.has_output());
    EXPECT_EQ(f.output().exec_id(), 3u);
    EXPECT_EQ(f.output().stream(), rxpb::v1::STREAM_STDOUT);
    EXPECT_LE(f.ByteSizeLong(), kMaxFramePostAuth);
    joined += f.output().data();
  }
  EXPECT_EQ(host_.frames[0].output().data().size(), kMaxChunk);
  EXPECT_EQ(host_.frames[1].output().data().size(), kMaxChunk);
  EXPECT_EQ(host_.frames[2].output().data().size(), 1u);
  EXPECT_EQ(joined, data);
  EXPECT_FALSE(host_.closed);
}

TEST_F(SessionTest, TheHostHearsTheSessionIsIdleOnlyOnceTheLastResultIsSent) {
  client_features_ |= rxpb::v1::FEATURE_MULTI_EXEC;  // two commands at once
  FakeJob* first = authenticateAndExec(execFrame(3, {"true"}));
  ASSERT_NE(first, nullptr);
  session_->onBytes(encodeFrame(execFrame(4, {"true"})));
  ASSERT_EQ(launcher_.observers.size(), 2u);
  FakeJob* second = launcher_.jobs[1].get();
  host_.frames.clear();
  host_.frames_at_idle.clear();
  JobObserver* observer = launcher_.observers[0];
  // Output while commands run, and the end of one of two: the buffers are still in use.
  observer->onJobOutput(*first, rxpb::v1::STREAM_STDOUT, std::string(512 * 1024, 'x'));
  rxpb::v1::ExecResult result;
  result.set_exec_id(3);
  result.set_exit_code(0);
  result.set_stdout_bytes(512 * 1024);
  observer->onJobFinished(*first, result);
  EXPECT_TRUE(host_.frames_at_idle.empty());
  // The last one ends: idle, after its result went out.
  result.set_exec_id(4);
  result.set_stdout_bytes(0);
  launcher_.observers[1]->onJobFinished(*second, result);
  ASSERT_EQ(host_.frames.size(), 3u);
  ASSERT_TRUE(host_.frames[2].has_exec_result());
  EXPECT_EQ(host_.frames_at_idle, std::vector<size_t>{3});
}

TEST_F(SessionTest, ShellModeRunsBinShDashC) {
  Frame exec = execFrame(1, {"echo a | wc -c"});
  exec.mutable_exec_request()->set_shell(true);
  ASSERT_NE(authenticateAndExec(exec), nullptr);
  ASSERT_EQ(launcher_.specs.size(), 1u);
  EXPECT_EQ(launcher_.specs[0].argv, (std::vector<std::string>{"/bin/sh", "-c", "echo a | wc -c"}));
}

TEST_F(SessionTest, ShellModeWithTwoWordsIsRefused) {
  Frame exec = execFrame(1, {"echo", "a"});
  exec.mutable_exec_request()->set_shell(true);
  authenticateAndExec(exec);
  EXPECT_TRUE(launcher_.specs.empty());
  ASSERT_EQ(host_.frames.size(), 3u);
  ASSERT_TRUE(host_.frames[2].has_exec_result());
  EXPECT_EQ(host_.frames[2].exec_result().start_failed().reason(), StartFailed::REFUSED);
}

TEST_F(SessionTest, EmptyArgvIsRefused) {
  authenticateAndExec(execFrame(1, {}));
  EXPECT_TRUE(launcher_.specs.empty());
  ASSERT_EQ(host_.frames.size(), 3u);
  EXPECT_EQ(host_.frames[2].exec_result().start_failed().reason(), StartFailed::REFUSED);
  EXPECT_FALSE(host_.closed);
}

TEST_F(SessionTest, EnvironmentIsAllowListedAndBaseComesFromTheConfig) {
  Frame exec = execFrame(1, {"env"});
  auto add = [&](const char* name, const char* value) {
    auto* e = exec.mutable_exec_request()->add_env();
    e->set_name(name);
    e->set_value(value);
  };
  add("LD_PRELOAD", "/tmp/evil.so");
  add("LANG", "fr_FR.UTF-8");
  add("LC_ALL", "C");
  add("PATH", "/tmp/evil");
  add("HOME", "/root");
  add("USER", "root");
  ASSERT_NE(authenticateAndExec(exec), nullptr);
  ASSERT_EQ(launcher_.specs.size(), 1u);
  const auto& env = launcher_.specs[0].env;
  EXPECT_FALSE(hasEnvName(env, "LD_PRELOAD"));
  EXPECT_TRUE(contains(env, "LANG=fr_FR.UTF-8"));
  EXPECT_TRUE(contains(env, "LC_ALL=C"));
  EXPECT_TRUE(contains(env, "PATH=/usr/local/bin:/usr/bin:/bin"));
  EXPECT_TRUE(contains(env, "HOME=/tmp"));
  EXPECT_TRUE(contains(env, "USER=tester"));
  EXPECT_TRUE(contains(env, "LOGNAME=tester"));
  EXPECT_TRUE(contains(env, "SHELL=/bin/sh"));
  EXPECT_EQ(
      std::count_if(env.begin(), env.end(), [](const std::string& e) { return e.rfind("PATH=", 0) == 0; }),
      1);
}

TEST_F(SessionTest, InvalidEnvironmentNameIsRefused) {
  Frame exec = execFrame(1, {"env"});
  auto* e = exec.mutable_exec_request()->add_env();
  e->set_name("BAD=NAME");
  e->set_value("x");
  authenticateAndExec(exec);
  EXPECT_TRUE(launcher_.specs.empty());
  ASSERT_EQ(host_.frames.size(), 3u);
  EXPECT_EQ(host_.frames[2].exec_result().start_failed().reason(), StartFailed::REFUSED);
}

TEST_F(SessionTest, EmptyCwdMeansTheHomeDirectory) {
  ASSERT_NE(authenticateAndExec(execFrame(1, {"pwd"}, "")), nullptr);
  EXPECT_EQ(launcher_.specs[0].cwd, "/tmp");
}

TEST_F(SessionTest, NonexistentCwdIsBadCwdWithoutALaunch) {
  authenticateAndExec(execFrame(4, {"pwd"}, "/nonexistent/rexec-unit-test"));
  EXPECT_TRUE(launcher_.specs.empty());
  ASSERT_EQ(host_.frames.size(), 3u);
  ASSERT_TRUE(host_.frames[2].has_exec_result());
  const auto& r = host_.frames[2].exec_result();
  EXPECT_EQ(r.exec_id(), 4u);
  ASSERT_TRUE(r.has_start_failed());
  EXPECT_EQ(r.start_failed().reason(), StartFailed::BAD_CWD);
  EXPECT_FALSE(host_.closed);
  EXPECT_EQ(session_->jobCount(), 0u);
}

TEST_F(SessionTest, CwdThatIsAFileIsBadCwd) {
  authenticateAndExec(execFrame(1, {"pwd"}, "/bin/sh"));
  EXPECT_TRUE(launcher_.specs.empty());
  ASSERT_EQ(host_.frames.size(), 3u);
  EXPECT_EQ(host_.frames[2].exec_result().start_failed().reason(), StartFailed::BAD_CWD);
}

TEST_F(SessionTest, LauncherFailureBecomesStartFailed) {
  launcher_.fail = std::make_unique<StartError>(StartError{StartFailed::NOT_FOUND, "nosuch: not found"});
  authenticateAndExec(execFrame(2, {"nosuch"}));
  ASSERT_EQ(launcher_.specs.size(), 1u);
  ASSERT_EQ(host_.frames.size(), 3u);
  const auto& r = host_.frames[2].exec_result();
  EXPECT_EQ(r.exec_id(), 2u);
  EXPECT_EQ(r.start_failed().reason(), StartFailed::NOT_FOUND);
  EXPECT_EQ(r.start_failed().message(), "nosuch: not found");
  EXPECT_EQ(session_->jobCount(), 0u);
}

TEST_F(SessionTest, DuplicateExecIdIsAProtocolErrorThatKillsTheJobs) {
  FakeJob* job = authenticateAndExec(execFrame(1, {"sleep", "100"}));
  ASSERT_NE(job, nullptr);
  session_->onBytes(encodeFrame(execFrame(1, {"id"})));
  EXPECT_EQ(launcher_.specs.size(), 1u);
  EXPECT_TRUE(host_.frames.back().has_error());
  EXPECT_TRUE(host_.closed);
  EXPECT_TRUE(job->detached);
  EXPECT_EQ(job->terminated, 1);
}

TEST_F(SessionTest, ExecIdZeroIsAProtocolError) {
  authenticateAndExec(execFrame(0, {"id"}));
  EXPECT_TRUE(launcher_.specs.empty());
  EXPECT_TRUE(host_.frames.back().has_error());
  EXPECT_TRUE(host_.closed);
}

TEST_F(SessionTest, SignalFrameReachesTheJobsProcessGroup) {
  FakeJob* job = authenticateAndExec(execFrame(1, {"sleep", "100"}));
  ASSERT_NE(job, nullptr);
  Frame sig;
  sig.mutable_signal()->set_exec_id(1);
  sig.mutable_signal()->set_name("INT");
  session_->onBytes(encodeFrame(sig));
  EXPECT_EQ(job->signals, (std::vector<int>{SIGINT}));
  EXPECT_FALSE(host_.closed);
}

TEST_F(SessionTest, SignalForAnUnknownExecIdIsIgnored) {
  FakeJob* job = authenticateAndExec(execFrame(1, {"sleep", "100"}));
  ASSERT_NE(job, nullptr);
  Frame sig;
  sig.mutable_signal()->set_exec_id(2);
  sig.mutable_signal()->set_name("TERM");
  session_->onBytes(encodeFrame(sig));
  EXPECT_TRUE(job->signals.empty());
  EXPECT_FALSE(host_.closed);
}

TEST_F(SessionTest, UnknownSignalNameIsAProtocolError) {
  FakeJob* job = authenticateAndExec(execFrame(1, {"sleep", "100"}));
  ASSERT_NE(job, nullptr);
  Frame sig;
  sig.mutable_signal()->set_exec_id(1);
  sig.mutable_signal()->set_name("NOPE");
  session_->onBytes(encodeFrame(sig));
  EXPECT_TRUE(job->signals.empty());
  EXPECT_TRUE(host_.frames.back().has_error());
  EXPECT_TRUE(host_.closed);
}

TEST_F(SessionTest, StdinDataAndCloseReachTheJob) {
  FakeJob* job = authenticateAndExec(execWithStdin(1, {"cat"}));
  ASSERT_NE(job, nullptr);
  Frame data;
  data.mutable_stdin_data()->set_exec_id(1);
  data.mutable_stdin_data()->set_data("abc");
  Frame close;
  close.mutable_stdin_close()->set_exec_id(1);
  std::string chunk = encodeFrame(data);
  data.mutable_stdin_data()->set_data("def");
  appendFrame(chunk, data);
  appendFrame(chunk, close);
  session_->onBytes(chunk);
  EXPECT_EQ(job->stdin_data, "abcdef");
  EXPECT_TRUE(job->stdin_closed);
}

Frame stdinFrame(uint32_t exec_id, std::string data) {
  Frame f;
  f.mutable_stdin_data()->set_exec_id(exec_id);
  f.mutable_stdin_data()->set_data(std::move(data));
  return f;
}

// A frame's data that reads cut reaches the job as each read brings it (one write per read, none
// held back for the rest of the frame), and the frame after it follows.
TEST_F(SessionTest, StdinDataCutByReadsReachesTheJobAsItArrives) {
  FakeJob* job = authenticateAndExec(execWithStdin(1, {"cat"}));
  ASSERT_NE(job, nullptr);
  const std::string data(300000, 'x');
  const std::string first = encodeFrame(stdinFrame(1, data));
  const size_t header = first.size() - data.size();  // the frame's bytes before its data
  const std::string chunk = first + encodeFrame(stdinFrame(1, "yz"));
  const size_t third = chunk.size() / 3;
  session_->onBytes(std::string_view(chunk).substr(0, third));
  EXPECT_EQ(job->stdin_data, data.substr(0, third - header));
  EXPECT_EQ(job->stdin_writes, 1u);
  session_->onBytes(std::string_view(chunk).substr(third, third));
  EXPECT_EQ(job->stdin_data, data.substr(0, 2 * third - header));
  EXPECT_EQ(job->stdin_writes, 2u);
  session_->onBytes(std::string_view(chunk).substr(2 * third));
  EXPECT_EQ(job->stdin_data, data + "yz");
  EXPECT_EQ(job->stdin_writes, 4u);
  EXPECT_FALSE(host_.closed);
}

TEST_F(SessionTest, StdinFramesCutAtEveryByteArriveCompleteAndInOrder) {
  FakeJob* job = authenticateAndExec(execWithStdin(1, {"cat"}));
  ASSERT_NE(job, nullptr);
  // Two StdinData frames (one with a two-byte data length) around a Signal frame, the stream
  // cut in two at every position in turn, then fed a byte at a time.
  Frame sig;
  sig.mutable_signal()->set_exec_id(1);
  sig.mutable_signal()->set_name("INT");
  std::string chunk = encodeFrame(stdinFrame(1, "first"));
  appendFrame(chunk, sig);
  appendFrame(chunk, stdinFrame(1, std::string(200, 's')));
  const std::string once = "first" + std::string(200, 's');
  std::string expected;
  size_t rounds = 0;
  for (size_t cut = 0; cut <= chunk.size(); ++cut, ++rounds) {
    session_->onBytes(std::string_view(chunk).substr(0, cut));
    session_->onBytes(std::string_view(chunk).substr(cut));
    expected += once;
    ASSERT_EQ(job->stdin_data, expected) << "cut at " << cut;
  }
  for (char c : chunk) session_->onBytes(std::string_view(&c, 1));
  expected += once;
  ++rounds;
  EXPECT_EQ(job->stdin_data, expected);
  EXPECT_EQ(job->signals.size(), rounds);
  EXPECT_FALSE(host_.closed);
}

TEST_F(SessionTest, StdinDataInAnotherFieldOrderStillReachesTheJob) {
  FakeJob* job = authenticateAndExec(execWithStdin(1, {"cat"}));
  ASSERT_NE(job, nullptr);
  // StdinData { data = "abc"; exec_id = 1 }: valid protobuf, but not the shape that is streamed,
  // so it goes through the parser whole.
  const std::string inner = std::string("\x12\x03") + "abc" + std::string("\x08\x01");
  const std::string payload = std::string("\x2a") + static_cast<char>(inner.size()) + inner;
  const std::string chunk = static_cast<char>(payload.size()) + payload;
  Frame parsed;
  ASSERT_TRUE(parsed.ParseFromString(payload));
  ASSERT_TRUE(parsed.has_stdin_data());
  session_->onBytes(chunk);
  EXPECT_EQ(job->stdin_data, "abc");
  EXPECT_FALSE(host_.closed);
}

TEST_F(SessionTest, StreamedStdinForAnUnknownOrClosedJobIsDroppedAndTheNextFrameStillRead) {
  FakeJob* job = authenticateAndExec(execFrame(1, {"true"}));  // stdin is /dev/null
  ASSERT_NE(job, nullptr);
  std::string chunk = encodeFrame(stdinFrame(7, std::string(1000, 'u')));
  appendFrame(chunk, stdinFrame(1, std::string(1000, 'n')));
  Frame sig;
  sig.mutable_signal()->set_exec_id(1);
  sig.mutable_signal()->set_name("TERM");
  appendFrame(chunk, sig);
  session_->onBytes(chunk);
  EXPECT_EQ(job->stdin_data, "");
  EXPECT_EQ(job->signals, (std::vector<int>{SIGTERM}));
  EXPECT_FALSE(host_.closed);
}

TEST_F(SessionTest, StdinFrameOverTheLimitIsAnErrorAndNothingOfItIsPassedOn) {
  FakeJob* job = authenticateAndExec(execWithStdin(1, {"cat"}));
  ASSERT_NE(job, nullptr);
  const std::string chunk = encodeFrame(stdinFrame(1, std::string(kMaxFramePostAuth, 'o')));
  session_->onBytes(std::string_view(chunk).substr(0, 100000));
  EXPECT_EQ(job->stdin_data, "");
  EXPECT_TRUE(host_.closed);
  ASSERT_FALSE(host_.frames.empty());
  EXPECT_TRUE(host_.frames.back().has_error());
}

TEST_F(SessionTest, StdinDataBeforeAuthIsAProtocolError) {
  session_->start();
  session_->onBytes(encodeFrame(stdinFrame(1, "early")));
  EXPECT_TRUE(host_.closed);
  EXPECT_TRUE(launcher_.specs.empty());
}

TEST_F(SessionTest, FullStdinQueueStopsReadingUntilDrained) {
  FakeJob* job = authenticateAndExec(execWithStdin(1, {"cat"}));
  ASSERT_NE(job, nullptr);
  job->stdin_queued = config_.stdin_high_water;
  Frame data;
  data.mutable_stdin_data()->set_exec_id(1);
  data.mutable_stdin_data()->set_data("x");
  session_->onBytes(encodeFrame(data));
  ASSERT_FALSE(host_.reading.empty());
  EXPECT_FALSE(host_.reading.back());
  job->stdin_queued = 0;
  launcher_.observers[0]->onJobStdinDrained(*job);
  EXPECT_TRUE(host_.reading.back());
}

TEST_F(SessionTest, FullWriteQueuePausesOutputUntilDrained) {
  FakeJob* job = authenticateAndExec(execFrame(1, {"yes"}));
  ASSERT_NE(job, nullptr);
  host_.queued = config_.write_high_water + 1;
  launcher_.observers[0]->onJobOutput(*job, rxpb::v1::STREAM_STDOUT, "y\n");
  EXPECT_TRUE(job->paused);
  host_.queued = 0;
  session_->onWriteQueueDrained();
  EXPECT_FALSE(job->paused);
}

Frame outputAck(uint32_t exec_id, uint64_t bytes) {
  Frame f;
  f.mutable_output_ack()->set_exec_id(exec_id);
  f.mutable_output_ack()->set_bytes(bytes);
  return f;
}

TEST_F(SessionTest, WithOutputCreditACommandPausesAtAFullWindowUntilAcknowledged) {
  client_features_ |= rxpb::v1::FEATURE_CREDIT | rxpb::v1::FEATURE_MULTI_EXEC;
  FakeJob* job = authenticateAndExec(execFrame(1, {"yes"}));
  ASSERT_NE(job, nullptr);
  Frame second = execFrame(2, {"true"});
  session_->onBytes(encodeFrame(second));
  ASSERT_EQ(launcher_.jobs.size(), 2u);
  FakeJob* other = launcher_.jobs.back().get();
  const std::string chunk(kMaxChunk, 'y');  // rexecd's largest Output
  const size_t chunks = kOutputWindow / kMaxChunk;
  for (size_t i = 0; i + 1 < chunks; ++i)
    launcher_.observers[0]->onJobOutput(*job, rxpb::v1::STREAM_STDOUT, chunk);
  EXPECT_FALSE(job->paused) << "one chunk short of the window";
  launcher_.observers[0]->onJobOutput(*job, rxpb::v1::STREAM_STDERR, chunk);
  EXPECT_TRUE(job->paused) << "stdout and stderr count together: the window is full";
  EXPECT_FALSE(other->paused) << "the other command is not held up";
  session_->onBytes(encodeFrame(outputAck(1, 1)));
  EXPECT_FALSE(job->paused) << "below the window again";
  // The connection's own back-pressure and the window: paused while either holds.
  launcher_.observers[0]->onJobOutput(*job, rxpb::v1::STREAM_STDOUT, "yy");
  EXPECT_TRUE(job->paused);
  host_.queued = config_.write_high_water + 1;
  launcher_.observers[0]->onJobOutput(*other, rxpb::v1::STREAM_STDOUT, "x");
  EXPECT_TRUE(other->paused);
  host_.queued = 0;
  session_->onWriteQueueDrained();
  EXPECT_FALSE(other->paused);
  EXPECT_TRUE(job->paused) << "its window is still full";
  session_->onBytes(encodeFrame(outputAck(1, kOutputWindow)));
  EXPECT_FALSE(job->paused);
  // An acknowledgement for a command that has ended is no error: the client could not know.
  launcher_.observers[0]->onJobFinished(*other, rxpb::v1::ExecResult{});
  session_->onBytes(encodeFrame(outputAck(2, 1)));
  EXPECT_FALSE(host_.closed);
}

TEST_F(SessionTest, WithCreditStdinIsAcknowledgedAsTheJobTakesItAndTheConnectionIsAlwaysRead) {
  client_features_ |= rxpb::v1::FEATURE_CREDIT;
  FakeJob* job = authenticateAndExec(execWithStdin(1, {"cat"}));
  ASSERT_NE(job, nullptr);
  // A full stdin queue no longer stops reading the connection: acknowledgements and the other
  // commands' frames travel on it.
  job->stdin_queued = config_.stdin_high_water;
  session_->onBytes(encodeFrame(stdinFrame(1, std::string(100, 'a'))));
  EXPECT_TRUE(host_.reading.empty() || host_.reading.back());
  EXPECT_EQ(job->stdin_data.size(), 100u);
  const size_t frames = host_.frames.size();
  // Taken in small parts while more is queued: acknowledged in steps, not part by part.
  launcher_.observers[0]->onJobStdinWritten(*job, 60);
  EXPECT_EQ(host_.frames.size(), frames);
  // Everything taken: acknowledged at once, however little.
  job->stdin_queued = 0;
  launcher_.observers[0]->onJobStdinWritten(*job, 40);
  ASSERT_EQ(host_.frames.size(), frames + 1);
  ASSERT_TRUE(host_.frames.back().has_stdin_ack());
  EXPECT_EQ(host_.frames.back().stdin_ack().exec_id(), 1u);
  EXPECT_EQ(host_.frames.back().stdin_ack().bytes(), 100u);
  // A whole window outstanding is allowed; one byte more is fatal.
  job->stdin_queued = 1;
  const std::string chunk(kMaxChunk, 's');
  for (size_t i = 0; i < kStdinWindow / kMaxChunk; ++i) session_->onBytes(encodeFrame(stdinFrame(1, chunk)));
  EXPECT_FALSE(host_.closed);
  session_->onBytes(encodeFrame(stdinFrame(1, "x")));
  ASSERT_TRUE(host_.frames.back().has_error());
  EXPECT_EQ(host_.frames.back().error().message(),
            "exec 1: " + std::to_string(kStdinWindow + 1) +
                " bytes of stdin unacknowledged, more than the window of " + std::to_string(kStdinWindow));
  EXPECT_TRUE(host_.closed);
}

TEST_F(SessionTest, WithCreditStdinForACommandWithoutStdinIsAcknowledgedAsDropped) {
  client_features_ |= rxpb::v1::FEATURE_CREDIT;
  FakeJob* job = authenticateAndExec(execFrame(1, {"true"}));  // stdin_open false
  ASSERT_NE(job, nullptr);
  session_->onBytes(encodeFrame(stdinFrame(1, "ignored")));
  EXPECT_TRUE(job->stdin_data.empty());
  ASSERT_TRUE(host_.frames.back().has_stdin_ack());
  EXPECT_EQ(host_.frames.back().stdin_ack().bytes(), 7u);
}

TEST_F(SessionTest, AcknowledgingMoreThanWasSentIsAProtocolError) {
  client_features_ |= rxpb::v1::FEATURE_CREDIT;
  FakeJob* job = authenticateAndExec(execFrame(1, {"yes"}));
  ASSERT_NE(job, nullptr);
  launcher_.observers[0]->onJobOutput(*job, rxpb::v1::STREAM_STDOUT, "12345");
  session_->onBytes(encodeFrame(outputAck(1, 6)));
  ASSERT_TRUE(host_.frames.back().has_error());
  EXPECT_EQ(host_.frames.back().error().message(), "exec 1: 6 bytes acknowledged, 5 sent");
  EXPECT_TRUE(host_.closed);
}

TEST_F(SessionTest, AcknowledgingWithoutTheFeatureIsAProtocolErrorAndNoWindowApplies) {
  FakeJob* job = authenticateAndExec(execFrame(1, {"yes"}));
  ASSERT_NE(job, nullptr);
  const std::string chunk(kMaxChunk, 'y');
  for (size_t i = 0; i < 2 * kOutputWindow / kMaxChunk; ++i)
    launcher_.observers[0]->onJobOutput(*job, rxpb::v1::STREAM_STDOUT, chunk);
  EXPECT_FALSE(job->paused) << "without the feature the connection's back-pressure alone applies";
  session_->onBytes(encodeFrame(outputAck(1, 1)));
  ASSERT_TRUE(host_.frames.back().has_error());
  EXPECT_EQ(host_.frames.back().error().message(), "output acknowledged without the credit feature");
  EXPECT_TRUE(host_.closed);
}

TEST_F(SessionTest, PeerClosedTerminatesAndDetachesRunningJobs) {
  client_features_ |= rxpb::v1::FEATURE_MULTI_EXEC;  // two commands at once
  FakeJob* job = authenticateAndExec(execFrame(1, {"sleep", "100"}));
  ASSERT_NE(job, nullptr);
  session_->onBytes(encodeFrame(execFrame(2, {"sleep", "200"})));
  ASSERT_EQ(launcher_.jobs.size(), 2u);
  session_->onPeerClosed();
  for (const auto& j : launcher_.jobs) {
    EXPECT_TRUE(j->detached) << j->execId();
    EXPECT_EQ(j->terminated, 1) << j->execId();
  }
  EXPECT_EQ(session_->jobCount(), 0u);
}

TEST_F(SessionTest, AbortTerminatesAndDetachesJobsAndSendsNothingMore) {
  FakeJob* job = authenticateAndExec(execFrame(1, {"sleep", "100"}));
  ASSERT_NE(job, nullptr);
  const size_t frames = host_.frames.size();
  session_->abort("client stopped reading");
  EXPECT_TRUE(job->detached);
  EXPECT_EQ(job->terminated, 1);
  EXPECT_EQ(session_->jobCount(), 0u);
  session_->onBytes(encodeFrame(execFrame(2, {"id"})));
  EXPECT_EQ(launcher_.specs.size(), 1u) << "nothing is read after an abort";
  EXPECT_EQ(host_.frames.size(), frames);
}

TEST_F(SessionTest, ALostJobEndsTheSessionWithAnErrorAndNoResult) {
  // The daemon cannot know its outcome (its spawn helper died): the client hears why, the other
  // command is terminated, and no ExecResult is made up for either.
  client_features_ |= rxpb::v1::FEATURE_MULTI_EXEC;  // two commands at once
  FakeJob* lost = authenticateAndExec(execFrame(1, {"sleep", "100"}));
  ASSERT_NE(lost, nullptr);
  session_->onBytes(encodeFrame(execFrame(2, {"sleep", "200"})));
  ASSERT_EQ(launcher_.jobs.size(), 2u);
  FakeJob* other = launcher_.jobs[1].get();
  host_.frames.clear();
  launcher_.observers[0]->onJobLost(*lost, "the daemon lost track of command 1");
  ASSERT_EQ(host_.frames.size(), 1u);
  ASSERT_TRUE(host_.frames[0].has_error());
  EXPECT_EQ(host_.frames[0].error().message(), "the daemon lost track of command 1");
  EXPECT_TRUE(other->detached);
  EXPECT_EQ(other->terminated, 1);
  EXPECT_EQ(session_->jobCount(), 0u);
  EXPECT_TRUE(host_.closed);
  EXPECT_EQ(host_.frames_before_close, 1u) << "the Error went out before the close";
}

TEST_F(SessionTest, HostHearsOfSuccessfulAuthenticationBeforeTheAnswer) {
  const std::string nonce = startAndGetNonce();
  session_->onBytes(encodeFrame(goodAuth(nonce)));
  EXPECT_EQ(host_.authenticated_calls, 1);
  EXPECT_EQ(host_.failed_calls, 0);
  EXPECT_EQ(host_.frames_at_auth_callback, 1u) << "only the challenge had been sent";
  ASSERT_EQ(host_.frames.size(), 2u);
  EXPECT_TRUE(host_.frames[1].auth_result().ok());
}

TEST_F(SessionTest, HostHearsOfFailedAuthenticationBeforeTheAnswer) {
  // The daemon penalizes the source there: in force before the client learns it failed.
  const std::string nonce = startAndGetNonce();
  session_->onBytes(encodeFrame(authFrame(nonce, std::string(32, 'x'), key_.key_id)));
  EXPECT_EQ(host_.failed_calls, 1);
  EXPECT_EQ(host_.authenticated_calls, 0);
  EXPECT_EQ(host_.frames_at_auth_callback, 1u) << "only the challenge had been sent";
  ASSERT_EQ(host_.frames.size(), 2u);
  EXPECT_FALSE(host_.frames[1].auth_result().ok());
}

TEST_F(SessionTest, ProtocolErrorBeforeAuthIsNotAnAuthenticationFailure) {
  startAndGetNonce();
  session_->onBytes(encodeFrame(execFrame(1, {"id"})));
  EXPECT_TRUE(host_.closed);
  EXPECT_EQ(host_.failed_calls, 0);
  EXPECT_EQ(host_.authenticated_calls, 0);
}

TEST_F(SessionTest, ShutdownTerminatesJobsThenClosesAfterTheirResults) {
  client_features_ |= rxpb::v1::FEATURE_MULTI_EXEC;  // a second command may be asked for while one runs
  FakeJob* job = authenticateAndExec(execFrame(1, {"sleep", "100"}));
  ASSERT_NE(job, nullptr);
  session_->shutdown();
  EXPECT_EQ(job->terminated, 1);
  EXPECT_FALSE(job->detached);
  EXPECT_FALSE(host_.closed);

  // A new command is refused while shutting down.
  session_->onBytes(encodeFrame(execFrame(2, {"id"})));
  EXPECT_EQ(launcher_.specs.size(), 1u);
  ASSERT_TRUE(host_.frames.back().has_exec_result());
  EXPECT_EQ(host_.frames.back().exec_result().start_failed().reason(), StartFailed::REFUSED);

  rxpb::v1::ExecResult result;
  result.set_exec_id(1);
  result.mutable_signaled()->set_name("TERM");
  launcher_.observers[0]->onJobFinished(*job, result);
  EXPECT_TRUE(host_.closed);
  ASSERT_TRUE(host_.frames.back().has_exec_result());
  EXPECT_EQ(host_.frames.back().exec_result().signaled().name(), "TERM");
}

TEST_F(SessionTest, ShutdownBeforeAuthClosesAtOnce) {
  session_->start();
  session_->shutdown();
  EXPECT_TRUE(host_.closed);
}

TEST_F(SessionTest, SecondAuthResponseIsAProtocolError) {
  const std::string nonce = startAndGetNonce();
  std::string chunk = encodeFrame(goodAuth(nonce));
  appendFrame(chunk, goodAuth(nonce));
  session_->onBytes(chunk);
  ASSERT_EQ(host_.frames.size(), 3u);
  EXPECT_TRUE(host_.frames[1].auth_result().ok());
  EXPECT_TRUE(host_.frames[2].has_error());
  EXPECT_TRUE(host_.closed);
}

// --- Channel binding and Ed25519 keys ---

TEST_F(SessionTest, HmacProofForAnotherChannelBindingFailsAuthentication) {
  // A proof made on another TLS connection (a relay) is worthless on this one.
  const std::string nonce = startAndGetNonce();
  const std::string other_binding = randomBytes(32);
  std::string chunk =
      encodeFrame(authFrame(nonce, key_.secret, key_.key_id, ProofRole::Client, &other_binding));
  appendFrame(chunk, execFrame(1, {"id"}));
  session_->onBytes(chunk);
  ASSERT_EQ(host_.frames.size(), 2u);
  ASSERT_TRUE(host_.frames[1].has_auth_result());
  EXPECT_FALSE(host_.frames[1].auth_result().ok());
  EXPECT_TRUE(host_.frames[1].auth_result().server_proof().empty());
  EXPECT_TRUE(host_.closed);
  EXPECT_TRUE(launcher_.specs.empty());
  EXPECT_FALSE(session_->authenticated());
}

TEST_F(SessionTest, HmacProofWithoutTheChannelBindingFailsAuthentication) {
  const std::string nonce = startAndGetNonce();
  const std::string no_binding;
  std::string chunk = encodeFrame(authFrame(nonce, key_.secret, key_.key_id, ProofRole::Client, &no_binding));
  appendFrame(chunk, execFrame(1, {"id"}));
  session_->onBytes(chunk);
  ASSERT_EQ(host_.frames.size(), 2u);
  EXPECT_FALSE(host_.frames[1].auth_result().ok());
  EXPECT_TRUE(host_.closed);
  EXPECT_TRUE(launcher_.specs.empty());
}

TEST_F(SessionTest, Ed25519AuthenticationStartsTheCommand) {
  const std::string nonce = startAndGetNonce();
  const Frame auth = ed25519Auth(nonce);
  ASSERT_EQ(auth.auth_response().proof().size(), 64u);  // a signature, not an HMAC
  std::string chunk = encodeFrame(auth);
  appendFrame(chunk, execFrame(5, {"uname", "-a"}));
  session_->onBytes(chunk);

  ASSERT_EQ(host_.frames.size(), 2u);
  ASSERT_TRUE(host_.frames[1].has_auth_result());
  const auto& result = host_.frames[1].auth_result();
  EXPECT_TRUE(result.ok()) << result.message();
  EXPECT_TRUE(result.server_proof().empty());  // the pinned TLS host key proves the server
  EXPECT_TRUE(checkServerProof(ed_key_, input(nonce, ed_key_.key_id), result.server_proof()));
  EXPECT_FALSE(host_.closed);
  EXPECT_TRUE(session_->authenticated());
  EXPECT_EQ(session_->keyId(), ed_key_.key_id);
  ASSERT_EQ(launcher_.specs.size(), 1u);
  EXPECT_EQ(launcher_.specs[0].exec_id, 5u);
  EXPECT_EQ(launcher_.specs[0].argv, (std::vector<std::string>{"uname", "-a"}));
  EXPECT_EQ(session_->jobCount(), 1u);
}

TEST_F(SessionTest, Ed25519AuthFedByteByByte) {
  const std::string nonce = startAndGetNonce();
  std::string chunk = encodeFrame(ed25519Auth(nonce));
  appendFrame(chunk, execFrame(1, {"true"}));
  for (char c : chunk) session_->onBytes(std::string_view(&c, 1));
  ASSERT_EQ(host_.frames.size(), 2u);
  EXPECT_TRUE(host_.frames[1].auth_result().ok());
  EXPECT_EQ(launcher_.specs.size(), 1u);
}

TEST_F(SessionTest, Ed25519SignatureForAnotherChannelBindingFailsAuthentication) {
  const std::string nonce = startAndGetNonce();
  const std::string other_binding = randomBytes(32);
  std::string chunk = encodeFrame(ed25519Auth(nonce, &other_binding));
  appendFrame(chunk, execFrame(1, {"id"}));
  session_->onBytes(chunk);
  ASSERT_EQ(host_.frames.size(), 2u);
  ASSERT_TRUE(host_.frames[1].has_auth_result());
  EXPECT_FALSE(host_.frames[1].auth_result().ok());
  EXPECT_TRUE(host_.closed);
  EXPECT_TRUE(launcher_.specs.empty());
  EXPECT_FALSE(session_->authenticated());
}

TEST_F(SessionTest, Ed25519SignatureByAnotherKeyFailsAuthentication) {
  const std::string nonce = startAndGetNonce();
  const ClientKey other = generateKey(KeyType::Ed25519, "other");
  // Claims our Ed25519 key id, but signs with another key.
  std::string chunk = encodeFrame(authFrameWithProof(
      ed_key_.key_id,
      ed25519Sign(other.secret, proofTranscript(ProofRole::Client, input(nonce, ed_key_.key_id)))));
  appendFrame(chunk, execFrame(1, {"id"}));
  session_->onBytes(chunk);
  ASSERT_EQ(host_.frames.size(), 2u);
  EXPECT_FALSE(host_.frames[1].auth_result().ok());
  EXPECT_TRUE(host_.closed);
  EXPECT_TRUE(launcher_.specs.empty());
}

TEST_F(SessionTest, Ed25519SignatureWithABitFlippedFailsAuthentication) {
  const std::string nonce = startAndGetNonce();
  Frame auth = ed25519Auth(nonce);
  std::string proof = auth.auth_response().proof();
  proof[10] = static_cast<char>(proof[10] ^ 0x04);
  auth.mutable_auth_response()->set_proof(proof);
  session_->onBytes(encodeFrame(auth));
  ASSERT_EQ(host_.frames.size(), 2u);
  EXPECT_FALSE(host_.frames[1].auth_result().ok());
  EXPECT_TRUE(host_.closed);
  EXPECT_TRUE(launcher_.specs.empty());
}

TEST_F(SessionTest, HmacShapedProofForAnEd25519KeyFailsAuthentication) {
  // The public key is public: an HMAC keyed with it proves nothing.
  const std::string nonce = startAndGetNonce();
  session_->onBytes(encodeFrame(authFrame(nonce, ed_key_.public_key, ed_key_.key_id)));
  ASSERT_EQ(host_.frames.size(), 2u);
  EXPECT_FALSE(host_.frames[1].auth_result().ok());
  EXPECT_TRUE(host_.closed);
  EXPECT_TRUE(launcher_.specs.empty());
}

TEST_F(SessionTest, Ed25519SignatureUnderTheServerLabelFailsAuthentication) {
  const std::string nonce = startAndGetNonce();
  session_->onBytes(encodeFrame(authFrameWithProof(
      ed_key_.key_id,
      ed25519Sign(ed_key_.secret, proofTranscript(ProofRole::Server, input(nonce, ed_key_.key_id))))));
  ASSERT_EQ(host_.frames.size(), 2u);
  EXPECT_FALSE(host_.frames[1].auth_result().ok());
  EXPECT_TRUE(host_.closed);
  EXPECT_TRUE(launcher_.specs.empty());
}

TEST_F(SessionTest, Ed25519SessionProofFromAnotherSessionIsRefused) {
  // Same key, same nonces, but a different connection: the signature does not carry over.
  const std::string nonce = startAndGetNonce();
  FakeHost other_host;
  FakeLauncher other_launcher;
  Session other(config_, other_launcher, other_host, "other-peer", randomBytes(32));
  other.start();
  ASSERT_EQ(other_host.frames.size(), 1u);
  // Answer the other session's challenge with its own nonces, but signed over our connection's binding.
  const std::string other_nonce = other_host.frames[0].auth_challenge().server_nonce();
  other.onBytes(encodeFrame(ed25519Auth(other_nonce)));
  ASSERT_EQ(other_host.frames.size(), 2u);
  EXPECT_FALSE(other_host.frames[1].auth_result().ok());
  EXPECT_TRUE(other_host.closed);
  EXPECT_TRUE(other_launcher.specs.empty());
  // On our own connection the same signature works.
  session_->onBytes(encodeFrame(ed25519Auth(nonce)));
  ASSERT_EQ(host_.frames.size(), 2u);
  EXPECT_TRUE(host_.frames[1].auth_result().ok());
}

// --- Per-key options (common/key_options.h) ---

std::optional<std::string> envValue(const std::vector<std::string>& env, const std::string& name) {
  std::optional<std::string> found;
  for (const auto& e : env) {
    if (e.rfind(name + "=", 0) != 0) continue;
    EXPECT_FALSE(found) << name << " is set twice";
    found = e.substr(name.size() + 1);
  }
  return found;
}

TEST_F(SessionTest, ForcedCommandReplacesTheRequestAndKeepsItInTheEnvironment) {
  restrictKey(R"(command="echo forced: \"$REXEC_ORIGINAL_COMMAND\"")");
  ASSERT_NE(authenticateAndExec(execFrame(1, {"touch", "/tmp/MARKER", "a b"}, "/var")), nullptr);
  ASSERT_EQ(launcher_.specs.size(), 1u);
  const JobSpec& spec = launcher_.specs[0];
  EXPECT_EQ(spec.argv,
            (std::vector<std::string>{"/bin/sh", "-c", R"(echo forced: "$REXEC_ORIGINAL_COMMAND")"}));
  EXPECT_EQ(envValue(spec.env, "REXEC_ORIGINAL_COMMAND"), "touch /tmp/MARKER a b");
  // The client's cwd is not honoured either: a relative path in the forced command must not
  // resolve where the client chose.
  EXPECT_EQ(spec.cwd, "/tmp");
}

TEST_F(SessionTest, ForcedCommandKeepsAShellRequestAsItsString) {
  restrictKey(R"(command="/usr/bin/uptime")");
  Frame exec = execFrame(1, {"rm -rf / ; echo  two  spaces"});
  exec.mutable_exec_request()->set_shell(true);
  ASSERT_NE(authenticateAndExec(exec), nullptr);
  ASSERT_EQ(launcher_.specs.size(), 1u);
  EXPECT_EQ(launcher_.specs[0].argv, (std::vector<std::string>{"/bin/sh", "-c", "/usr/bin/uptime"}));
  EXPECT_EQ(envValue(launcher_.specs[0].env, "REXEC_ORIGINAL_COMMAND"), "rm -rf / ; echo  two  spaces");
}

TEST_F(SessionTest, ClientCannotSetTheOriginalCommandNorLdPreloadUnderAForcedCommand) {
  restrictKey(R"(command="true",env="REXEC_*,LANG")");
  Frame exec = execFrame(1, {"id"});
  for (auto [name, value] : {std::pair{"REXEC_ORIGINAL_COMMAND", "forged"},
                             std::pair{"LD_PRELOAD", "/tmp/evil.so"}, std::pair{"REXEC_OTHER", "ok"}}) {
    auto* e = exec.mutable_exec_request()->add_env();
    e->set_name(name);
    e->set_value(value);
  }
  ASSERT_NE(authenticateAndExec(exec), nullptr);
  const auto& env = launcher_.specs[0].env;
  EXPECT_EQ(envValue(env, "REXEC_ORIGINAL_COMMAND"), "id");
  EXPECT_EQ(envValue(env, "REXEC_OTHER"), "ok");
  EXPECT_FALSE(hasEnvName(env, "LD_PRELOAD"));
}

TEST_F(SessionTest, WithoutAForcedCommandThereIsNoOriginalCommand) {
  ASSERT_NE(authenticateAndExec(execFrame(1, {"id"})), nullptr);
  EXPECT_FALSE(hasEnvName(launcher_.specs[0].env, "REXEC_ORIGINAL_COMMAND"));
  EXPECT_EQ(launcher_.specs[0].argv, (std::vector<std::string>{"id"}));
}

TEST_F(SessionTest, FromMismatchFailsLikeABadProofAndLaunchesNothing) {
  restrictKey(R"(from="10.0.0.0/8,::1")", parseIpAddress("127.0.0.1"));
  const std::string nonce = startAndGetNonce();
  std::string chunk = encodeFrame(goodAuth(nonce));
  appendFrame(chunk, execFrame(1, {"id"}));
  session_->onBytes(chunk);
  ASSERT_EQ(host_.frames.size(), 2u);
  ASSERT_TRUE(host_.frames[1].has_auth_result());
  const auto& result = host_.frames[1].auth_result();
  EXPECT_FALSE(result.ok());
  EXPECT_TRUE(result.server_proof().empty());
  EXPECT_EQ(result.message(), "authentication failed");  // word for word what a bad proof gets
  EXPECT_TRUE(host_.closed);
  EXPECT_TRUE(launcher_.specs.empty());
  EXPECT_FALSE(session_->authenticated());
}

TEST_F(SessionTest, FromMatchAcceptsAnIpv4MappedPeer) {
  restrictKey(R"(from="127.0.0.0/8")", parseIpAddress("::ffff:127.0.0.1"));
  ASSERT_NE(authenticateAndExec(execFrame(1, {"id"})), nullptr);
  EXPECT_TRUE(session_->authenticated());
}

TEST_F(SessionTest, FromWithAnUnknownPeerAddressFails) {
  restrictKey(R"(from="0.0.0.0/0,::/0")", std::nullopt);
  const std::string nonce = startAndGetNonce();
  session_->onBytes(encodeFrame(goodAuth(nonce)));
  ASSERT_EQ(host_.frames.size(), 2u);
  EXPECT_FALSE(host_.frames[1].auth_result().ok());
  EXPECT_TRUE(host_.closed);
}

TEST_F(SessionTest, EnvOptionReplacesTheDaemonsAcceptList) {
  restrictKey(R"(env="MY_*")");
  Frame exec = execFrame(1, {"env"});
  for (auto [name, value] : {std::pair{"LANG", "fr_FR.UTF-8"}, std::pair{"MY_VAR", "1"},
                             std::pair{"LD_PRELOAD", "/tmp/evil.so"}, std::pair{"TZ", "UTC"}}) {
    auto* e = exec.mutable_exec_request()->add_env();
    e->set_name(name);
    e->set_value(value);
  }
  ASSERT_NE(authenticateAndExec(exec), nullptr);
  const auto& env = launcher_.specs[0].env;
  EXPECT_EQ(envValue(env, "MY_VAR"), "1");
  EXPECT_EQ(envValue(env, "LANG"), "C.UTF-8") << "LANG is accepted by the daemon's list, not by this key's";
  EXPECT_FALSE(hasEnvName(env, "TZ"));
  EXPECT_FALSE(hasEnvName(env, "LD_PRELOAD"));
}

TEST_F(SessionTest, NoStdinForcesStdinClosedAndIgnoresStdinFrames) {
  restrictKey("no-stdin");
  FakeJob* job = authenticateAndExec(execWithStdin(1, {"cat"}));
  ASSERT_NE(job, nullptr);
  EXPECT_FALSE(launcher_.specs[0].stdin_open);
  Frame data;
  data.mutable_stdin_data()->set_exec_id(1);
  data.mutable_stdin_data()->set_data("secret input");
  Frame close;
  close.mutable_stdin_close()->set_exec_id(1);
  std::string chunk = encodeFrame(data);
  appendFrame(chunk, close);
  session_->onBytes(chunk);
  EXPECT_EQ(job->stdin_data, "");
  EXPECT_FALSE(job->stdin_closed);
  EXPECT_FALSE(host_.closed);
}

TEST_F(SessionTest, MaxJobsRefusesTheCommandOverTheLimit) {
  client_features_ |= rxpb::v1::FEATURE_MULTI_EXEC;
  restrictKey("max-jobs=2");
  FakeJob* first = authenticateAndExec(execFrame(1, {"sleep", "100"}));
  ASSERT_NE(first, nullptr);
  session_->onBytes(encodeFrame(execFrame(2, {"sleep", "200"})));
  session_->onBytes(encodeFrame(execFrame(3, {"sleep", "300"})));
  EXPECT_EQ(launcher_.specs.size(), 2u);
  ASSERT_TRUE(host_.frames.back().has_exec_result());
  const auto& refused = host_.frames.back().exec_result();
  EXPECT_EQ(refused.exec_id(), 3u);
  EXPECT_EQ(refused.start_failed().reason(), StartFailed::REFUSED);
  EXPECT_EQ(refused.start_failed().message(), "too many commands on one connection (limit 2 for this key)");
  EXPECT_FALSE(host_.closed);

  // A finished command frees its place.
  rxpb::v1::ExecResult done;
  done.set_exec_id(1);
  done.set_exit_code(0);
  launcher_.observers[0]->onJobFinished(*first, done);
  session_->onBytes(encodeFrame(execFrame(4, {"true"})));
  EXPECT_EQ(launcher_.specs.size(), 3u);
  EXPECT_EQ(launcher_.specs.back().exec_id, 4u);
}

TEST_F(SessionTest, UserSetsCredentialsAndTheLoginEnvironment) {
  restrictKey("user=root");
  ASSERT_NE(authenticateAndExec(execFrame(1, {"id"}, "")), nullptr);
  const JobSpec& spec = launcher_.specs[0];
  ASSERT_TRUE(spec.credentials);
  EXPECT_EQ(spec.credentials->uid, 0u);
  EXPECT_EQ(spec.credentials->gid, 0u);
  EXPECT_EQ(spec.cwd, "/root");
  EXPECT_EQ(envValue(spec.env, "HOME"), "/root");
  EXPECT_EQ(envValue(spec.env, "USER"), "root");
  EXPECT_EQ(envValue(spec.env, "LOGNAME"), "root");
}

TEST_F(SessionTest, UserWithoutAHomeDirectoryStartsInTheRoot) {
  restrictKey("user=nobody");  // Debian: home /nonexistent, shell /usr/sbin/nologin
  ASSERT_NE(authenticateAndExec(execFrame(1, {"id"}, "")), nullptr);
  const JobSpec& spec = launcher_.specs[0];
  ASSERT_TRUE(spec.credentials);
  EXPECT_EQ(spec.credentials->uid, 65534u);
  EXPECT_EQ(spec.credentials->gid, 65534u);
  EXPECT_EQ(spec.cwd, "/");
  EXPECT_EQ(envValue(spec.env, "HOME"), "/");
  EXPECT_EQ(envValue(spec.env, "USER"), "nobody");
  EXPECT_EQ(envValue(spec.env, "LOGNAME"), "nobody");
  EXPECT_EQ(envValue(spec.env, "SHELL"), "/usr/sbin/nologin");
}

TEST_F(SessionTest, UserMayNotWorkInADirectoryClosedToIt) {
  const ScratchDir dir("rx_session_test");  // mode 0700, the test's own
  restrictKey("user=nobody");
  authenticateAndExec(execFrame(1, {"ls"}, dir.path()));
  EXPECT_TRUE(launcher_.specs.empty());
  ASSERT_EQ(host_.frames.size(), 3u);
  const auto& failed = host_.frames[2].exec_result().start_failed();
  EXPECT_EQ(failed.reason(), StartFailed::BAD_CWD);
  EXPECT_EQ(failed.message(), "\"" + dir.path() + "\": no such directory, or user nobody may not use it");
}

TEST_F(SessionTest, WithoutUserTheDaemonsOwnAccountIsUsed) {
  ASSERT_NE(authenticateAndExec(execFrame(1, {"id"})), nullptr);
  EXPECT_FALSE(launcher_.specs[0].credentials);
}

TEST(KeySet, FindComparesTheKeyId) {
  KeySet set;
  const ClientKey a = generateKey(KeyType::Ed25519, "a");
  const ClientKey b = generateKey(KeyType::HmacSha256, "b");
  set.keys.push_back(authorizedFor(a, 1));
  set.keys.push_back(authorizedFor(b, 2));
  ASSERT_NE(set.find(a.key_id), nullptr);
  EXPECT_EQ(set.find(a.key_id)->line, 1);
  EXPECT_EQ(set.find(a.key_id)->type, KeyType::Ed25519);
  ASSERT_NE(set.find(b.key_id), nullptr);
  EXPECT_EQ(set.find(b.key_id)->line, 2);
  EXPECT_EQ(set.find("ed25519-000000000000000000000000"), nullptr);
  EXPECT_EQ(set.find(""), nullptr);
  EXPECT_EQ(set.find(a.key_id.substr(0, a.key_id.size() - 1)), nullptr);
}

TEST(EnvNameAccepted, ExactNamesAndPrefixPatterns) {
  const std::vector<std::string> patterns{"LANG", "LC_*", "TZ"};
  EXPECT_TRUE(envNameAccepted(patterns, "LANG"));
  EXPECT_TRUE(envNameAccepted(patterns, "LC_ALL"));
  EXPECT_TRUE(envNameAccepted(patterns, "LC_"));
  EXPECT_TRUE(envNameAccepted(patterns, "TZ"));
  EXPECT_FALSE(envNameAccepted(patterns, "LANGUAGE"));
  EXPECT_FALSE(envNameAccepted(patterns, "LD_PRELOAD"));
  EXPECT_FALSE(envNameAccepted(patterns, "LC"));
  EXPECT_FALSE(envNameAccepted({}, "LANG"));
}

// ---------------------------------------------------------------- terminals (FEATURE_PTY)

Frame execWithPty(uint32_t exec_id, std::vector<std::string> argv, const std::string& term, uint32_t rows,
                  uint32_t cols) {
  Frame f = execFrame(exec_id, std::move(argv));
  auto* pty = f.mutable_exec_request()->mutable_pty();
  pty->set_term(term);
  pty->mutable_size()->set_rows(rows);
  pty->mutable_size()->set_cols(cols);
  return f;
}

Frame windowChange(uint32_t exec_id, uint32_t rows, uint32_t cols) {
  Frame f;
  f.mutable_window_change()->set_exec_id(exec_id);
  f.mutable_window_change()->mutable_size()->set_rows(rows);
  f.mutable_window_change()->mutable_size()->set_cols(cols);
  return f;
}

const std::string* refusal(const FakeHost& host) {
  for (const auto& f : host.frames)
    if (f.has_exec_result() && f.exec_result().has_start_failed())
      return &f.exec_result().start_failed().message();
  return nullptr;
}

TEST_F(SessionTest, ChallengeOffersTerminals) {
  session_->start();
  ASSERT_FALSE(host_.frames.empty());
  EXPECT_NE(host_.frames[0].auth_challenge().features() & rxpb::v1::FEATURE_PTY, 0u);
}

TEST_F(SessionTest, PtyRequestStartsAJobOnATerminalWithTermAndSize) {
  client_features_ |= rxpb::v1::FEATURE_PTY;
  FakeJob* job = authenticateAndExec(execWithPty(1, {"sh"}, "xterm-256color", 24, 80));
  ASSERT_NE(job, nullptr);
  const JobSpec& spec = launcher_.specs.back();
  ASSERT_TRUE(spec.pty);
  EXPECT_EQ(*spec.pty, (TerminalSize{24, 80, 0, 0}));
  EXPECT_TRUE(spec.stdin_open) << "the terminal is the command's input, whatever stdin_open said";
  EXPECT_TRUE(contains(spec.env, "TERM=xterm-256color"));
  // Typing reaches the job; a window change resizes it.
  Frame data;
  data.mutable_stdin_data()->set_exec_id(1);
  data.mutable_stdin_data()->set_data("ls\r");
  session_->onBytes(encodeFrame(data) + encodeFrame(windowChange(1, 30, 100)));
  EXPECT_EQ(job->stdin_data, "ls\r");
  EXPECT_EQ(job->sizes, (std::vector<TerminalSize>{TerminalSize{30, 100, 0, 0}}));
  EXPECT_FALSE(host_.closed);
}

TEST_F(SessionTest, EmptyTermLeavesTermUnset) {
  client_features_ |= rxpb::v1::FEATURE_PTY;
  ASSERT_NE(authenticateAndExec(execWithPty(1, {"sh"}, "", 0, 0)), nullptr);
  EXPECT_FALSE(hasEnvName(launcher_.specs.back().env, "TERM"));
}

TEST_F(SessionTest, PtyWithoutTheFeatureIsAProtocolError) {
  authenticateAndExec(execWithPty(1, {"sh"}, "xterm", 24, 80));
  EXPECT_TRUE(launcher_.specs.empty());
  ASSERT_TRUE(host_.frames.back().has_error());
  EXPECT_EQ(host_.frames.back().error().message(), "pty requested without the pty feature");
  EXPECT_TRUE(host_.closed);
}

TEST_F(SessionTest, WindowChangeWithoutTheFeatureIsAProtocolError) {
  FakeJob* job = authenticateAndExec(execFrame(1, {"sleep", "100"}));
  ASSERT_NE(job, nullptr);
  session_->onBytes(encodeFrame(windowChange(1, 30, 100)));
  ASSERT_TRUE(host_.frames.back().has_error());
  EXPECT_EQ(host_.frames.back().error().message(), "window change sent without the pty feature");
  EXPECT_TRUE(host_.closed);
}

TEST_F(SessionTest, BadTermIsRefused) {
  client_features_ |= rxpb::v1::FEATURE_PTY;
  for (const std::string& term :
       std::vector<std::string>{"xterm 256", "a\x1b]0;x\x07", std::string(65, 'x'), std::string("x\0y", 3)}) {
    launcher_.specs.clear();
    host_.frames.clear();
    session_ = std::make_unique<Session>(config_, launcher_, host_, "test-peer", binding_);
    authenticateAndExec(execWithPty(1, {"sh"}, term, 24, 80));
    EXPECT_TRUE(launcher_.specs.empty());
    const std::string* why = refusal(host_);
    ASSERT_NE(why, nullptr) << quoteForLog(term);
    EXPECT_NE(why->find("invalid terminal request: TERM"), std::string::npos) << *why;
    EXPECT_FALSE(host_.closed);
  }
}

TEST_F(SessionTest, WindowSizeOutOfRangeIsRefused) {
  client_features_ |= rxpb::v1::FEATURE_PTY;
  authenticateAndExec(execWithPty(1, {"sh"}, "xterm", 10001, 80));
  EXPECT_TRUE(launcher_.specs.empty());
  const std::string* why = refusal(host_);
  ASSERT_NE(why, nullptr);
  EXPECT_EQ(*why, "invalid terminal request: rows 10001 out of range (0 to 10000)");
}

TEST_F(SessionTest, WindowChangeOutOfRangeIsAProtocolError) {
  client_features_ |= rxpb::v1::FEATURE_PTY;
  FakeJob* job = authenticateAndExec(execWithPty(1, {"sh"}, "xterm", 24, 80));
  ASSERT_NE(job, nullptr);
  Frame f = windowChange(1, 24, 80);
  f.mutable_window_change()->mutable_size()->set_width_px(70000);
  session_->onBytes(encodeFrame(f));
  EXPECT_TRUE(job->sizes.empty());
  ASSERT_TRUE(host_.frames.back().has_error());
  EXPECT_EQ(host_.frames.back().error().message(),
            "invalid window change: width_px 70000 out of range (0 to 65535)");
  EXPECT_TRUE(host_.closed);
}

TEST_F(SessionTest, WindowChangeForAJobWithoutATerminalOrUnknownIsIgnored) {
  client_features_ |= rxpb::v1::FEATURE_PTY;
  FakeJob* job = authenticateAndExec(execFrame(1, {"sleep", "100"}));
  ASSERT_NE(job, nullptr);
  session_->onBytes(encodeFrame(windowChange(1, 30, 100)) + encodeFrame(windowChange(7, 30, 100)));
  EXPECT_TRUE(job->sizes.empty());
  EXPECT_FALSE(host_.closed);
}

TEST_F(SessionTest, NoPtyKeyRefusesATerminal) {
  restrictKey("no-pty");
  client_features_ |= rxpb::v1::FEATURE_PTY;
  authenticateAndExec(execWithPty(1, {"sh"}, "xterm", 24, 80));
  EXPECT_TRUE(launcher_.specs.empty());
  const std::string* why = refusal(host_);
  ASSERT_NE(why, nullptr);
  EXPECT_EQ(*why, "this key may not use a terminal (key option no-pty)");
}

TEST_F(SessionTest, NoStdinKeyRefusesATerminal) {
  restrictKey("no-stdin");
  client_features_ |= rxpb::v1::FEATURE_PTY;
  authenticateAndExec(execWithPty(1, {"sh"}, "xterm", 24, 80));
  EXPECT_TRUE(launcher_.specs.empty());
  const std::string* why = refusal(host_);
  ASSERT_NE(why, nullptr);
  EXPECT_EQ(*why, "this key may not use a terminal (key option no-stdin)");
}

TEST_F(SessionTest, NoPtyKeyStillRunsCommandsWithoutATerminal) {
  restrictKey("no-pty");
  client_features_ |= rxpb::v1::FEATURE_PTY;
  ASSERT_NE(authenticateAndExec(execFrame(1, {"true"})), nullptr);
  EXPECT_FALSE(launcher_.specs.back().pty);
}

}  // namespace
}  // namespace rx
