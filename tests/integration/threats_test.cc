// THREATS.md rows that need a man in the middle, a replayed message or a fake server: each is
// attacked for real on loopback, and each time nothing runs and the client fails with its own
// transport code (255), never a success. (Other rows: see docs/SECURITY.md for their tests.)
#include <unistd.h>

#include "common/auth_proof.h"
#include "common/frame_codec.h"
#include "common/key_file.h"
#include "common/limits.h"
#include "tests/integration/fixture.h"
#include "tests/integration/proxy.h"

namespace rxtest {
namespace {

using ThreatTest = RexecTest;

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// Row 1: a relay terminates TLS on both sides and passes the auth messages through. The
// client was talked into trusting the relay's key (first use), yet its proof is bound to the
// client-relay TLS session, so the daemon refuses it.
TEST_F(ThreatTest, Row1RelayedAuthenticationIsRefused) {
  TlsRelay relay(daemon_->port());
  const std::string marker = dir_.file("marker");
  auto r = run({rexecPath(), "-i", key_, "--known-hosts", dir_.file("kh-relay"), "--accept-new",
                "127.0.0.1:" + std::to_string(relay.port()), "touch", marker});
  EXPECT_EQ(r.exit_code, 255) << r.err;
  EXPECT_NE(r.err.find("authentication refused"), std::string::npos) << r.err;
  EXPECT_TRUE(daemon_->waitForLog({"authentication failed", "bad proof"}));
  EXPECT_FALSE(exists(marker));
  EXPECT_EQ(daemon_->countLog("started pid"), 0u);
}

// Row 2: one flipped byte after the handshake, in either direction, aborts the connection.
// `first_chunk`: flip the last byte of the first chunk in that direction instead of the next
// one. Towards the client, the first chunk is the server's handshake flight, which ends with the
// AuthChallenge record (0.5-RTT data); the next one is the AuthResult, which comes after the
// client has sent its request.
void flipAfterHandshake(ThreatTest& t, Direction which, const std::vector<std::string>& command,
                        bool expect_marker_absent, bool first_chunk = false) {
  bool flipped = false;
  TcpProxy proxy(t.daemon_->port(), [&](Direction d, uint64_t offset, std::string& chunk) {
    // Offset 0 towards the server is the ClientHello; the first later chunk carries records.
    if (d == which && (first_chunk || offset > 0) && !flipped) {
      chunk[chunk.size() - 1] ^= 0x01;
      flipped = true;
    }
    return true;
  });
  auto r = run(t.rexecVia(proxy.port(), command));
  EXPECT_TRUE(flipped);
  EXPECT_EQ(r.exit_code, 255) << r.err;
  if (expect_marker_absent) {
    EXPECT_FALSE(exists(t.dir_.file("marker")));
  }
}

TEST_F(ThreatTest, Row2FlippedByteTowardsTheServerAborts) {
  flipAfterHandshake(*this, Direction::ToServer, {"touch", dir_.file("marker")}, true);
  EXPECT_TRUE(daemon_->waitForLog({"TLS"}));
  EXPECT_EQ(daemon_->countLog("started pid"), 0u);
}

TEST_F(ThreatTest, Row2FlippedByteTowardsTheClientAborts) {
  flipAfterHandshake(*this, Direction::ToClient, {"touch", dir_.file("marker")}, true, true);
  EXPECT_EQ(daemon_->countLog("started pid"), 0u);
}

TEST_F(ThreatTest, Row2FlippedAuthResultIsNeverSuccess) {
  // The request went out with the client's Finished, so the command may run; the client still
  // fails with its own code and never reports the command's success.
  flipAfterHandshake(*this, Direction::ToClient, {"true"}, false);
}

TEST_F(ThreatTest, Row2FlippedByteInTheMiddleOfOutputIsNeverSuccess) {
  bool flipped = false;
  TcpProxy proxy(daemon_->port(), [&](Direction d, uint64_t offset, std::string& chunk) {
    if (d == Direction::ToClient && offset > 500000 && !flipped) {
      chunk[chunk.size() / 2] ^= 0x40;
      flipped = true;
    }
    return true;
  });
  Subprocess::Options o;
  o.hash_stdout = true;
  auto r = run(rexecVia(proxy.port(), {"head", "-c", "4000000", "/dev/zero"}, {"-n"}), o);
  EXPECT_TRUE(flipped);
  EXPECT_EQ(r.exit_code, 255) << r.err;
  EXPECT_LT(r.out_bytes, 4000000u);
}

// Row 3: an AuthResponse captured on connection A and replayed on connection B is refused.
TEST_F(ThreatTest, Row3ReplayedAuthenticationIsRefused) {
  rx::ClientKey key;
  ASSERT_TRUE(rx::loadKeyFile(key_, key));
  std::string captured;
  {
    TlsTestClient a(daemon_->port());
    ASSERT_TRUE(a.handshake());
    rxpb::v1::Frame f;
    ASSERT_TRUE(a.next(f) && f.has_auth_challenge());
    const std::string nonce = rx::randomBytes(32);
    rxpb::v1::Frame auth;
    auto* r = auth.mutable_auth_response();
    r->set_protocol_version(rx::kProtocolVersion);
    r->set_key_id(key.key_id);
    r->set_client_nonce(nonce);
    r->set_proof(
        rx::clientProof(key, {f.auth_challenge().server_nonce(), nonce, a.channelBinding(), key.key_id}));
    captured = rx::encodeFrame(auth);
    ASSERT_TRUE(a.send(captured));
    ASSERT_TRUE(a.next(f) && f.has_auth_result());
    EXPECT_TRUE(f.auth_result().ok()) << "the original is fine on its own connection";
  }
  TlsTestClient b(daemon_->port());
  ASSERT_TRUE(b.handshake());
  rxpb::v1::Frame f;
  ASSERT_TRUE(b.next(f) && f.has_auth_challenge());
  rxpb::v1::Frame exec;
  exec.mutable_exec_request()->set_exec_id(1);
  exec.mutable_exec_request()->add_argv("touch");
  exec.mutable_exec_request()->add_argv(dir_.file("marker"));
  ASSERT_TRUE(b.send(captured + rx::encodeFrame(exec)));
  ASSERT_TRUE(b.next(f) && f.has_auth_result());
  EXPECT_FALSE(f.auth_result().ok());
  EXPECT_TRUE(b.waitClosed());
  EXPECT_FALSE(exists(dir_.file("marker")));
  EXPECT_EQ(daemon_->countLog("started pid"), 0u);
}

// Row 5: another server, with another key, on the same port: the client refuses it before
// sending anything of the protocol.
TEST_F(ThreatTest, Row5FakeServerOnTheSamePortIsRefused) {
  const uint16_t port = daemon_->port();
  ASSERT_EQ(daemon_->stop(), 0);
  TempDir other;
  writeFile(other.file("authorized_keys"), readFile(dir_.file("authorized_keys")));
  Daemon::Options o;
  o.listen = "127.0.0.1:" + std::to_string(port);
  Daemon fake(other.file("authorized_keys"), other.path(), o);
  ASSERT_NE(fake.fingerprint(), daemon_->fingerprint());
  auto r = runRemote({"touch", dir_.file("marker")});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("HOST KEY CHANGED"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(daemon_->fingerprint()), std::string::npos) << "shows the pinned key: " << r.err;
  EXPECT_NE(r.err.find(fake.fingerprint()), std::string::npos) << "shows the offered key: " << r.err;
  ASSERT_TRUE(fake.waitForLog({"disconnected"}));
  EXPECT_EQ(fake.countLog("authenticat"), 0u) << "no proof was sent to the fake server";
  EXPECT_EQ(fake.countLog("started pid"), 0u);
  EXPECT_FALSE(exists(dir_.file("marker")));
  EXPECT_EQ(fake.stop(), 0);
  daemon_.reset();
}

// Row 15: a connection cut in the middle of the output is never passed off as success.
TEST_F(ThreatTest, Row15ConnectionCutMidOutputIsNeverSuccess) {
  TcpProxy proxy(daemon_->port(), [](Direction d, uint64_t offset, std::string&) {
    return !(d == Direction::ToClient && offset > 300000);
  });
  Subprocess::Options o;
  o.hash_stdout = true;
  auto r = run(rexecVia(proxy.port(), {"head", "-c", "10000000", "/dev/zero"}, {"-n"}), o);
  EXPECT_EQ(r.exit_code, 255) << r.err;
  EXPECT_NE(r.err.find("connection lost before the command finished"), std::string::npos) << r.err;
  EXPECT_LT(r.out_bytes, 10000000u);
  // The daemon saw its client vanish and ended the command's group.
  EXPECT_TRUE(daemon_->waitForLog({"audit", "terminated (client disconnected)"}));
}

}  // namespace
}  // namespace rxtest
