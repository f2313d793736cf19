// The spawn helper (daemon/spawner.h): rexecd's only child, the parent of every command; its
// loss is loud and repaired; it ends with the daemon.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "tests/integration/fixture.h"

namespace rxtest {
namespace {

class SpawnHelperTest : public RexecTest {
 protected:
  // A command that runs until killed, a `sh` and a `sleep` in one process group, its client
  // waiting with stdin open; `pgid` is the group, from the daemon's log (`marker` finds the line).
  std::unique_ptr<Subprocess> startSleeper(const std::string& marker, pid_t& pgid) {
    Subprocess::Options o;
    o.keep_stdin_open = true;
    auto client =
        std::make_unique<Subprocess>(rexec({"sh", "-c", "echo ready; sleep " + marker + " & wait"}), o);
    pgid = client->waitForStdout("ready\n") ? startedPid(*daemon_, marker) : -1;
    return client;
  }
};

// The daemon's children: its spawn helper, and nothing else.
std::vector<ProcInfo> childrenOf(pid_t parent) {
  std::vector<ProcInfo> out;
  for (auto& p : processes())
    if (p.ppid == parent && p.state != 'Z') out.push_back(p);
  return out;
}

pid_t helperOf(Daemon& d) {
  const auto children = childrenOf(d.pid());
  if (children.size() != 1 || children[0].cmdline.find("--spawn-helper") == std::string::npos) return -1;
  return children[0].pid;
}

TEST_F(SpawnHelperTest, TheHelperIsTheDaemonsOnlyChildAndEveryCommandsParent) {
  // Started with the daemon, before any command.
  const pid_t helper = helperOf(*daemon_);
  ASSERT_GT(helper, 0) << "one child, rexecd --spawn-helper";
  Subprocess::Options o;
  o.keep_stdin_open = true;
  Subprocess client(rexec({"sh", "-c", "echo ready; exec sleep 317.101"}), o);
  ASSERT_TRUE(client.waitForStdout("ready\n"));
  const pid_t cmd = startedPid(*daemon_, "317.101");
  ASSERT_GT(cmd, 0);
  bool found = false;
  for (auto& p : childrenOf(helper)) {
    if (p.pid != cmd) continue;
    found = true;
    EXPECT_EQ(p.pgid, cmd) << "the command leads its own process group";
  }
  EXPECT_TRUE(found) << "the command is the helper's child";
  EXPECT_EQ(helperOf(*daemon_), helper) << "still the daemon's only child";
  client.signal(SIGINT);
  EXPECT_EQ(client.wait().exit_code, 130);
}

TEST_F(SpawnHelperTest, ACommandCannotReachTheHelpersSockets) {
  // The helper takes requests from whoever holds its socket: a command holding it could start
  // anything as any user. Its stdio are pipes (or /dev/null); no socket at all may be open in it.
  const auto r = runRemote({"sh", "-c", kListOwnFds});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("/fd/0 "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("socket:"), std::string::npos) << r.out;
  // Nor in a command on a terminal (whose start also takes the terminal as controlling terminal).
  const auto t = runRemote({"sh", "-c", kListOwnFds}, {"-tt"});
  EXPECT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("/fd/0 "), std::string::npos) << t.out;
  EXPECT_EQ(t.out.find("socket:"), std::string::npos) << t.out;
}

TEST_F(SpawnHelperTest, ALostHelperFailsItsCommandsLoudlyKillsThemAndIsReplaced) {
  const pid_t helper = helperOf(*daemon_);
  ASSERT_GT(helper, 0);
  pid_t cmd = -1;
  const auto client = startSleeper("318.101", cmd);
  ASSERT_GT(cmd, 0);

  ASSERT_EQ(::kill(helper, SIGKILL), 0);
  // No exit status can come for the command any more: the client says so, with rexec's own
  // failure status, instead of a made-up outcome.
  const auto r = client->wait();
  EXPECT_EQ(r.exit_code, 255) << r.err;
  EXPECT_NE(r.err.find("lost track of command"), std::string::npos) << r.err;
  // Nothing of it runs on untracked.
  EXPECT_TRUE(waitGroupGone(cmd)) << "the command's process group was killed";
  EXPECT_TRUE(daemon_->waitForLog({"spawn helper", "killed by signal 9"}));

  // The daemon goes on: the next command gets a new helper.
  const auto next = runRemote({"echo", "after"});
  EXPECT_EQ(next.exit_code, 0) << next.err;
  EXPECT_EQ(next.out, "after\n");
  const pid_t replacement = helperOf(*daemon_);
  EXPECT_GT(replacement, 0);
  EXPECT_NE(replacement, helper);
}

TEST_F(SpawnHelperTest, AStartTheHelperHasNotAnsweredHoldsUpNoOtherSession) {
  // rexecd does not wait for the helper's answer (daemon/spawner.h). Here the helper is stopped,
  // as a start from hung storage would hold it: while one client's command waits for it, other
  // clients are served, from the TLS handshake to a refused command's answer.
  const pid_t helper = helperOf(*daemon_);
  ASSERT_GT(helper, 0);
  ASSERT_EQ(::kill(helper, SIGSTOP), 0);
  Subprocess waiting(rexec({"echo", "late"}));
  ASSERT_TRUE(daemon_->waitForLog({"authenticated with key"}));
  const auto refused = runRemote({"true"}, {"--cwd", "/no/such/dir/321"});
  EXPECT_EQ(refused.exit_code, 255) << refused.err;
  EXPECT_NE(refused.err.find("no such directory"), std::string::npos) << refused.err;
  const std::string other = dir_.file("other-key");
  makeKey(other, "stranger");
  const auto stranger =
      run({rexecPath(), "-i", other, "--known-hosts", knownHosts(), daemon_->target(), "true"});
  EXPECT_EQ(stranger.exit_code, 255) << stranger.err;
  EXPECT_NE(stranger.err.find("authentication refused"), std::string::npos) << stranger.err;
  // All of that while the first command was still waiting: had the daemon waited for the helper,
  // neither could have been answered before it (or its 60 s limit).
  EXPECT_EQ(daemon_->countLog("started pid"), 0u);
  ASSERT_EQ(::kill(helper, SIGCONT), 0);
  const auto r = waiting.wait();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "late\n");
}

TEST_F(SpawnHelperTest, AHelperLostWhileIdleIsReplacedForTheNextCommand) {
  const pid_t helper = helperOf(*daemon_);
  ASSERT_GT(helper, 0);
  ASSERT_EQ(::kill(helper, SIGKILL), 0);
  ASSERT_TRUE(daemon_->waitForLog({"spawn helper", "killed by signal 9"}));
  EXPECT_TRUE(daemon_->waitForLog({"spawn helper", "0 running command(s) lost"}));
  const auto r = runRemote({"echo", "fine"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "fine\n");
}

TEST_F(SpawnHelperTest, TheHelperEndsWithTheDaemon) {
  const pid_t helper = helperOf(*daemon_);
  ASSERT_GT(helper, 0);
  EXPECT_EQ(daemon_->stop(), 0);
  EXPECT_TRUE(waitProcessGone(helper)) << "the helper exits when rexecd stops";
  daemon_.reset();
}

TEST_F(SpawnHelperTest, TheHelperEndsWhenTheDaemonIsKilled) {
  const pid_t helper = helperOf(*daemon_);
  ASSERT_GT(helper, 0);
  daemon_->kill9();
  // End of file on its request socket: nothing is left behind.
  EXPECT_TRUE(waitProcessGone(helper)) << "the helper exits when rexecd dies";
  daemon_.reset();
}

TEST_F(SpawnHelperTest, ADaemonThatDiesLeavesNoCommandRunning) {
  // rexecd killed (a crash): nobody can report these commands' output or end any more, and one
  // left running would be an orphan. Its helper sees end of file and kills the process group of
  // every command it started that still runs.
  const pid_t helper = helperOf(*daemon_);
  ASSERT_GT(helper, 0);
  pid_t cmd = -1;
  const auto client = startSleeper("323.101", cmd);
  ASSERT_GT(cmd, 0);
  daemon_->kill9();
  EXPECT_TRUE(waitGroupGone(cmd)) << "the command's whole group (the sleep too) was killed";
  EXPECT_TRUE(waitProcessGone(helper));
  const auto r = client->wait();
  EXPECT_EQ(r.exit_code, 255) << r.err;
  EXPECT_NE(r.err.find("connection lost before the command finished"), std::string::npos) << r.err;
  daemon_.reset();
}

TEST_F(SpawnHelperTest, RunByHandItRefusesAtOnce) {
  // Without rexecd's sockets on fds 3 and 4 there is nothing to serve: a clear line, exit 2.
  const auto r = run({rexecdPath(), "--spawn-helper"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("spawn helper"), std::string::npos) << r.err;
}

// Descriptors rexecd inherited from whatever started it (here a pipe at fd 9, unannounced) are
// its own: neither the helper nor a command gets them.
class StrayDescriptorTest : public RexecTest {
 public:
  Daemon::Options daemonOptions() override {
    if (::pipe2(stray_, O_CLOEXEC) != 0) ADD_FAILURE() << "pipe2";
    Daemon::Options o;
    o.stray_fd = stray_[0];
    return o;
  }
  ~StrayDescriptorTest() override {
    for (int fd : stray_)
      if (fd >= 0) ::close(fd);
  }
  static std::string linkOf(const std::string& path) {
    char buf[256];
    const ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }
  static std::string fdsOf(pid_t pid) {
    std::string all;
    for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
      all += e.path().filename().string() + " " + linkOf(e.path()) + "\n";
    return all;
  }
  int stray_[2] = {-1, -1};
};

TEST_F(StrayDescriptorTest, AnInheritedDescriptorReachesNeitherTheHelperNorACommand) {
  const std::string pipe = linkOf("/proc/self/fd/" + std::to_string(stray_[0]));
  ASSERT_EQ(pipe.rfind("pipe:[", 0), 0u) << pipe;
  EXPECT_NE(fdsOf(daemon_->pid()).find("9 " + pipe + "\n"), std::string::npos)
      << "the daemon holds it (else this test shows nothing): " << fdsOf(daemon_->pid());
  const pid_t helper = helperOf(*daemon_);
  ASSERT_GT(helper, 0);
  EXPECT_EQ(fdsOf(helper).find(pipe), std::string::npos) << fdsOf(helper);
  for (const std::vector<std::string>& opts : {std::vector<std::string>{}, std::vector<std::string>{"-tt"}}) {
    const auto r = runRemote({"sh", "-c", kListOwnFds}, opts);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("/fd/0 "), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find(pipe), std::string::npos) << r.out;
  }
}

}  // namespace
}  // namespace rxtest
