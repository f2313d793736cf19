// rexecd's limits against abuse (THREATS.md rows 7, 8 and 11): each set small on the command line
// of a real daemon, hit by a real client, seen acting in the log, and followed by a well-behaved
// client that is still served.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>

#include "common/auth_proof.h"
#include "common/frame_codec.h"
#include "common/key_file.h"
#include "common/limits.h"
#include "tests/integration/fixture.h"

namespace rxtest {
namespace {

// "127.0.0.1:PORT" of our end of `fd`, as the daemon logs its peer.
std::string localAddress(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
}

Daemon::Options withArgs(std::vector<std::string> args) {
  Daemon::Options o;
  o.extra_args = std::move(args);
  return o;
}

// A raw TCP connection the daemon has accepted and admitted (it logged it).
struct AdmittedSocket {
  AdmittedSocket(Daemon& d) : fd(connectLoopback(d.port())) {
    EXPECT_GE(fd, 0);
    addr = localAddress(fd);
    EXPECT_TRUE(d.waitForLog({addr + ": connected"})) << addr;
  }
  ~AdmittedSocket() {
    if (fd >= 0) close(fd);
  }
  int fd;
  std::string addr;
};

// Connects and expects to be closed at once, unread: EOF or a reset, never a TLS reply.
std::string expectRefused(uint16_t port) {
  const int fd = connectLoopback(port);
  EXPECT_GE(fd, 0);
  const std::string addr = localAddress(fd);
  const auto [got, closed] = readUntilClosed(fd);
  EXPECT_TRUE(closed) << addr << " was not closed";
  EXPECT_EQ(got, "") << addr;
  close(fd);
  return addr;
}

size_t count(const std::vector<std::string>& lines, const std::string& needle) {
  size_t n = 0;
  for (const auto& l : lines) n += l.find(needle) != std::string::npos;
  return n;
}

// ---------------------------------------------------------------- THREATS row 7

class PenaltyTest : public RexecTest {
 protected:
  Daemon::Options daemonOptions() override { return withArgs({"--auth-penalty", "1"}); }
};

TEST_F(PenaltyTest, FailedAuthenticationsBarTheSourceUntilThePenaltyEnds) {
  const std::string intruder = dir_.file("intruder");
  makeKey(intruder, "intruder");
  const auto wrongKey = [&] {
    return run({rexecPath(), "-i", intruder, "--known-hosts", knownHosts(), daemon_->target(), "true"});
  };
  // The client tells a failed authentication from a connection closed before the handshake.
  const auto authRefused = [](const Subprocess::Result& r) {
    return r.err.find("authentication refused by the server") != std::string::npos;
  };

  // First failure: a penalty of 1 s.
  auto r = wrongKey();
  EXPECT_EQ(r.exit_code, 255);
  ASSERT_TRUE(authRefused(r)) << r.err;
  ASSERT_TRUE(daemon_->waitForLog({"source 127.0.0.1 penalized for 1 s after failed authentication"}));

  // The attempt right after it is refused before any handshake. A raw connection from this
  // process: a new client's start-up under ASan on a loaded machine took longer than the 1 s.
  expectRefused(daemon_->port());
  EXPECT_TRUE(
      daemon_->waitForLog({"source 127.0.0.1 refused: penalty for failed authentication,", "s left"}));

  // Second failure, once the daemon takes an attempt again: each try follows the refusal of the one
  // before; the refusals themselves do not extend the penalty.
  const auto deadline = Clock::now() + 60s;
  for (int i = 0; i < 5000 && Clock::now() < deadline; ++i) {
    r = wrongKey();
    EXPECT_EQ(r.exit_code, 255) << r.err;
    if (authRefused(r)) break;
  }
  ASSERT_TRUE(authRefused(r)) << "the penalty never ended: " << r.err;
  ASSERT_TRUE(daemon_->waitForLog({"source 127.0.0.1 penalized for 2 s after failed authentication"}))
      << "the second failure doubles the penalty";

  // Any connection from the source is refused while the penalty lasts, before any handshake, so
  // whatever key it would bring (raw again, for the same reason)...
  const std::string refusal = "source 127.0.0.1 refused: penalty for failed authentication,";
  const size_t refusals = daemon_->countLog(refusal);
  expectRefused(daemon_->port());
  EXPECT_TRUE(daemon_->waitForLogState(
      [&](const std::vector<std::string>& lines) { return count(lines, refusal) > refusals; }));

  // ...and the right key is served once it has ended (refusals before that are not
  // authentication failures to the client).
  for (int i = 0; i < 5000 && Clock::now() < deadline; ++i) {
    r = runRemote({"echo", "served"});
    if (r.exit_code == 0) break;
    EXPECT_EQ(r.exit_code, 255) << r.err;
    EXPECT_FALSE(authRefused(r)) << r.err;
  }
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "served\n");
  EXPECT_TRUE(daemon_->waitForLog({"authenticated with key"}));
}

// ---------------------------------------------------------------- THREATS row 8

class StartupsTest : public RexecTest {
 protected:
  Daemon::Options daemonOptions() override {
    return withArgs({"--max-startups", "1:100:1", "--login-grace-time", "2"});
  }
};

TEST_F(StartupsTest, SlowClientIsClosedAfterTheGraceAndTheOneOverTheCapAtOnce) {
  AdmittedSocket slow(*daemon_);
  ASSERT_EQ(send(slow.fd, "\x16", 1, MSG_NOSIGNAL), 1);  // the first byte of a TLS record, then nothing

  const std::string over = expectRefused(daemon_->port());
  EXPECT_TRUE(
      daemon_->waitForLog({over + " refused: 1 unauthenticated connections (--max-startups 1:100:1)"}));

  EXPECT_TRUE(readUntilClosed(slow.fd).second) << "the daemon closes the slow client after the grace";
  EXPECT_TRUE(
      daemon_->waitForLog({slow.addr + ": not authenticated within the login grace time (2 s); closing"}));

  const auto r = runRemote({"echo", "served"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "served\n");
}

class GraceTest : public RexecTest {
 protected:
  Daemon::Options daemonOptions() override { return withArgs({"--login-grace-time", "1"}); }
};

TEST_F(GraceTest, AuthenticatedConnectionsOutliveTheGrace) {
  Subprocess::Options o;
  o.keep_stdin_open = true;
  Subprocess client(rexec({"sh", "-c", "cat >/dev/null; echo stdin-closed"}), o);
  ASSERT_GT(startedPid(*daemon_, "stdin-closed"), 0);
  // A connection accepted after the client's has its grace expire after the client's would have.
  AdmittedSocket later(*daemon_);
  EXPECT_TRUE(readUntilClosed(later.fd).second);
  EXPECT_TRUE(daemon_->waitForLog({later.addr + ": not authenticated within the login grace time (1 s)"}));
  client.closeStdin();
  const auto r = client.wait();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "stdin-closed\n");
  EXPECT_EQ(daemon_->countLog("login grace time"), 1u);
}

class PerSourceTest : public RexecTest {
 protected:
  Daemon::Options daemonOptions() override { return withArgs({"--per-source-max-startups", "1"}); }
};

TEST_F(PerSourceTest, ConnectionOverThePerSourceCapIsClosedAtOnce) {
  {
    AdmittedSocket first(*daemon_);
    const std::string over = expectRefused(daemon_->port());
    EXPECT_TRUE(daemon_->waitForLog(
        {over +
         " refused: 1 unauthenticated connections from source 127.0.0.1 (--per-source-max-startups 1)"}));
    close(first.fd);
    first.fd = -1;
    ASSERT_TRUE(daemon_->waitForLog({first.addr + ": disconnected"}));
  }
  const auto r = runRemote({"echo", "served"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "served\n");
}

class MaxConnectionsTest : public RexecTest {
 protected:
  Daemon::Options daemonOptions() override { return withArgs({"--max-connections", "1"}); }
};

TEST_F(MaxConnectionsTest, AuthenticatedConnectionsCountAndAFloodIsLoggedBriefly) {
  Subprocess::Options o;
  o.keep_stdin_open = true;
  Subprocess client(rexec({"sh", "-c", "cat >/dev/null; echo stdin-closed"}), o);
  ASSERT_GT(startedPid(*daemon_, "stdin-closed"), 0);

  // 50 connections over the cap, one after the other: each closed at once. Their log lines are
  // throttled (10 per 10 s), so fewer than 50 appear unless this loop took over 40 s.
  constexpr int kFlood = 50;
  std::string first_over;
  for (int i = 0; i < kFlood; ++i) {
    const std::string addr = expectRefused(daemon_->port());
    if (i == 0) first_over = addr;
  }
  EXPECT_TRUE(daemon_->waitForLog({first_over + " refused: 1 connections open (--max-connections 1)"}));
  EXPECT_LT(daemon_->countLog("(--max-connections 1)"), static_cast<size_t>(kFlood));

  client.closeStdin();
  auto r = client.wait();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // The daemon has let go of that connection once it logged its end.
  ASSERT_TRUE(daemon_->waitForLogState([](const std::vector<std::string>& lines) {
    return count(lines, "closed by the client") + count(lines, ": disconnected") > 0;
  }));
  r = runRemote({"echo", "served"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "served\n");
}

// ---------------------------------------------------------------- THREATS row 11

class StallTest : public RexecTest {
 protected:
  Daemon::Options daemonOptions() override { return withArgs({"--stall-timeout", "2"}); }
};

TEST_F(StallTest, ClientThatNeverReadsIsClosedAndItsGroupKilled) {
  rx::ClientKey key;
  ASSERT_TRUE(rx::loadKeyFile(key_, key));
  {
    TlsTestClient c(daemon_->port());
    ASSERT_TRUE(authenticateRaw(c, key));
    ASSERT_TRUE(c.send(execFrame(1, {"head", "-c", "2000000000", "/dev/zero"})));
    // From here on nothing is read.
    const pid_t pgid = startedPid(*daemon_, "2000000000");
    ASSERT_GT(pgid, 0);
    ASSERT_TRUE(
        daemon_->waitForLog({"client stopped reading", "(--stall-timeout); terminating its commands"}));
    ASSERT_TRUE(daemon_->waitForLog({"audit", "terminated (client stopped reading)"}));
    ASSERT_TRUE(daemon_->waitForLog(
        {"pid " + std::to_string(pgid) + ": process group finished after its client went away"}));
    EXPECT_TRUE(waitGroupGone(pgid)) << "members of the group still alive";
    const auto peak = hwmKiB(daemon_->pid());
    ASSERT_TRUE(peak);
    EXPECT_LT(*peak, kRssBoundKiB) << "daemon peak RSS KiB with a client that never reads";
    EXPECT_TRUE(c.waitClosed());
  }
  const auto r = runRemote({"echo", "served"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "served\n");
}

// ---------------------------------------------------------------- per-command limits

class CommandLimitsTest : public RexecTest {
 protected:
  Daemon::Options daemonOptions() override {
    return withArgs(
        {"--max-argc", "3", "--max-argv-bytes", "64", "--max-env", "1", "--max-jobs-per-connection", "1"});
  }
};

TEST_F(CommandLimitsTest, ArgvAndEnvironmentLimitsAreTheOptions) {
  auto r = runRemote({"echo", "a", "b"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "a b\n");
  r = runRemote({"echo", "a", "b", "c"});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("argv too large (limits: 3 arguments, 64 bytes)"), std::string::npos) << r.err;
  r = runRemote({"echo", std::string(60, 'x')});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("argv too large"), std::string::npos) << r.err;
  r = runRemote({"true"}, {"--env", "LANG=C.UTF-8"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = runRemote({"true"}, {"--env", "LANG=C.UTF-8", "--env", "TZ=UTC"});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("too many environment variables (limit 1)"), std::string::npos) << r.err;
  EXPECT_EQ(daemon_->countLog("started pid"), 2u);
}

TEST_F(CommandLimitsTest, JobsPerConnectionIsTheOption) {
  rx::ClientKey key;
  ASSERT_TRUE(rx::loadKeyFile(key_, key));
  TlsTestClient c(daemon_->port());
  ASSERT_TRUE(authenticateRaw(c, key));
  ASSERT_TRUE(c.send(execFrame(1, {"cat"}, true) + execFrame(2, {"true"})));
  rxpb::v1::Frame f;
  ASSERT_TRUE(c.next(f));
  ASSERT_TRUE(f.has_exec_result()) << f.msg_case();
  EXPECT_EQ(f.exec_result().exec_id(), 2u);
  EXPECT_EQ(f.exec_result().start_failed().reason(), rxpb::v1::StartFailed::REFUSED);
  EXPECT_EQ(f.exec_result().start_failed().message(), "too many commands on one connection (limit 1)");
  rxpb::v1::Frame close1;
  close1.mutable_stdin_close()->set_exec_id(1);
  ASSERT_TRUE(c.send(rx::encodeFrame(close1)));
  ASSERT_TRUE(c.next(f));
  ASSERT_TRUE(f.has_exec_result()) << f.msg_case();
  EXPECT_EQ(f.exec_result().exec_id(), 1u);
  EXPECT_EQ(f.exec_result().exit_code(), 0);
}

// ---------------------------------------------------------------- the command line

TEST(DaemonCommandLine, BadLimitIsOneLineAndExitTwo) {
  TempDir dir;
  for (const std::vector<std::string>& bad : {std::vector<std::string>{"--max-startups", "100:30:10"},
                                              {"--login-grace-time", "0"},
                                              {"--max-connections", "-1"},
                                              {"--stall-timeout", "soon"}}) {
    std::vector<std::string> argv{rexecdPath(), "--authorized-keys", dir.file("none"), "--host-key",
                                  dir.file("host_key")};
    argv.insert(argv.end(), bad.begin(), bad.end());
    const auto r = run(argv);
    EXPECT_EQ(r.exit_code, 2) << bad[0];
    EXPECT_EQ(r.err.rfind("rexecd: " + bad[0] + ": '" + bad[1] + "'", 0), 0u) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
  }
}

}  // namespace
}  // namespace rxtest
