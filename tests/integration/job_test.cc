// The real Job (the spawn helper, process group, pipes, timers) driven on its own loop, without any
// network: the cases where timing inside the daemon matters.
#include "daemon/job.h"
#include "daemon/spawner.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <thread>

#include "tests/integration/harness.h"

namespace rx {
namespace {

struct Recorder final : JobObserver {
  std::map<rxpb::v1::Stream, std::string> output;
  std::optional<rxpb::v1::ExecResult> result;
  void onJobOutput(JobHandle&, rxpb::v1::Stream stream, std::string_view data) override {
    output[stream].append(data);
  }
  void onJobStdinDrained(JobHandle&) override {}
  void onJobStarted(JobHandle& job) override { started_pid = job.pid(); }
  void onJobStartFailed(JobHandle&, const StartError& e) override { start_failed = e; }
  void onJobFinished(JobHandle&, const rxpb::v1::ExecResult& r) override { result = r; }
  void onJobLost(JobHandle&, const std::string& why) override { lost = why; }
  std::optional<std::string> lost;
  std::optional<pid_t> started_pid;
  std::optional<StartError> start_failed;
};

class JobTest : public ::testing::Test {
 protected:
  void SetUp() override { uv_loop_init(&loop_); }
  void TearDown() override {
    // Every handle must be closed: the loop ends by itself and closes cleanly (libuv's rule).
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }
  JobSpec spec(std::vector<std::string> argv) {
    JobSpec s;
    s.exec_id = 1;
    s.argv = std::move(argv);
    s.env = {"PATH=/usr/bin:/bin"};
    s.cwd.push_back('/');  // not = "/": g++ 12 -O3 (Release) warns a false -Wrestrict on it
    return s;
  }
  // Runs the loop until `done` holds; every loop turn is an event, so this waits on events.
  template <typename F>
  void runUntil(F done) {
    while (!done() && uv_run(&loop_, UV_RUN_ONCE) != 0) {
    }
  }
  uv_loop_t loop_{};
};

TEST_F(JobTest, ReportsExitCodeAndOutput) {
  UvLauncher launcher(&loop_);
  launcher.setDaemonBinary(rxtest::rexecdPath());
  Recorder rec;
  StartError err;
  ASSERT_NE(launcher.start(spec({"sh", "-c", "echo out; echo err >&2; exit 5"}), &rec, err), nullptr);
  runUntil([&] { return rec.result.has_value(); });
  ASSERT_TRUE(rec.result);
  EXPECT_EQ(rec.result->exit_code(), 5);
  EXPECT_EQ(rec.output[rxpb::v1::STREAM_STDOUT], "out\n");
  EXPECT_EQ(rec.output[rxpb::v1::STREAM_STDERR], "err\n");
  EXPECT_EQ(rec.result->stdout_bytes(), 4u);
}

TEST_F(JobTest, StartFailureIsReportedAndFreesEverything) {
  UvLauncher launcher(&loop_);
  launcher.setDaemonBinary(rxtest::rexecdPath());
  Recorder rec;
  StartError err;
  // Known at once: nothing to start.
  EXPECT_EQ(launcher.start(spec({}), &rec, err), nullptr);
  EXPECT_EQ(err.reason, rxpb::v1::StartFailed::REFUSED);
  // Known once the spawn helper has tried: the last report for the job, instead of a result.
  ASSERT_NE(launcher.start(spec({"/no/such/program"}), &rec, err), nullptr);
  runUntil([&] { return rec.start_failed.has_value(); });
  ASSERT_TRUE(rec.start_failed);
  EXPECT_EQ(rec.start_failed->reason, rxpb::v1::StartFailed::NOT_FOUND);
  EXPECT_NE(rec.start_failed->message.find("/no/such/program"), std::string::npos)
      << rec.start_failed->message;
  runUntil([&] { return launcher.liveJobs() == 0; });
  EXPECT_EQ(launcher.liveJobs(), 0u);
  EXPECT_FALSE(rec.started_pid);
  EXPECT_FALSE(rec.result);
  EXPECT_FALSE(rec.lost);
}

TEST_F(JobTest, SignalsBeforeTheHelperAnsweredAreDeliveredOnceItHas) {
  // The daemon does not wait for the spawn helper's answer, so a Ctrl-C, a timeout or a lost
  // client can come before the child's pid is known. None of them may be lost.
  UvLauncher launcher(&loop_);
  launcher.setDaemonBinary(rxtest::rexecdPath());
  Recorder rec;
  StartError err;
  // Their --timeout only ends the test if a signal was lost.
  JobSpec s = spec({"sleep", "319.101"});
  s.timeout_ms = 20'000;
  JobHandle* job = launcher.start(s, &rec, err);
  ASSERT_NE(job, nullptr);
  // The loop has not run: the answer cannot have been read yet.
  EXPECT_EQ(job->pid(), 0);
  job->signalGroup(SIGINT);
  job->signalGroup(SIGINT);  // the same again is one
  runUntil([&] { return rec.result.has_value(); });
  ASSERT_TRUE(rec.result);
  ASSERT_TRUE(rec.started_pid);
  EXPECT_GT(*rec.started_pid, 0);
  EXPECT_EQ(rec.result->signaled().name(), "INT");
  EXPECT_TRUE(rxtest::waitGroupGone(*rec.started_pid));

  // A terminate (a timeout, a lost client) before the start.
  Recorder term;
  s.argv = {"sleep", "320.101"};
  job = launcher.start(s, &term, err);
  ASSERT_NE(job, nullptr);
  job->terminate();
  runUntil([&] { return term.result.has_value(); });
  ASSERT_TRUE(term.result);
  EXPECT_EQ(term.result->signaled().name(), "TERM");
  ASSERT_TRUE(term.started_pid);
  EXPECT_TRUE(rxtest::waitGroupGone(*term.started_pid));
}

// The spawn helper's answers are awaited for a bounded time only: a helper that stops answering
// (here SIGSTOP; in life a start hung on dead storage) is killed after the limit, the requests it
// held hear that they are lost, and the next request gets a new helper that works.
TEST_F(JobTest, AHelperThatDoesNotAnswerInTimeIsKilledAndReplaced) {
  struct Watch final : SpawnWatcher {
    std::optional<int> started, failed;
    std::optional<int64_t> exit_status;
    bool lost = false;
    void onSpawnStarted(int pid) override { started = pid; }
    void onSpawnFailed(int error) override { failed = error; }
    void onSpawnExit(int64_t status, int, bool) override { exit_status = status; }
    void onSpawnLost() override { lost = true; }
  };
  auto request = [](const char* program) {
    rxpb::v1::SpawnRequest r;
    r.add_argv(program);
    r.add_env("PATH=/usr/bin:/bin");
    for (int i = 0; i < 3; ++i) r.add_stdio(-1);
    return r;
  };
  Spawner spawner(&loop_, rxtest::rexecdPath());
  spawner.setAnswerTimeout(300);
  ASSERT_EQ(spawner.start(), 0);
  const int helper = spawner.helperPid();
  ASSERT_GT(helper, 0);
  ASSERT_EQ(::kill(helper, SIGSTOP), 0);

  // Were the limit not kept, the test would wait for ever: it gives up after 30 s instead.
  uv_timer_t guard;
  bool gave_up = false;
  uv_timer_init(&loop_, &guard);
  guard.data = &gave_up;
  uv_timer_start(
      &guard, [](uv_timer_t* t) { *static_cast<bool*>(t->data) = true; }, 30'000, 0);
  uv_unref(reinterpret_cast<uv_handle_t*>(&guard));

  Watch first;
  rxpb::v1::SpawnRequest r1 = request("true");
  ASSERT_EQ(spawner.spawn(r1, {}, &first), 0);
  runUntil([&] { return first.lost || gave_up; });
  uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
  if (!first.lost) ::kill(helper, SIGKILL);  // the test failed: stop what it started
  ASSERT_TRUE(first.lost);
  EXPECT_FALSE(first.started);
  EXPECT_FALSE(first.failed);
  // Killed (SIGKILL ends a stopped process too) and reaped by the loop: no such process any more.
  const std::string proc = "/proc/" + std::to_string(helper);
  struct stat st {};
  runUntil([&] { return ::stat(proc.c_str(), &st) != 0; });
  EXPECT_NE(::stat(proc.c_str(), &st), 0) << "the hung helper is still there";

  Watch second;
  rxpb::v1::SpawnRequest r2 = request("true");
  ASSERT_EQ(spawner.spawn(r2, {}, &second), 0);
  EXPECT_NE(spawner.helperPid(), helper);
  runUntil([&] { return second.exit_status.has_value() || second.lost; });
  EXPECT_TRUE(second.started);
  ASSERT_TRUE(second.exit_status);
  EXPECT_EQ(*second.exit_status, 0);
  spawner.close();
}

// The helper has the child's whole wait status: a core dump is reported as the kernel reported it
// (whether one is written depends on the command's RLIMIT_CORE and the host's core_pattern, so
// the same command run here, in the same directory, says what to expect), and a signal that
// dumps no core (TERM, or SEGV with the limit at 0) says so.
TEST_F(JobTest, ACoreDumpIsReportedAsTheKernelReportsIt) {
  char tmpl[] = "/tmp/rx-core-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string dump = "ulimit -c unlimited; kill -SEGV $$";
  const int local = std::system(("cd " + dir + " && exec sh -c '" + dump + "'").c_str());
  ASSERT_TRUE(WIFSIGNALED(local)) << local;
  ASSERT_EQ(WTERMSIG(local), SIGSEGV);
  const bool expect_core = WCOREDUMP(local);

  UvLauncher launcher(&loop_);
  launcher.setDaemonBinary(rxtest::rexecdPath());
  struct Case {
    std::string command;
    const char* signal;
    bool core;
  } cases[] = {
      {dump, "SEGV", expect_core},
      {"ulimit -c 0; kill -SEGV $$", "SEGV", false},
      {"ulimit -c unlimited; kill -TERM $$", "TERM", false},
  };
  for (const auto& c : cases) {
    Recorder rec;
    StartError err;
    JobSpec s = spec({"sh", "-c", c.command});
    s.cwd = dir;
    ASSERT_NE(launcher.start(s, &rec, err), nullptr);
    runUntil([&] { return rec.result.has_value() || rec.start_failed.has_value(); });
    ASSERT_TRUE(rec.result) << c.command;
    ASSERT_TRUE(rec.result->has_signaled()) << c.command;
    EXPECT_EQ(rec.result->signaled().name(), c.signal) << c.command;
    EXPECT_EQ(rec.result->signaled().core_dumped(), c.core) << c.command;
  }
  std::filesystem::remove_all(dir);
}

TEST_F(JobTest, PausedOutputIsNotCutByTheDrainGrace) {
  // Output waiting in the pipe because the client is slow is not a grandchild holding the
  // pipe open: however short the drain grace, none of it may be lost.
  UvLauncher launcher(&loop_);
  launcher.setDaemonBinary(rxtest::rexecdPath());
  Recorder rec;
  StartError err;
  JobSpec s = spec({"sh", "-c", "printf 'all of it'; exit 0"});
  s.drain_grace_ms = 1;
  JobHandle* job = launcher.start(s, &rec, err);
  ASSERT_NE(job, nullptr);
  job->pauseOutput();  // before the first read
  // Until the job has heard of the child's exit (from the spawn helper, which reaped it): from
  // then on the drain grace would run, were it not held.
  Job* real = static_cast<Job*>(job);
  runUntil([&] { return real->exited(); });
  ASSERT_TRUE(real->exited());
  // Give a 1 ms drain grace a hundred times its length to fire wrongly.
  uv_timer_t wait;
  bool waited = false;
  uv_timer_init(&loop_, &wait);
  wait.data = &waited;
  uv_timer_start(
      &wait, [](uv_timer_t* t) { *static_cast<bool*>(t->data) = true; }, 100, 0);
  runUntil([&] { return waited; });
  uv_close(reinterpret_cast<uv_handle_t*>(&wait), nullptr);
  EXPECT_FALSE(rec.result) << "no result while output is still unread";
  job->resumeOutput();
  runUntil([&] { return rec.result.has_value(); });
  ASSERT_TRUE(rec.result);
  EXPECT_EQ(rec.result->exit_code(), 0);
  EXPECT_EQ(rec.output[rxpb::v1::STREAM_STDOUT], "all of it");
}

TEST_F(JobTest, TerminateKillsTheGroupAfterTheGrace) {
  UvLauncher launcher(&loop_);
  launcher.setDaemonBinary(rxtest::rexecdPath());
  Recorder rec;
  StartError err;
  JobSpec s = spec({"sh", "-c", "trap '' TERM; echo ready; sleep 312.101 & wait"});
  s.kill_grace_ms = 50;
  JobHandle* job = launcher.start(s, &rec, err);
  ASSERT_NE(job, nullptr);
  runUntil([&] { return rec.started_pid.has_value(); });
  ASSERT_TRUE(rec.started_pid);
  const pid_t pgid = *rec.started_pid;
  runUntil([&] { return rec.output[rxpb::v1::STREAM_STDOUT] == "ready\n"; });  // the trap is set
  job->terminate();
  runUntil([&] { return rec.result.has_value(); });
  ASSERT_TRUE(rec.result);
  EXPECT_EQ(rec.result->signaled().name(), "KILL");
  // Members may linger as zombies until init reaps them, and a killed member may still be dying
  // for a moment after the shell's end was reported (its cmdline already gone, not yet a zombie:
  // 2 runs in 30 failed on that here); waitGroupGone waits for those. None may keep running.
  EXPECT_TRUE(rxtest::waitGroupGone(pgid)) << "members of the group still alive";
}

TEST_F(JobTest, ALostSpawnHelperIsReportedOnceAndItsGroupKilled) {
  UvLauncher launcher(&loop_);
  launcher.setDaemonBinary(rxtest::rexecdPath());
  Recorder rec;
  StartError err;
  JobHandle* job = launcher.start(spec({"sh", "-c", "echo ready; sleep 313.101 & wait"}), &rec, err);
  ASSERT_NE(job, nullptr);
  runUntil([&] { return rec.started_pid.has_value(); });
  ASSERT_TRUE(rec.started_pid);
  const pid_t pgid = *rec.started_pid;
  runUntil([&] { return rec.output[rxpb::v1::STREAM_STDOUT] == "ready\n"; });
  const pid_t helper = launcher.helperPid();
  ASSERT_GT(helper, 0);
  ASSERT_EQ(::kill(helper, SIGKILL), 0);
  runUntil([&] { return rec.lost.has_value(); });
  ASSERT_TRUE(rec.lost);
  EXPECT_NE(rec.lost->find("lost track of command 1"), std::string::npos) << *rec.lost;
  EXPECT_FALSE(rec.result) << "no made-up result";
  EXPECT_TRUE(rxtest::waitGroupGone(pgid)) << "the group was killed";
  // The job frees itself once its pipes are done; the next start gets a new helper.
  runUntil([&] { return launcher.liveJobs() == 0; });
  EXPECT_EQ(launcher.liveJobs(), 0u);
  Recorder next;
  ASSERT_NE(launcher.start(spec({"sh", "-c", "exit 7"}), &next, err), nullptr);
  runUntil([&] { return next.result.has_value(); });
  ASSERT_TRUE(next.result);
  EXPECT_EQ(next.result->exit_code(), 7);
  EXPECT_NE(launcher.helperPid(), helper);
}

TEST_F(JobTest, TimersArmedAfterASpawnCountFromItsEnd) {
  // A spawn can block the loop (it once waited for the helper's answer; now only a request that
  // finds the helper's socket full does), and libuv's clock (read once a loop turn) stands still
  // meanwhile. A timeout armed from the stale clock lost the whole wait: in CI a helper still
  // starting took over a second, and a 1 s --timeout fired at once, before the command had
  // printed anything. The sleep stands for such a wait.
  UvLauncher launcher(&loop_);
  launcher.setDaemonBinary(rxtest::rexecdPath());
  uv_update_time(&loop_);
  const uint64_t before = uv_now(&loop_);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  JobSpec s = spec({"sh", "-c", "exit 7"});
  s.timeout_ms = 60'000;
  Recorder rec;
  StartError err;
  ASSERT_NE(launcher.start(s, &rec, err), nullptr);
  EXPECT_GE(uv_now(&loop_), before + 100) << "the loop's clock was not brought up to date";
  runUntil([&] { return rec.result.has_value(); });
  ASSERT_TRUE(rec.result);
  EXPECT_EQ(rec.result->exit_code(), 7);
  EXPECT_FALSE(rec.result->has_timed_out());
}

}  // namespace
}  // namespace rx
