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

using HostileTest = RexecTest;

class RawConnection {
 public:
  explicit RawConnection(uint16_t port) : fd_(connectLoopback(port)) {}
  ~RawConnection() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  // Reads the server's first frame, the challenge.
  bool readChallenge(rxpb::v1::AuthChallenge& challenge) {
    rx::FrameDecoder dec(rx::kMaxFramePostAuth);
    char buf[4096];
    rxpb::v1::Frame f;
    for (int i = 0; i < 100; ++i) {
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return false;
      dec.feed(std::string_view(buf, static_cast<size_t>(n)));
      const auto r = dec.next(f);
      if (r == rx::FrameDecoder::Result::Error) return false;
      if (r == rx::FrameDecoder::Result::Frame) {
        challenge = f.auth_challenge();
        return f.has_auth_challenge();
      }
    }
    return false;
  }
  void sendBytes(const std::string& bytes) {
    ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  }
  // Everything the server sends until it closes; `closed` false means it did not close in time.
  std::pair<std::string, bool> drain() { return readUntilClosed(fd_); }

 private:
  int fd_;
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
  auto r = run({rexecPath(), "-i", other, daemon_->target(), "touch", dir_.file("marker")});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("rexec: 127.0.0.1: authentication refused by the server"), std::string::npos) << r.err;
  EXPECT_FALSE(exists(dir_.file("marker")));
  EXPECT_TRUE(daemon_->waitForLog({"authentication failed", "unknown key"}));
  EXPECT_EQ(daemon_->countLog("started pid"), 0u);
  expectStillServing(*this, runRemote({"echo", "still serving"}));
}

TEST_F(HostileTest, ForgedProofForAKnownKeyIdIsRefused) {
  RawConnection c(daemon_->port());
  ASSERT_TRUE(c.ok());
  rxpb::v1::AuthChallenge ch;
  ASSERT_TRUE(c.readChallenge(ch));
  rx::HmacKey real;
  ASSERT_TRUE(rx::loadKeyFile(key_, real));
  rx::HmacKey forged = rx::generateHmacKey("forged");
  rxpb::v1::Frame f;
  auto* a = f.mutable_auth_response();
  a->set_protocol_version(rx::kProtocolVersion);
  a->set_key_id(real.key_id);  // a real id, but a proof made with another secret
  a->set_client_nonce(rx::randomBytes(32));
  a->set_proof(rx::computeProof(rx::ProofRole::Client, forged.secret,
                                {ch.server_nonce(), a->client_nonce(), real.key_id}));
  c.sendBytes(rx::encodeFrame(f) + execRequestFrame(dir_.file("marker")));
  auto [got, closed] = c.drain();
  EXPECT_TRUE(closed);
  EXPECT_FALSE(exists(dir_.file("marker")));
  EXPECT_TRUE(daemon_->waitForLog({"authentication failed", "bad proof"}));
  expectStillServing(*this, runRemote({"echo", "still serving"}));
}

TEST_F(HostileTest, GarbageIsClosed) {
  RawConnection c(daemon_->port());
  ASSERT_TRUE(c.ok());
  rxpb::v1::AuthChallenge ch;
  ASSERT_TRUE(c.readChallenge(ch));
  c.sendBytes(std::string("\x05garbage-not-protobuf\xff\xff\xff", 24));
  EXPECT_TRUE(c.drain().second);
  EXPECT_TRUE(daemon_->waitForLog({"protocol error"}));
  expectStillServing(*this, runRemote({"echo", "still serving"}));
}

TEST_F(HostileTest, HugeLengthIsClosedWithoutAllocating) {
  const long rss_before = rssKiB(daemon_->pid()).value_or(0);
  for (const std::string& prefix :
       {std::string("\xff\xff\xff\xff\x0f", 5), std::string("\xff\xff\xff\xff\xff\x01", 6)}) {
    RawConnection c(daemon_->port());
    ASSERT_TRUE(c.ok());
    rxpb::v1::AuthChallenge ch;
    ASSERT_TRUE(c.readChallenge(ch));
    c.sendBytes(prefix);
    EXPECT_TRUE(c.drain().second);
  }
  EXPECT_TRUE(daemon_->waitForLog({"protocol error", "larger than the limit of 16384"}));
  EXPECT_TRUE(daemon_->waitForLog({"protocol error", "malformed frame length"}));
  EXPECT_LT(rssKiB(daemon_->pid()).value_or(0) - rss_before, 4096) << "RSS grew by MiBs";
  expectStillServing(*this, runRemote({"echo", "still serving"}));
}

TEST_F(HostileTest, FrameJustOverThePreAuthLimitIsClosed) {
  RawConnection c(daemon_->port());
  ASSERT_TRUE(c.ok());
  rxpb::v1::AuthChallenge ch;
  ASSERT_TRUE(c.readChallenge(ch));
  // Length 16385 (varint 81 80 01), then nothing: the limit is checked on the prefix alone.
  c.sendBytes(std::string("\x81\x80\x01", 3));
  EXPECT_TRUE(c.drain().second);
  expectStillServing(*this, runRemote({"echo", "still serving"}));
}

TEST_F(HostileTest, RequestBeforeAuthIsClosedAndSpawnsNothing) {
  RawConnection c(daemon_->port());
  ASSERT_TRUE(c.ok());
  rxpb::v1::AuthChallenge ch;
  ASSERT_TRUE(c.readChallenge(ch));
  c.sendBytes(execRequestFrame(dir_.file("marker")));
  auto [got, closed] = c.drain();
  EXPECT_TRUE(closed);
  EXPECT_FALSE(exists(dir_.file("marker")));
  EXPECT_TRUE(daemon_->waitForLog({"protocol error", "the first message must be AuthResponse"}));
  EXPECT_EQ(daemon_->countLog("started pid"), 0u);
  expectStillServing(*this, runRemote({"echo", "still serving"}));
}

TEST_F(HostileTest, ClientThatConnectsAndLeavesIsForgotten) {
  for (int i = 0; i < 20; ++i) {
    RawConnection c(daemon_->port());
    ASSERT_TRUE(c.ok());
  }
  expectStillServing(*this, runRemote({"echo", "still serving"}));
}

TEST_F(HostileTest, TwoHundredConcurrentClientsAllCorrect) {
  constexpr int kClients = 200;
  std::vector<std::unique_ptr<Subprocess>> clients;
  for (int i = 0; i < kClients; ++i) {
    Subprocess::Options o;
    o.stdin_data = "input-" + std::to_string(i) + "\n";
    clients.push_back(std::make_unique<Subprocess>(
        rexec({"sh", "-c", "echo out-$0; cat; echo err-$0 >&2; exit $(($0 % 7))", std::to_string(i)}), o));
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
