// Bad input from the network: each bad connection is closed, nothing runs, and the daemon
// keeps serving the next client.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "common/auth_proof.h"
#include "common/frame_codec.h"
#include "common/key_file.h"
#include "common/limits.h"
#include "tests/integration/fixture.h"

namespace rxtest {
namespace {

// Every hostile connection here comes from 127.0.0.1, as does the well-behaved client after it:
// no penalty after a failed authentication (limits_test.cc tests those), and room for the burst
// of 200 concurrent clients below: no startup caps, and a login grace long enough for 200 client
// processes starting at once on a small, busy machine (the clients' own 10 s timeout remains).
class HostileTest : public RexecTest {
 protected:
  Daemon::Options daemonOptions() override {
    Daemon::Options o;
    o.extra_args = {"--auth-penalty",     "0", "--max-startups", "400", "--per-source-max-startups", "400",
                    "--login-grace-time", "60"};
    return o;
  }
};

// A TLS connection that has read the server's challenge.
struct Raw {
  explicit Raw(uint16_t port) : c(port) {
    EXPECT_TRUE(c.handshake());
    rxpb::v1::Frame f;
    EXPECT_TRUE(c.next(f) && f.has_auth_challenge());
    challenge = f.auth_challenge();
  }
  TlsTestClient c;
  rxpb::v1::AuthChallenge challenge;
};

std::string execRequestFrame(const std::string& marker) {
  rxpb::v1::Frame f;
  auto* r = f.mutable_exec_request();
  r->set_exec_id(1);
  r->add_argv("touch");
  r->add_argv(marker);
  return rx::encodeFrame(f);
}

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// The daemon still serves a well-behaved client.
void expectStillServing(const RexecTest& t, const Subprocess::Result& r) {
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "still serving\n");
  (void)t;
}

TEST_F(HostileTest, WrongKeyIsRefusedAndNothingRuns) {
  const std::string other = dir_.file("other-key");
  makeKey(other, "intruder");
  auto r = run({rexecPath(), "-i", other, "--known-hosts", knownHosts(), daemon_->target(), "touch",
                dir_.file("marker")});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("rexec: 127.0.0.1: authentication refused by the server"), std::string::npos) << r.err;
  EXPECT_FALSE(exists(dir_.file("marker")));
  EXPECT_TRUE(daemon_->waitForLog({"authentication failed", "unknown key"}));
  EXPECT_EQ(daemon_->countLog("started pid"), 0u);
  expectStillServing(*this, runRemote({"echo", "still serving"}));
}

TEST_F(HostileTest, ForgedProofForAKnownKeyIdIsRefused) {
  Raw r(daemon_->port());
  rx::ClientKey real;
  ASSERT_TRUE(rx::loadKeyFile(key_, real));
  rx::ClientKey forged = rx::generateKey(rx::KeyType::Ed25519, "forged");
  forged.key_id = real.key_id;  // a real id, but signed with another key
  const std::string nonce = rx::randomBytes(32);
  const std::string binding = r.c.channelBinding();
  rxpb::v1::Frame f;
  auto* a = f.mutable_auth_response();
  a->set_protocol_version(rx::kProtocolVersion);
  a->set_key_id(real.key_id);
  a->set_client_nonce(nonce);
  a->set_proof(rx::clientProof(forged, {r.challenge.server_nonce(), nonce, binding, real.key_id}));
  ASSERT_TRUE(r.c.send(rx::encodeFrame(f) + execRequestFrame(dir_.file("marker"))));
  EXPECT_TRUE(r.c.waitClosed());
  EXPECT_FALSE(exists(dir_.file("marker")));
  EXPECT_TRUE(daemon_->waitForLog({"authentication failed", "bad proof"}));
  expectStillServing(*this, runRemote({"echo", "still serving"}));
}

TEST_F(HostileTest, GarbageIsClosed) {
  Raw r(daemon_->port());
  ASSERT_TRUE(r.c.send(std::string("\x05garbage-not-protobuf\xff\xff\xff", 24)));
  EXPECT_TRUE(r.c.waitClosed());
  EXPECT_TRUE(daemon_->waitForLog({"protocol error"}));
  expectStillServing(*this, runRemote({"echo", "still serving"}));
}

TEST_F(HostileTest, HugeLengthIsClosedWithoutAllocating) {
  const long rss_before = rssKiB(daemon_->pid()).value_or(0);
  for (const std::string& prefix :
       {std::string("\xff\xff\xff\xff\x0f", 5), std::string("\xff\xff\xff\xff\xff\x01", 6)}) {
    Raw r(daemon_->port());
    ASSERT_TRUE(r.c.send(prefix));
    EXPECT_TRUE(r.c.waitClosed());
  }
  EXPECT_TRUE(daemon_->waitForLog({"protocol error", "larger than the limit of 16384"}));
  EXPECT_TRUE(daemon_->waitForLog({"protocol error", "malformed frame length"}));
  EXPECT_LT(rssKiB(daemon_->pid()).value_or(0) - rss_before, 4096) << "RSS grew by MiBs";
  expectStillServing(*this, runRemote({"echo", "still serving"}));
}

TEST_F(HostileTest, FrameJustOverThePreAuthLimitIsClosed) {
  Raw r(daemon_->port());
  // Length 16385 (varint 81 80 01), then nothing: the limit is checked on the prefix alone.
  ASSERT_TRUE(r.c.send(std::string("\x81\x80\x01", 3)));
  EXPECT_TRUE(r.c.waitClosed());
  expectStillServing(*this, runRemote({"echo", "still serving"}));
}

TEST_F(HostileTest, RequestBeforeAuthIsClosedAndSpawnsNothing) {
  Raw r(daemon_->port());
  ASSERT_TRUE(r.c.send(execRequestFrame(dir_.file("marker"))));
  EXPECT_TRUE(r.c.waitClosed());
  EXPECT_FALSE(exists(dir_.file("marker")));
  EXPECT_TRUE(daemon_->waitForLog({"protocol error", "the first message must be AuthResponse"}));
  EXPECT_EQ(daemon_->countLog("started pid"), 0u);
  expectStillServing(*this, runRemote({"echo", "still serving"}));
}

TEST_F(HostileTest, ClientThatConnectsAndLeavesIsForgotten) {
  for (int i = 0; i < 20; ++i) {
    TlsTestClient c(daemon_->port());
    ASSERT_TRUE(c.connected());
  }
  expectStillServing(*this, runRemote({"echo", "still serving"}));
}

TEST_F(HostileTest, PlaintextInsteadOfTlsIsClosed) {
  const int fd = connectLoopback(daemon_->port());
  ASSERT_GE(fd, 0);
  // A plaintext protocol frame where a TLS ClientHello belongs.
  const std::string frame = execRequestFrame(dir_.file("marker"));
  ASSERT_EQ(::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL), static_cast<ssize_t>(frame.size()));
  EXPECT_TRUE(readUntilClosed(fd).second);
  close(fd);
  EXPECT_FALSE(exists(dir_.file("marker")));
  EXPECT_TRUE(daemon_->waitForLog({"TLS handshake failed"}));
  expectStillServing(*this, runRemote({"echo", "still serving"}));
}

TEST_F(HostileTest, TwoHundredConcurrentClientsAllCorrect) {
  constexpr int kClients = 200;
  std::vector<std::unique_ptr<Subprocess>> clients;
  for (int i = 0; i < kClients; ++i) {
    Subprocess::Options o;
    o.stdin_data = "input-" + std::to_string(i) + "\n";
    clients.push_back(std::make_unique<Subprocess>(
        // 200 TLS handshakes at once on 2 loaded cores (or under ASan) can be slow; this test is
        // about correctness, not latency.
        rexec({"sh", "-c", "echo out-$0; cat; echo err-$0 >&2; exit $(($0 % 7))", std::to_string(i)},
              {"--connect-timeout", "120"}),
        o));
  }
  int good = 0;
  for (int i = 0; i < kClients; ++i) {
    auto r = clients[i]->wait();
    const std::string n = std::to_string(i);
    const bool ok =
        r.exit_code == i % 7 && r.out == "out-" + n + "\ninput-" + n + "\n" && r.err == "err-" + n + "\n";
    EXPECT_TRUE(ok) << "client " << i << ": exit " << r.exit_code << " out " << r.out << " err " << r.err;
    good += ok;
  }
  EXPECT_EQ(good, kClients);
}

}  // namespace
}  // namespace rxtest
