// rx::ClientSession driven with hand-made server frames: no sockets.
#include "client/client_session.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "common/auth_proof.h"
#include "common/limits.h"

namespace rx {
namespace {

using rxpb::v1::Frame;

class FakeClientHost : public ClientSessionHost {
 public:
  void send(std::string_view bytes, std::string_view then) override {
    ++sends;
    decoder_.feed(bytes);
    decoder_.feed(then);
    Frame f;
    for (;;) {
      const auto r = decoder_.next(f);
      if (r == FrameDecoder::Result::NeedMore) break;
      ASSERT_EQ(r, FrameDecoder::Result::Frame) << decoder_.error();
      frames.push_back(f);
    }
  }
  void onRequestSent() override { request_sent = true; }
  void onOutput(rxpb::v1::Stream stream, std::string_view data) override {
    output.emplace_back(stream, std::string(data));
  }
  void onResult(const rxpb::v1::ExecResult& r) override { results.push_back(r); }
  void onFailure(const std::string& message) override { failures.push_back(message); }
  bool onRelayDataHeader(const DataFrameHeader& h) override {
    relayed.push_back("header " + std::to_string(h.exec_id) + " " + std::to_string(h.data_size));
    return h.exec_id != 99;  // 99: a command the master does not know
  }
  void onRelayData(std::string_view part, bool last) override {
    relayed.push_back(std::string(part) + (last ? " (last)" : ""));
  }
  void onRelayFrame(const Frame& f) override { relayed.push_back("frame " + std::to_string(f.msg_case())); }

  std::vector<Frame> frames;
  int sends = 0;
  bool request_sent = false;
  std::vector<std::pair<rxpb::v1::Stream, std::string>> output;
  std::vector<rxpb::v1::ExecResult> results;
  std::vector<std::string> failures;
  std::vector<std::string> relayed;

 private:
  FrameDecoder decoder_{kMaxFramePostAuth};
};

Frame challenge(const std::string& nonce, uint32_t version = kProtocolVersion,
                uint64_t features = rxpb::v1::FEATURE_SHELL | rxpb::v1::FEATURE_SIGNALS |
                                    rxpb::v1::FEATURE_MULTI_EXEC | rxpb::v1::FEATURE_PTY) {
  Frame f;
  f.mutable_auth_challenge()->set_protocol_version(version);
  f.mutable_auth_challenge()->set_features(features);
  f.mutable_auth_challenge()->set_server_nonce(nonce);
  return f;
}

Frame output(rxpb::v1::Stream stream, const std::string& data) {
  Frame f;
  f.mutable_output()->set_exec_id(ClientSession::kExecId);
  f.mutable_output()->set_stream(stream);
  f.mutable_output()->set_data(data);
  return f;
}

Frame exitResult(int code, uint64_t out_bytes, uint64_t err_bytes) {
  Frame f;
  auto* r = f.mutable_exec_result();
  r->set_exec_id(ClientSession::kExecId);
  r->set_exit_code(code);
  r->set_stdout_bytes(out_bytes);
  r->set_stderr_bytes(err_bytes);
  return f;
}

class ClientSessionTest : public ::testing::Test {
 protected:
  ClientSessionTest() : key_(generateKey(KeyType::HmacSha256, "client")) {
    params_.argv = {"ls", "-l"};
    params_.cwd = "/srv";
    params_.env = {{"LANG", "C"}};
    params_.stdin_open = false;
    params_.timeout_ms = 900;
  }

  // The session, told about the secure channel as the real client does once TLS is up.
  ClientSession& session() {
    if (!session_) {
      session_ = std::make_unique<ClientSession>(key_, params_, host_);
      session_->onSecureChannel(binding_);
    }
    return *session_;
  }

  ProofInput input(const rxpb::v1::AuthResponse& auth) const {
    return ProofInput{server_nonce_, auth.client_nonce(), binding_, key_.key_id};
  }

  // Sends the challenge; returns the client's AuthResponse.
  rxpb::v1::AuthResponse challengeClient() {
    session().onBytes(encodeFrame(challenge(server_nonce_)));
    EXPECT_EQ(host_.frames.size(), 2u);
    if (host_.frames.empty()) return {};
    return host_.frames[0].auth_response();
  }

  Frame authResult(const std::string& server_proof) {
    Frame f;
    f.mutable_auth_result()->set_ok(true);
    f.mutable_auth_result()->set_server_proof(server_proof);
    return f;
  }

  // What a genuine server answers: an HMAC proof under `role` for HMAC keys, nothing for Ed25519.
  Frame authOk(const rxpb::v1::AuthResponse& auth, ProofRole role = ProofRole::Server) {
    if (key_.type == KeyType::Ed25519) return authResult("");
    return authResult(computeProof(role, key_.secret, input(auth)));
  }

  void authenticate() { session().onBytes(encodeFrame(authOk(challengeClient()))); }

  ClientKey key_;
  ExecParams params_;
  std::string binding_ = randomBytes(32);  // the TLS exporter of the connection
  std::string server_nonce_ = randomBytes(kNonceSize);
  FakeClientHost host_;
  std::unique_ptr<ClientSession> session_;
};

TEST_F(ClientSessionTest, AnswersTheChallengeWithProofAndRequestInOneWrite) {
  const rxpb::v1::AuthResponse auth = challengeClient();
  EXPECT_EQ(host_.sends, 1);
  EXPECT_TRUE(host_.request_sent);
  EXPECT_TRUE(session().requestSent());
  EXPECT_EQ(auth.protocol_version(), kProtocolVersion);
  EXPECT_EQ(auth.key_id(), key_.key_id);
  EXPECT_EQ(auth.client_nonce().size(), kNonceSize);
  EXPECT_EQ(auth.features() & rxpb::v1::FEATURE_MULTI_EXEC, 0u);
  EXPECT_TRUE(verifyProof(ProofRole::Client, key_.secret, input(auth), auth.proof()));

  ASSERT_EQ(host_.frames.size(), 2u);
  ASSERT_TRUE(host_.frames[1].has_exec_request());
  const auto& req = host_.frames[1].exec_request();
  EXPECT_EQ(req.exec_id(), ClientSession::kExecId);
  ASSERT_EQ(req.argv_size(), 2);
  EXPECT_EQ(req.argv(0), "ls");
  EXPECT_EQ(req.argv(1), "-l");
  EXPECT_EQ(req.cwd(), "/srv");
  ASSERT_EQ(req.env_size(), 1);
  EXPECT_EQ(req.env(0).name(), "LANG");
  EXPECT_EQ(req.env(0).value(), "C");
  EXPECT_FALSE(req.stdin_open());
  EXPECT_EQ(req.timeout_ms(), 900u);
}

// --- rexec -M: the master's own connection ---

TEST_F(ClientSessionTest, AMasterAuthenticatesWithoutACommandAndAsksForSharing) {
  session().setRole(ClientSession::Role::Master);
  constexpr uint64_t kAll = rxpb::v1::FEATURE_SHELL | rxpb::v1::FEATURE_SIGNALS |
                            rxpb::v1::FEATURE_MULTI_EXEC | rxpb::v1::FEATURE_PTY | rxpb::v1::FEATURE_CREDIT;
  session().onBytes(encodeFrame(challenge(server_nonce_, kProtocolVersion, kAll | 1024)));
  ASSERT_EQ(host_.frames.size(), 1u) << "the AuthResponse alone: no command of its own";
  const auto auth = host_.frames[0].auth_response();
  EXPECT_EQ(auth.features(), kAll) << "all it knows of what the server offers";
  EXPECT_FALSE(host_.request_sent) << "not ready before the server's proof";
  session().onBytes(encodeFrame(authOk(auth)));
  EXPECT_TRUE(host_.request_sent) << "ready for commands";
  EXPECT_EQ(session().features(), auth.features());
  EXPECT_TRUE(host_.failures.empty());
}

TEST_F(ClientSessionTest, AMasterRelaysOutputAndResultsOfAnyCommand) {
  session().setRole(ClientSession::Role::Master);
  session().onBytes(encodeFrame(challenge(server_nonce_)));
  session().onBytes(encodeFrame(authOk(host_.frames[0].auth_response())));
  std::string bytes;
  appendOutputFrame(bytes, 7, rxpb::v1::STREAM_STDOUT, "seven");
  Frame result = exitResult(0, 5, 0);
  result.mutable_exec_result()->set_exec_id(7);
  appendFrame(bytes, result);
  session().onBytes(bytes);
  EXPECT_TRUE(host_.failures.empty()) << host_.failures.front();
  EXPECT_EQ(host_.relayed, (std::vector<std::string>{"header 7 5", "seven (last)", "frame 9"}));
  EXPECT_TRUE(host_.output.empty()) << "nothing is the master's own output";
  EXPECT_TRUE(host_.results.empty());
  EXPECT_FALSE(session().done()) << "a result ends a command, not the master";
  // Output for a command the master does not know ends the shared connection.
  std::string unknown;
  appendOutputFrame(unknown, 99, rxpb::v1::STREAM_STDOUT, "?");
  session().onBytes(unknown);
  ASSERT_EQ(host_.failures.size(), 1u);
  EXPECT_EQ(host_.failures[0], "protocol error: output for unknown command 99");
}

TEST_F(ClientSessionTest, AMastersLostConnectionIsSaidPlainly) {
  session().setRole(ClientSession::Role::Master);
  session().onBytes(encodeFrame(challenge(server_nonce_)));
  session().onBytes(encodeFrame(authOk(host_.frames[0].auth_response())));
  session().onClosed("closed by the server");
  ASSERT_EQ(host_.failures.size(), 1u);
  EXPECT_EQ(host_.failures[0], "connection lost (closed by the server)");
}

// --- rexec -S: a command through a master ---

Frame greeting(const std::string& target, uint64_t features = rxpb::v1::FEATURE_SHELL |
                                                              rxpb::v1::FEATURE_SIGNALS |
                                                              rxpb::v1::FEATURE_PTY) {
  Frame f = challenge("", kProtocolVersion, features);
  f.mutable_auth_challenge()->set_master_target(target);
  return f;
}

TEST_F(ClientSessionTest, ThroughAMasterTheRequestGoesOutWithoutAuthentication) {
  ClientSession s(ClientKey{}, params_, host_);  // no key, no secure channel
  s.setRole(ClientSession::Role::ViaMaster, "[10.0.0.1]:5513");
  s.onBytes(encodeFrame(greeting("[10.0.0.1]:5513")));
  ASSERT_EQ(host_.frames.size(), 1u);
  ASSERT_TRUE(host_.frames[0].has_exec_request()) << "the request alone";
  EXPECT_EQ(host_.frames[0].exec_request().argv(0), "ls");
  EXPECT_TRUE(host_.request_sent);
  std::string bytes = encodeFrame(output(rxpb::v1::STREAM_STDOUT, "total 0\n"));
  appendFrame(bytes, exitResult(0, 8, 0));
  s.onBytes(bytes);
  EXPECT_TRUE(host_.failures.empty()) << host_.failures.front();
  ASSERT_EQ(host_.results.size(), 1u);
  EXPECT_TRUE(s.done());
}

TEST_F(ClientSessionTest, ThroughAMasterTheTargetAndTheGreetingAreChecked) {
  struct Case {
    Frame greeting;
    std::string failure;
  };
  Frame server_challenge = challenge(server_nonce_);  // a server, not a master
  Frame error;
  error.mutable_error()->set_message("master: unknown signal X");
  Frame empty_error;  // found by the fuzzer: a blank line instead of a message
  empty_error.mutable_error();
  const std::vector<Case> cases = {
      {greeting("[10.0.0.2]:5513"),
       "the master on this control socket runs commands on [10.0.0.2]:5513, not [10.0.0.1]:5513"},
      {greeting(""), "protocol error: bad greeting from the master"},
      {server_challenge, "protocol error: bad greeting from the master"},
      {output(rxpb::v1::STREAM_STDOUT, "x"), "protocol error: the master did not start with its greeting"},
      {error, "master: unknown signal X"},
      {empty_error, "master: an error without a message"},
  };
  for (const auto& c : cases) {
    FakeClientHost host;
    ClientSession s(ClientKey{}, params_, host);
    s.setRole(ClientSession::Role::ViaMaster, "[10.0.0.1]:5513");
    s.onBytes(encodeFrame(c.greeting));
    EXPECT_TRUE(host.frames.empty()) << c.failure << ": nothing may go out";
    ASSERT_EQ(host.failures.size(), 1u) << c.failure;
    EXPECT_EQ(host.failures[0], c.failure);
  }
}

TEST_F(ClientSessionTest, ThroughAMasterATerminalIsAskedForOnlyWhenItOffersOne) {
  params_.pty = PtyParams{"xterm", TerminalSize{24, 80, 0, 0}};
  for (const bool offered : {true, false}) {
    FakeClientHost host;
    ClientSession s(ClientKey{}, params_, host);
    s.setRole(ClientSession::Role::ViaMaster, "h");
    s.onBytes(encodeFrame(greeting("h", rxpb::v1::FEATURE_SHELL | (offered ? rxpb::v1::FEATURE_PTY : 0))));
    ASSERT_EQ(host.frames.size(), 1u);
    EXPECT_EQ(host.frames[0].exec_request().has_pty(), offered);
    EXPECT_EQ(s.ptyActive(), offered);
  }
}

TEST_F(ClientSessionTest, OutputAndResultAfterAValidServerProof) {
  authenticate();
  std::string chunk = encodeFrame(output(rxpb::v1::STREAM_STDOUT, "total 0\n"));
  appendFrame(chunk, output(rxpb::v1::STREAM_STDERR, "warn\n"));
  appendFrame(chunk, exitResult(3, 8, 5));
  session().onBytes(chunk);
  EXPECT_TRUE(host_.failures.empty()) << host_.failures.front();
  ASSERT_EQ(host_.output.size(), 2u);
  EXPECT_EQ(host_.output[0], std::make_pair(rxpb::v1::STREAM_STDOUT, std::string("total 0\n")));
  EXPECT_EQ(host_.output[1], std::make_pair(rxpb::v1::STREAM_STDERR, std::string("warn\n")));
  ASSERT_EQ(host_.results.size(), 1u);
  EXPECT_EQ(host_.results[0].exit_code(), 3);
  EXPECT_TRUE(session().done());
}

TEST_F(ClientSessionTest, ServerProofWithTheClientLabelIsRefused) {
  session().onBytes(encodeFrame(authOk(challengeClient(), ProofRole::Client)));
  ASSERT_EQ(host_.failures.size(), 1u);
  EXPECT_NE(host_.failures[0].find("prove"), std::string::npos) << host_.failures[0];
  EXPECT_TRUE(session().done());
}

TEST_F(ClientSessionTest, MissingServerProofIsRefused) {
  challengeClient();
  Frame f;
  f.mutable_auth_result()->set_ok(true);
  session().onBytes(encodeFrame(f));
  EXPECT_EQ(host_.failures.size(), 1u);
}

TEST_F(ClientSessionTest, OutputBeforeTheAuthResultIsRefused) {
  challengeClient();
  session().onBytes(encodeFrame(output(rxpb::v1::STREAM_STDOUT, "spoofed")));
  EXPECT_EQ(host_.failures.size(), 1u);
  EXPECT_TRUE(host_.output.empty());
}

TEST_F(ClientSessionTest, RefusedAuthenticationIsAFailure) {
  challengeClient();
  Frame f;
  f.mutable_auth_result()->set_ok(false);
  f.mutable_auth_result()->set_message("authentication failed");
  session().onBytes(encodeFrame(f));
  ASSERT_EQ(host_.failures.size(), 1u);
  EXPECT_NE(host_.failures[0].find("authentication failed"), std::string::npos) << host_.failures[0];
}

TEST_F(ClientSessionTest, WrongProtocolVersionIsAFailure) {
  session().onBytes(encodeFrame(challenge(server_nonce_, 2)));
  EXPECT_EQ(host_.failures.size(), 1u);
  EXPECT_TRUE(host_.frames.empty());
  EXPECT_FALSE(host_.request_sent);
}

TEST_F(ClientSessionTest, ShortServerNonceIsAFailure) {
  session().onBytes(encodeFrame(challenge("short")));
  EXPECT_EQ(host_.failures.size(), 1u);
  EXPECT_TRUE(host_.frames.empty());
}

TEST_F(ClientSessionTest, TruncatedOutputIsAFailureNotAResult) {
  authenticate();
  std::string chunk = encodeFrame(output(rxpb::v1::STREAM_STDOUT, "part"));
  appendFrame(chunk, exitResult(0, 100, 0));
  session().onBytes(chunk);
  ASSERT_EQ(host_.failures.size(), 1u);
  EXPECT_NE(host_.failures[0].find("truncated"), std::string::npos) << host_.failures[0];
  EXPECT_TRUE(host_.results.empty());
}

TEST_F(ClientSessionTest, ResultWithoutOutcomeIsAFailure) {
  authenticate();
  Frame f;
  f.mutable_exec_result()->set_exec_id(ClientSession::kExecId);
  session().onBytes(encodeFrame(f));
  EXPECT_EQ(host_.failures.size(), 1u);
  EXPECT_TRUE(host_.results.empty());
}

TEST_F(ClientSessionTest, ServerErrorFrameIsAFailure) {
  authenticate();
  Frame f;
  f.mutable_error()->set_message("boom");
  session().onBytes(encodeFrame(f));
  ASSERT_EQ(host_.failures.size(), 1u);
  EXPECT_NE(host_.failures[0].find("boom"), std::string::npos) << host_.failures[0];
}

TEST_F(ClientSessionTest, ConnectionLostWhileRunningIsAFailure) {
  authenticate();
  session().onClosed("reset by peer");
  ASSERT_EQ(host_.failures.size(), 1u);
  EXPECT_NE(host_.failures[0].find("reset by peer"), std::string::npos) << host_.failures[0];
}

TEST_F(ClientSessionTest, CloseAfterTheResultIsNotAFailure) {
  authenticate();
  session().onBytes(encodeFrame(exitResult(0, 0, 0)));
  session().onClosed("eof");
  EXPECT_TRUE(host_.failures.empty());
  EXPECT_EQ(host_.results.size(), 1u);
}

TEST_F(ClientSessionTest, StdinAndSignalsAreFramedForTheCommand) {
  authenticate();
  host_.frames.clear();
  session().sendStdin("input");
  session().closeStdin();
  session().sendSignal("INT");
  ASSERT_EQ(host_.frames.size(), 3u);
  EXPECT_EQ(host_.frames[0].stdin_data().exec_id(), ClientSession::kExecId);
  EXPECT_EQ(host_.frames[0].stdin_data().data(), "input");
  EXPECT_TRUE(host_.frames[1].has_stdin_close());
  EXPECT_EQ(host_.frames[2].signal().name(), "INT");
}

TEST_F(ClientSessionTest, LargeStdinIsSplitIntoChunks) {
  authenticate();
  host_.frames.clear();
  session().sendStdin(std::string(kMaxChunk * 2 + 1, 's'));
  ASSERT_EQ(host_.frames.size(), 3u);
  EXPECT_EQ(host_.frames[0].stdin_data().data().size(), kMaxChunk);
  EXPECT_EQ(host_.frames[1].stdin_data().data().size(), kMaxChunk);
  EXPECT_EQ(host_.frames[2].stdin_data().data().size(), 1u);
}

TEST_F(ClientSessionTest, NothingIsSentBeforeTheChallenge) {
  session().sendStdin("early");
  session().sendSignal("INT");
  EXPECT_EQ(host_.sends, 0);
}

// --- The secure channel, channel binding and Ed25519 keys ---

TEST_F(ClientSessionTest, BytesBeforeTheSecureChannelAreAFailure) {
  ClientSession raw(key_, params_, host_);
  raw.onBytes(encodeFrame(challenge(server_nonce_)));
  ASSERT_EQ(host_.failures.size(), 1u);
  EXPECT_NE(host_.failures[0].find("data before the secure channel"), std::string::npos) << host_.failures[0];
  EXPECT_EQ(host_.sends, 0);
  EXPECT_FALSE(host_.request_sent);
  EXPECT_TRUE(raw.done());
  // Nothing more happens once failed, even after the channel comes up.
  raw.onSecureChannel(binding_);
  raw.onBytes(encodeFrame(challenge(server_nonce_)));
  EXPECT_EQ(host_.failures.size(), 1u);
  EXPECT_EQ(host_.sends, 0);
}

TEST_F(ClientSessionTest, ClientProofCoversTheChannelBinding) {
  const rxpb::v1::AuthResponse auth = challengeClient();
  AuthorizedKey server_key;
  ASSERT_TRUE(parseAuthorizedLine(authorizedLine(key_), server_key));
  EXPECT_TRUE(checkClientProof(server_key, input(auth), auth.proof()));
  const std::string other_binding = randomBytes(32);
  EXPECT_FALSE(checkClientProof(
      server_key, ProofInput{server_nonce_, auth.client_nonce(), other_binding, key_.key_id}, auth.proof()));
}

TEST_F(ClientSessionTest, WrongHmacServerProofIsAFailure) {
  challengeClient();
  session().onBytes(encodeFrame(authResult(randomBytes(kProofSize))));
  ASSERT_EQ(host_.failures.size(), 1u);
  EXPECT_NE(host_.failures[0].find("prove"), std::string::npos) << host_.failures[0];
  EXPECT_TRUE(session().done());
  EXPECT_TRUE(host_.results.empty());
}

TEST_F(ClientSessionTest, HmacServerProofForAnotherChannelIsAFailure) {
  const rxpb::v1::AuthResponse auth = challengeClient();
  const std::string other_binding = randomBytes(32);
  session().onBytes(encodeFrame(
      authResult(computeProof(ProofRole::Server, key_.secret,
                              ProofInput{server_nonce_, auth.client_nonce(), other_binding, key_.key_id}))));
  ASSERT_EQ(host_.failures.size(), 1u);
  EXPECT_NE(host_.failures[0].find("prove"), std::string::npos) << host_.failures[0];
}

TEST_F(ClientSessionTest, Ed25519KeyAnswersWithASignature) {
  key_ = generateKey(KeyType::Ed25519, "ed client");
  const rxpb::v1::AuthResponse auth = challengeClient();
  EXPECT_TRUE(host_.request_sent);
  EXPECT_EQ(auth.key_id(), key_.key_id);
  EXPECT_EQ(auth.key_id().rfind("ed25519-", 0), 0u) << auth.key_id();
  ASSERT_EQ(auth.proof().size(), 64u);
  EXPECT_TRUE(ed25519Verify(key_.public_key, proofTranscript(ProofRole::Client, input(auth)), auth.proof()));
  AuthorizedKey server_key;
  ASSERT_TRUE(parseAuthorizedLine(authorizedLine(key_), server_key));
  EXPECT_TRUE(checkClientProof(server_key, input(auth), auth.proof()));
  EXPECT_FALSE(checkClientProof(server_key,
                                ProofInput{server_nonce_, auth.client_nonce(), randomBytes(32), key_.key_id},
                                auth.proof()));
  ASSERT_EQ(host_.frames.size(), 2u);
  EXPECT_TRUE(host_.frames[1].has_exec_request());
}

TEST_F(ClientSessionTest, Ed25519KeyRunsWithAnEmptyServerProof) {
  key_ = generateKey(KeyType::Ed25519, "ed client");
  authenticate();
  EXPECT_TRUE(host_.failures.empty()) << host_.failures.front();
  std::string chunk = encodeFrame(output(rxpb::v1::STREAM_STDOUT, "hi\n"));
  appendFrame(chunk, exitResult(0, 3, 0));
  session().onBytes(chunk);
  EXPECT_TRUE(host_.failures.empty()) << host_.failures.front();
  ASSERT_EQ(host_.output.size(), 1u);
  EXPECT_EQ(host_.output[0], std::make_pair(rxpb::v1::STREAM_STDOUT, std::string("hi\n")));
  ASSERT_EQ(host_.results.size(), 1u);
  EXPECT_TRUE(session().done());
}

TEST_F(ClientSessionTest, Ed25519KeyRefusesAServerProof) {
  // The server is proven by its pinned TLS host key and must send no proof of its own; one that
  // does is not following the protocol.
  key_ = generateKey(KeyType::Ed25519, "ed client");
  const rxpb::v1::AuthResponse auth = challengeClient();
  session().onBytes(encodeFrame(authResult(computeProof(ProofRole::Server, key_.secret, input(auth)))));
  ASSERT_EQ(host_.failures.size(), 1u);
  EXPECT_TRUE(session().done());
  session().onBytes(encodeFrame(output(rxpb::v1::STREAM_STDOUT, "spoofed")));
  EXPECT_TRUE(host_.output.empty());
  EXPECT_TRUE(host_.results.empty());
}

TEST_F(ClientSessionTest, Ed25519KeyRefusesAnyNonEmptyServerProof) {
  for (const std::string& proof : {std::string(1, '\0'), std::string(32, '\0'), randomBytes(64)}) {
    FakeClientHost host;
    key_ = generateKey(KeyType::Ed25519, "ed client");
    ClientSession s(key_, params_, host);
    s.onSecureChannel(binding_);
    s.onBytes(encodeFrame(challenge(server_nonce_)));
    ASSERT_EQ(host.frames.size(), 2u);
    s.onBytes(encodeFrame(authResult(proof)));
    EXPECT_EQ(host.failures.size(), 1u) << proof.size() << " bytes";
    EXPECT_TRUE(s.done());
  }
}

TEST_F(ClientSessionTest, WithoutPtyParamsNoTerminalIsAskedFor) {
  const rxpb::v1::AuthResponse auth = challengeClient();
  EXPECT_EQ(auth.features() & rxpb::v1::FEATURE_PTY, 0u);
  EXPECT_FALSE(host_.frames[1].exec_request().has_pty());
  EXPECT_FALSE(session().ptyActive());
  session().sendWindowChange(TerminalSize{30, 100, 0, 0});
  EXPECT_EQ(host_.frames.size(), 2u) << "no window changes for a command without a terminal";
}

TEST_F(ClientSessionTest, PtyParamsAskForATerminalWithTermAndSizeThenSendWindowChanges) {
  params_.stdin_open = true;
  params_.pty = PtyParams{"xterm-256color", TerminalSize{24, 80, 640, 480}};
  const rxpb::v1::AuthResponse auth = challengeClient();
  EXPECT_NE(auth.features() & rxpb::v1::FEATURE_PTY, 0u);
  ASSERT_TRUE(host_.frames[1].exec_request().has_pty());
  const auto& pty = host_.frames[1].exec_request().pty();
  EXPECT_EQ(pty.term(), "xterm-256color");
  EXPECT_EQ(terminalSizeFrom(pty.size()), (TerminalSize{24, 80, 640, 480}));
  EXPECT_TRUE(session().ptyActive());
  session().sendWindowChange(TerminalSize{30, 100, 0, 0});
  ASSERT_EQ(host_.frames.size(), 3u);
  ASSERT_TRUE(host_.frames[2].has_window_change());
  EXPECT_EQ(host_.frames[2].window_change().exec_id(), ClientSession::kExecId);
  EXPECT_EQ(terminalSizeFrom(host_.frames[2].window_change().size()), (TerminalSize{30, 100, 0, 0}));
}

TEST_F(ClientSessionTest, AnInvalidLocalTermIsNotSent) {
  params_.pty = PtyParams{"bad term", TerminalSize{24, 80, 0, 0}};
  challengeClient();
  ASSERT_TRUE(host_.frames[1].exec_request().has_pty());
  EXPECT_EQ(host_.frames[1].exec_request().pty().term(), "");
}

TEST_F(ClientSessionTest, AServerWithoutTerminalsGetsNoPtyRequest) {
  params_.pty = PtyParams{"xterm", TerminalSize{24, 80, 0, 0}};
  session().onBytes(encodeFrame(
      challenge(server_nonce_, kProtocolVersion, rxpb::v1::FEATURE_SHELL | rxpb::v1::FEATURE_SIGNALS)));
  ASSERT_EQ(host_.frames.size(), 2u);
  EXPECT_EQ(host_.frames[0].auth_response().features() & rxpb::v1::FEATURE_PTY, 0u);
  EXPECT_FALSE(host_.frames[1].exec_request().has_pty());
  EXPECT_FALSE(session().ptyActive());
}

}  // namespace
}  // namespace rx

namespace rx {
namespace {

// Output data is passed on as it arrives (see ClientSession::onBytes): however the reads cut the
// stream, the bytes per stream, their order, the counts checked at the end and the result are
// those of the whole stream at once.
class ClientSessionSplitTest : public ClientSessionTest {
 protected:
  std::string stream() {
    std::string wire = encodeFrame(output(rxpb::v1::STREAM_STDOUT, "total 0\n"));
    appendOutputFrame(wire, ClientSession::kExecId, rxpb::v1::STREAM_STDERR, std::string(300, 'e'));
    // An Output in another field order (data first), as another encoder might write it: parsed
    // whole, same meaning.
    const std::string inner =
        std::string("\x1a\x02ok\x08\x01\x10", 7) + static_cast<char>(rxpb::v1::STREAM_STDOUT);
    appendVarint(wire, 2 + inner.size());
    wire += "\x42" + std::string(1, static_cast<char>(inner.size())) + inner;
    appendOutputFrame(wire, ClientSession::kExecId, rxpb::v1::STREAM_STDOUT, std::string(70000, 'o'));
    appendFrame(wire, exitResult(0, 8 + 2 + 70000, 300));
    return wire;
  }
  static void appendVarint(std::string& out, uint64_t v) {
    do {
      const auto byte = static_cast<char>((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
      out.push_back(byte);
      v >>= 7;
    } while (v);
  }
  std::string joined(rxpb::v1::Stream s) const {
    std::string all;
    for (const auto& [stream, data] : host_.output)
      if (stream == s) all += data;
    return all;
  }
  // One Output frame in the streamed shape, for a command or stream the session must refuse:
  // one failure naming `why`, and nothing passed on.
  void expectStreamedOutputRefused(uint32_t exec_id, rxpb::v1::Stream stream, std::string_view why) {
    authenticate();
    std::string wire;
    appendOutputFrame(wire, exec_id, stream, "x");
    session().onBytes(wire);
    ASSERT_EQ(host_.failures.size(), 1u);
    EXPECT_NE(host_.failures[0].find(why), std::string::npos) << host_.failures[0];
    EXPECT_TRUE(host_.output.empty());
  }
  void expectWholeStream() {
    EXPECT_TRUE(host_.failures.empty()) << host_.failures.front();
    EXPECT_EQ(joined(rxpb::v1::STREAM_STDOUT), "total 0\nok" + std::string(70000, 'o'));
    EXPECT_EQ(joined(rxpb::v1::STREAM_STDERR), std::string(300, 'e'));
    ASSERT_EQ(host_.results.size(), 1u);
    EXPECT_EQ(host_.results[0].exit_code(), 0);
  }
};

TEST_F(ClientSessionSplitTest, WholeStreamAtOnce) {
  authenticate();
  session().onBytes(stream());
  expectWholeStream();
}

TEST_F(ClientSessionSplitTest, ByteByByte) {
  authenticate();
  for (char c : stream()) session().onBytes(std::string_view(&c, 1));
  expectWholeStream();
}

TEST_F(ClientSessionSplitTest, CutInTwoAtEveryPlaceNearTheFrameBoundaries) {
  const std::string wire = stream();
  for (size_t cut = 0; cut <= wire.size(); cut += (cut < 400 || wire.size() - cut < 400) ? 1 : 997) {
    host_ = FakeClientHost{};
    session_.reset();
    authenticate();
    session().onBytes(std::string_view(wire).substr(0, cut));
    session().onBytes(std::string_view(wire).substr(cut));
    SCOPED_TRACE("cut at " + std::to_string(cut));
    expectWholeStream();
  }
}

TEST_F(ClientSessionSplitTest, StreamedOutputForAnotherCommandIsRefused) {
  expectStreamedOutputRefused(ClientSession::kExecId + 1, rxpb::v1::STREAM_STDOUT, "unknown command 2");
}

TEST_F(ClientSessionSplitTest, StreamedOutputOnAnUnknownStreamIsRefused) {
  expectStreamedOutputRefused(ClientSession::kExecId, static_cast<rxpb::v1::Stream>(7), "unknown stream");
}

TEST_F(ClientSessionSplitTest, AnOversizedFrameCutInPiecesIsRefusedWithoutBufferingIt) {
  authenticate();
  std::string wire;
  appendVarint(wire, kMaxFramePostAuth + 1);
  wire += "\x42";
  for (char c : wire) session().onBytes(std::string_view(&c, 1));
  ASSERT_EQ(host_.failures.size(), 1u);
  EXPECT_NE(host_.failures[0].find("larger than the limit"), std::string::npos) << host_.failures[0];
}

}  // namespace
}  // namespace rx
