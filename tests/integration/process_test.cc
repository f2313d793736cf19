// Process groups: timeouts, disconnects, forwarded signals, shutdown, zombies, truncation.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "tests/integration/fixture.h"

namespace rxtest {
namespace {

// The tests below count the processes whose command line holds a marker, across the machine: the
// marker is `base`.<this test's daemon pid>, so that the same test run at the same time by another
// build's suite (CI's, a second build tree) is not counted too.
class ProcessTest : public RexecTest {
 protected:
  std::string mark(int base) const { return std::to_string(base) + "." + std::to_string(daemon_->pid()); }
};

std::vector<ProcInfo> inGroup(pid_t pgid) {
  std::vector<ProcInfo> out;
  for (auto& p : processes())
    if (p.pgid == pgid && p.state != 'Z') out.push_back(p);
  return out;
}

size_t countCmdline(const std::string& needle) {
  size_t n = 0;
  for (auto& p : processes()) n += p.cmdline.find(needle) != std::string::npos;
  return n;
}

TEST_F(ProcessTest, TimeoutKillsTheWholeTree) {
  auto r = runRemote({"sh", "-c", "sleep " + mark(300) + " & sleep " + mark(301) + " & wait"},
                     {"--timeout", "0.5"});
  EXPECT_EQ(r.exit_code, 124);
  EXPECT_NE(r.err.find("timed out"), std::string::npos) << r.err;
  // The result comes only after both output pipes closed, which the sleeps held: they are gone.
  EXPECT_EQ(countCmdline("sleep " + mark(300)), 0u);
  EXPECT_EQ(countCmdline("sleep " + mark(301)), 0u);
  EXPECT_TRUE(daemon_->waitForLog({"audit", "timed-out"}));
}

TEST_F(ProcessTest, TimeoutKillsATreeThatIgnoresTerm) {
  auto r = runRemote({"sh", "-c", "trap '' TERM; sleep " + mark(302) + " & wait"}, {"--timeout", "0.3"});
  EXPECT_EQ(r.exit_code, 124);
  EXPECT_EQ(countCmdline("sleep " + mark(302)), 0u);
}

TEST_F(ProcessTest, DisconnectKillsTheWholeTree) {
  Subprocess::Options o;
  o.keep_stdin_open = true;
  Subprocess client(
      rexec({"sh", "-c", "sleep " + mark(303) + " & sleep " + mark(304) + " & echo started; wait"}), o);
  const pid_t pgid = startedPid(*daemon_, mark(303));
  ASSERT_GT(pgid, 0);
  ASSERT_TRUE(client.waitForStdout("started\n"));
  ASSERT_FALSE(inGroup(pgid).empty());
  client.signal(SIGKILL);  // the client cannot say goodbye: the daemon sees the connection drop
  client.wait();
  ASSERT_TRUE(daemon_->waitForLog(
      {"pid " + std::to_string(pgid) + ": process group finished after its client went away"}));
  // The daemon sees the pipes close while the last members are still exiting (state R, no
  // cmdline): wait for their exit through pidfds rather than reading /proc once.
  EXPECT_TRUE(waitGroupGone(pgid)) << "members of the group still alive";
  EXPECT_EQ(countCmdline("sleep " + mark(303)), 0u);
  EXPECT_EQ(countCmdline("sleep " + mark(304)), 0u);
  EXPECT_TRUE(daemon_->waitForLog({"audit", "terminated (client disconnected)"}));
}

TEST_F(ProcessTest, CtrlCIsForwardedToTheRemoteGroup) {
  Subprocess::Options o;
  o.keep_stdin_open = true;
  Subprocess client(
      rexec({"sh", "-c", "trap 'echo got-int; exit 7' INT; echo ready; while :; do sleep 1; done"}), o);
  ASSERT_TRUE(client.waitForStdout("ready\n"));
  client.signal(SIGINT);
  auto r = client.wait();
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_EQ(r.out, "ready\ngot-int\n");
}

TEST_F(ProcessTest, SecondCtrlCKills) {
  Subprocess::Options o;
  o.keep_stdin_open = true;
  Subprocess client(rexec({"sh", "-c", "trap '' INT; echo ready; sleep " + mark(305)}), o);
  ASSERT_TRUE(client.waitForStdout("ready\n"));
  client.signal(SIGINT);
  ASSERT_TRUE(daemon_->waitForLog({"signal INT"}));
  client.signal(SIGINT);
  auto r = client.wait();
  EXPECT_EQ(r.exit_code, 128 + SIGKILL);
  EXPECT_EQ(countCmdline("sleep " + mark(305)), 0u);
}

TEST_F(ProcessTest, TermAndHupAreForwarded) {
  for (int sig : {SIGTERM, SIGHUP}) {
    Subprocess::Options o;
    o.keep_stdin_open = true;
    Subprocess client(rexec({"sh", "-c", "echo ready; exec sleep " + mark(306)}), o);
    ASSERT_TRUE(client.waitForStdout("ready\n"));
    client.signal(sig);
    auto r = client.wait();
    EXPECT_EQ(r.exit_code, 128 + sig);
  }
}

TEST_F(ProcessTest, GrandchildHoldingTheOutputIsCutAfterTheDrainGrace) {
  // sh exits at once but leaves a background sleep holding stdout: the result still comes,
  // with sh's exit code, and the sleep does not outlive it.
  auto r = runRemote({"sh", "-c", "sleep " + mark(307) + " & echo bye; exit 3"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "bye\n");
  EXPECT_EQ(countCmdline("sleep " + mark(307)), 0u);
}

TEST_F(ProcessTest, ThousandJobsLeaveNoZombie) {
  // Short jobs, failing jobs and killed (timed-out) jobs, eight clients at a time.
  std::atomic<int> next{0}, bad{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([&] {
      for (int i = next++; i < 1000; i = next++) {
        Subprocess::Result r;
        int expected;
        if (i % 10 == 0) {
          r = runRemote({"sleep", "30"}, {"-n", "--timeout", "0.01"});
          expected = 124;
        } else if (i % 10 == 1) {
          r = runRemote({"sh", "-c", "kill -9 $$"}, {"-n"});
          expected = 137;
        } else {
          r = runRemote({"true"}, {"-n"});
          expected = 0;
        }
        if (r.exit_code != expected) ++bad;
      }
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(bad.load(), 0);
  // The daemon's one child is its spawn helper (daemon/spawner.h), whose children the jobs are.
  const std::vector<ProcInfo> all = processes();
  std::vector<pid_t> helpers;
  for (auto& p : all)
    if (p.ppid == daemon_->pid()) helpers.push_back(p.pid);
  ASSERT_EQ(helpers.size(), 1u) << "the spawn helper, and nothing else";
  size_t children = 0;
  for (auto& p : all) {
    if (p.ppid != helpers[0]) continue;
    ++children;
    EXPECT_NE(p.state, 'Z') << "zombie child " << p.pid;
  }
  EXPECT_EQ(children, 0u) << "every job was reaped before its result was sent";
  EXPECT_EQ(daemon_->countLog("audit"), 1000u);
}

TEST_F(ProcessTest, DaemonSigtermEndsRunningJobsAndExitsZero) {
  Subprocess::Options o;
  o.keep_stdin_open = true;
  Subprocess client(rexec({"sh", "-c", "echo ready; exec sleep " + mark(308)}), o);
  ASSERT_TRUE(client.waitForStdout("ready\n"));
  EXPECT_EQ(daemon_->stop(), 0);
  auto r = client.wait();
  EXPECT_EQ(r.exit_code, 128 + SIGTERM) << "the job got TERM and its result still reached the client";
  EXPECT_EQ(countCmdline("sleep " + mark(308)), 0u);
}

TEST_F(ProcessTest, DaemonDyingMidOutputIsNeverSuccess) {
  Subprocess::Options o;
  o.keep_stdin_open = true;
  Subprocess client(rexec({"sh", "-c", "echo partial; exec sleep " + mark(309)}), o);
  const pid_t pgid = startedPid(*daemon_, mark(309));
  ASSERT_TRUE(client.waitForStdout("partial\n"));
  daemon_->kill9();
  auto r = client.wait();
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("connection lost before the command finished"), std::string::npos) << r.err;
  // The daemon was killed outright, so its job is ours to clean up.
  if (pgid > 0) kill(-pgid, SIGKILL);
  daemon_.reset();
}

}  // namespace
}  // namespace rxtest
