// Per-key options of the authorized keys file (THREATS row 14), through the real rexecd and
// rexec: each test starts its own daemon whose only key carries the options under test.
#include <unistd.h>

#include <map>

#include "common/auth_proof.h"
#include "common/frame_codec.h"
#include "common/key_file.h"
#include "common/limits.h"
#include "tests/integration/fixture.h"

namespace rxtest {
namespace {

class KeyOptionsTest : public RexecTest {
 protected:
  // Each test starts its daemon itself, with its own options on the key's line.
  void SetUp() override {}

  std::string authorizedKeys() const { return dir_.file("authorized_keys"); }

  // A new client key whose authorized keys line is `options` + " " + the key.
  std::string writeKeyWithOptions(const std::string& options, const std::string& header = "") {
    key_ = dir_.file("id");
    const std::string line = options + " " + makeKey(key_);
    writeFile(authorizedKeys(), header + line, 0600);
    return line;
  }

  void startWithOptions(const std::string& options) {
    writeKeyWithOptions(options);
    daemon_ = std::make_unique<Daemon>(authorizedKeys(), dir_.path(), daemonOptions());
    writeFile(knownHosts(),
              "[127.0.0.1]:" + std::to_string(daemon_->port()) + " " + daemon_->fingerprint() + "\n");
  }

  // rexecd with the authorized keys as they are now, expected to refuse to start.
  Subprocess::Result runDaemonExpectingRefusal() {
    Subprocess p({rexecdPath(), "--listen", "127.0.0.1:0", "--authorized-keys", authorizedKeys(),
                  "--host-key", dir_.file("host_key")});
    return p.wait(30s);  // a daemon that started anyway is killed at the deadline, and the test fails
  }

  bool exists(const std::string& path) const { return ::access(path.c_str(), F_OK) == 0; }
};

// --- command= ---

TEST_F(KeyOptionsTest, ForcedCommandRunsInsteadOfTheRequest) {
  startWithOptions(R"(command="echo forced: $REXEC_ORIGINAL_COMMAND")");
  const std::string marker = dir_.file("MARKER");
  auto r = runRemote({"touch", marker});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "forced: touch " + marker + "\n");
  EXPECT_FALSE(exists(marker)) << "the requested command must never run";
  // The audit line shows what ran and what was asked for.
  EXPECT_TRUE(daemon_->waitForLog(
      {"audit", R"(argv=sh -c ["echo forced: $REXEC_ORIGINAL_COMMAND"] requested=["touch",")", "exit=0"}));
}

TEST_F(KeyOptionsTest, ForcedCommandAlsoReplacesAShellRequest) {
  startWithOptions(R"(command="echo \"forced [$REXEC_ORIGINAL_COMMAND]\"")");
  const std::string marker = dir_.file("MARKER");
  auto r = runRemote({"touch " + marker + " && echo ran"}, {"--sh"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "forced [touch " + marker + " && echo ran]\n");
  EXPECT_FALSE(exists(marker));
}

TEST_F(KeyOptionsTest, ForcedCommandIgnoresLdPreloadAndTheClientsDirectory) {
  startWithOptions(R"(command="env; pwd")");
  auto r = runRemote({"id"}, {"--env", "LD_PRELOAD=/tmp/evil.so", "--env", "LANG=C", "--cwd", dir_.path()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("LD_PRELOAD"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("LANG=C\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("REXEC_ORIGINAL_COMMAND=id\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(dir_.path() + "\n"), std::string::npos)
      << "a forced command starts at home: " << r.out;
  EXPECT_TRUE(daemon_->waitForLog({"ignoring environment variable LD_PRELOAD"}));
}

// --- from= ---

TEST_F(KeyOptionsTest, FromElsewhereIsRefusedLikeABadKeyAndNothingRuns) {
  startWithOptions(R"(from="10.0.0.0/8")");
  const std::string marker = dir_.file("MARKER");
  auto r = runRemote({"touch", marker});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("authentication failed"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("from"), std::string::npos) << "the client learns nothing more: " << r.err;
  EXPECT_FALSE(exists(marker));
  EXPECT_TRUE(
      daemon_->waitForLog({"authentication failed", "source address 127.0.0.1 is not allowed by from="}));
  EXPECT_EQ(daemon_->countLog("audit"), 0u);
}

TEST_F(KeyOptionsTest, FromInsideTheBlockIsAccepted) {
  startWithOptions(R"(from="::1,127.0.0.0/8")");
  const std::string marker = dir_.file("MARKER");
  auto r = runRemote({"touch", marker});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(exists(marker));
}

// --- no-stdin ---

TEST_F(KeyOptionsTest, NoStdinGivesTheCommandDevNull) {
  startWithOptions("no-stdin");
  Subprocess::Options in;
  in.stdin_data = "this must not arrive\n";
  auto r = runRemote({"sh", "-c", "cat; echo end; readlink /proc/self/fd/0"}, {}, in);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "end\n/dev/null\n");
}

// --- max-jobs ---

TEST_F(KeyOptionsTest, MaxJobsRefusesTheCommandOverTheLimitOnOneConnection) {
  startWithOptions("max-jobs=1");
  rx::ClientKey key;
  ASSERT_TRUE(rx::loadKeyFile(key_, key));
  TlsTestClient c(daemon_->port());
  ASSERT_TRUE(authenticateRaw(c, key));
  // Command 1 waits for its stdin, so it still runs when command 2 arrives.
  c.send(execFrame(1, {"sh", "-c", "read x; echo got-$x"}, true) + execFrame(2, {"true"}, false));
  rxpb::v1::Frame f;
  ASSERT_TRUE(c.next(f));
  ASSERT_TRUE(f.has_exec_result()) << f.msg_case();
  EXPECT_EQ(f.exec_result().exec_id(), 2u);
  EXPECT_EQ(f.exec_result().start_failed().reason(), rxpb::v1::StartFailed::REFUSED);
  EXPECT_EQ(f.exec_result().start_failed().message(),
            "too many commands on one connection (limit 1 for this key)");

  rxpb::v1::Frame data;
  data.mutable_stdin_data()->set_exec_id(1);
  data.mutable_stdin_data()->set_data("A\n");
  rxpb::v1::Frame close;
  close.mutable_stdin_close()->set_exec_id(1);
  c.send(rx::encodeFrame(data) + rx::encodeFrame(close));
  std::string out;
  while (c.next(f) && !f.has_exec_result()) {
    ASSERT_TRUE(f.has_output()) << f.msg_case();
    out += f.output().data();
  }
  ASSERT_TRUE(f.has_exec_result());
  EXPECT_EQ(f.exec_result().exec_id(), 1u);
  EXPECT_EQ(f.exec_result().exit_code(), 0);
  EXPECT_EQ(out, "got-A\n");

  // The limit counts commands at once: with command 1 done, the next one runs.
  c.send(execFrame(3, {"true"}, false));
  ASSERT_TRUE(c.next(f));
  ASSERT_TRUE(f.has_exec_result());
  EXPECT_EQ(f.exec_result().exec_id(), 3u);
  EXPECT_EQ(f.exec_result().exit_code(), 0);
  EXPECT_TRUE(daemon_->waitForLog({"audit", "exec=2", "too many commands"}));
}

// --- user= ---

TEST_F(KeyOptionsTest, UserNobodyRunsAsNobodyOrTheDaemonRefusesToStart) {
  if (::geteuid() == 0) {
    startWithOptions("user=nobody");
    auto r = runRemote({"sh", "-c", "id -u; id -g; id -G; echo $HOME $USER $LOGNAME; pwd"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    // No supplementary groups (libuv's setgroups(0)), and "/" for a home that does not exist.
    EXPECT_EQ(r.out, "65534\n65534\n65534\n/ nobody nobody\n/\n");
    EXPECT_TRUE(daemon_->waitForLog({"audit", "user=nobody", "exit=0"}));
    // The test's folder is root's, mode 0700: closed to nobody, although root could enter it.
    auto closed = runRemote({"touch", "marker"}, {"--cwd", dir_.path()});
    EXPECT_EQ(closed.exit_code, 255);
    EXPECT_NE(closed.err.find("may not use it"), std::string::npos) << closed.err;
    EXPECT_FALSE(exists(dir_.file("marker")));
  } else {
    // Another account than the daemon's own (the daemon may always name itself).
    const std::string other = ::geteuid() == 65534 ? "root" : "nobody";
    writeKeyWithOptions("user=" + other);
    auto r = runDaemonExpectingRefusal();
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find(authorizedKeys() + ":1: user=" + other + ": "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("not root"), std::string::npos) << r.err;
  }
}

// --- errors at start-up ---

TEST_F(KeyOptionsTest, UnknownOptionStopsTheDaemonWithFileAndLine) {
  writeKeyWithOptions("no-stdin,no-port-forwarding", "# the only key\n");
  auto r = runDaemonExpectingRefusal();
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(authorizedKeys() + ":2: unknown option \"no-port-forwarding\""), std::string::npos)
      << r.err;
}

TEST_F(KeyOptionsTest, MalformedOptionStopsTheDaemonWithFileLineAndOption) {
  writeKeyWithOptions(R"(from="10.0.0.1/8")");
  auto r = runDaemonExpectingRefusal();
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(authorizedKeys() + ":1: option from: \"10.0.0.1/8\": bits are set"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace rxtest
