// The real Job on a pseudo-terminal (started by the spawn helper), on its own loop, without any
// network: the child's controlling terminal, window size changes, and the end of the output.
#include <gtest/gtest.h>

#include <map>
#include <optional>

#include "daemon/job.h"
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

class PtyJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uv_loop_init(&loop_);
    launcher_ = std::make_unique<UvLauncher>(&loop_);
    launcher_->setDaemonBinary(rxtest::rexecdPath());
  }
  void TearDown() override {
    // Every handle must be closed: the loop ends by itself and closes cleanly (libuv's rule). The
    // spawn helper's end closes the launcher's own handles.
    launcher_->close();
    uv_run(&loop_, UV_RUN_DEFAULT);
    launcher_.reset();
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }
  JobSpec spec(std::vector<std::string> argv) {
    JobSpec s;
    s.exec_id = 1;
    s.argv = std::move(argv);
    s.env = {"PATH=/usr/bin:/bin"};
    s.cwd = "/";
    s.stdin_open = true;
    s.pty = TerminalSize{24, 80, 0, 0};
    return s;
  }
  template <typename F>
  void runUntil(F done) {
    while (!done() && uv_run(&loop_, UV_RUN_ONCE) != 0) {
    }
  }
  uv_loop_t loop_{};
  std::unique_ptr<UvLauncher> launcher_;
};

TEST_F(PtyJobTest, TheTerminalIsStdioAndTheControllingTerminal) {
  Recorder rec;
  StartError err;
  // Opening /dev/tty works only for a process with a controlling terminal.
  ASSERT_NE(launcher_->start(spec({"sh", "-c",
                                   "tty; test -t 0 && test -t 1 && test -t 2 && echo all-ttys; "
                                   ": < /dev/tty && echo ctty-ok; stty size; echo to-stderr >&2; exit 3"}),
                             &rec, err),
            nullptr)
      << err.message;
  runUntil([&] { return rec.result.has_value(); });
  ASSERT_TRUE(rec.result);
  EXPECT_EQ(rec.result->exit_code(), 3);
  const std::string& out = rec.output[rxpb::v1::STREAM_STDOUT];
  EXPECT_EQ(out.rfind("/dev/pts/", 0), 0u) << out;
  EXPECT_NE(out.find("all-ttys\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("ctty-ok\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("24 80\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("to-stderr\r\n"), std::string::npos) << "stderr is the terminal too: " << out;
  EXPECT_EQ(rec.output.count(rxpb::v1::STREAM_STDERR), 0u);
  EXPECT_EQ(rec.result->stdout_bytes(), out.size());
  EXPECT_EQ(rec.result->stderr_bytes(), 0u);
}

TEST_F(PtyJobTest, ResizeSendsSigwinchWithTheNewSize) {
  Recorder rec;
  StartError err;
  JobHandle* job = launcher_->start(
      spec({"sh", "-c", "trap 'stty size; kill $!; exit 5' WINCH; sleep 1000 & echo ready; wait"}), &rec,
      err);
  ASSERT_NE(job, nullptr) << err.message;
  runUntil([&] { return rec.output[rxpb::v1::STREAM_STDOUT].find("ready") != std::string::npos; });
  job->resizeTerminal(TerminalSize{30, 100, 0, 0});
  runUntil([&] { return rec.result.has_value(); });
  ASSERT_TRUE(rec.result);
  EXPECT_EQ(rec.result->exit_code(), 5);
  EXPECT_NE(rec.output[rxpb::v1::STREAM_STDOUT].find("30 100"), std::string::npos)
      << rec.output[rxpb::v1::STREAM_STDOUT];
}

TEST_F(PtyJobTest, TypedInputReachesTheProgramThroughTheLineDiscipline) {
  Recorder rec;
  StartError err;
  JobHandle* job = launcher_->start(spec({"sh", "-c", "read line; echo got-$line; exit 0"}), &rec, err);
  ASSERT_NE(job, nullptr) << err.message;
  job->writeStdin("abc\r");  // Enter on a terminal is \r; ICRNL makes it the \n that read wants
  runUntil([&] { return rec.result.has_value(); });
  ASSERT_TRUE(rec.result);
  EXPECT_EQ(rec.result->exit_code(), 0);
  EXPECT_NE(rec.output[rxpb::v1::STREAM_STDOUT].find("got-abc"), std::string::npos)
      << rec.output[rxpb::v1::STREAM_STDOUT];
}

// As without a terminal: the start fails, with its reason (the client exits 127 for it).
TEST_F(PtyJobTest, AMissingProgramIsAStartFailure) {
  Recorder rec;
  StartError err;
  ASSERT_NE(launcher_->start(spec({"no-such-program-for-pty"}), &rec, err), nullptr);
  runUntil([&] { return rec.start_failed.has_value() || rec.result.has_value(); });
  ASSERT_TRUE(rec.start_failed);
  EXPECT_EQ(rec.start_failed->reason, rxpb::v1::StartFailed::NOT_FOUND);
  EXPECT_NE(rec.start_failed->message.find("no-such-program-for-pty"), std::string::npos)
      << rec.start_failed->message;
  EXPECT_FALSE(rec.result);
}

TEST_F(PtyJobTest, TerminateEndsAJobControlShellsForegroundJobToo) {
  Recorder rec;
  StartError err;
  // An interactive shell puts `sleep` in a process group of its own, in the terminal's
  // foreground, which kill(-pid) does not reach; it must not outlive the job.
  JobHandle* job = launcher_->start(spec({"sh", "-i"}), &rec, err);
  ASSERT_NE(job, nullptr) << err.message;
  job->writeStdin("sh -c 'echo fgstarted$((0+1))-$$-; exec sleep 1000'\r");
  const std::string& out = rec.output[rxpb::v1::STREAM_STDOUT];
  runUntil([&] {
    return out.find("fgstarted1-") != std::string::npos &&
           out.find("-\r\n", out.find("fgstarted1-")) != std::string::npos;
  });
  const size_t at = out.find("fgstarted1-");
  ASSERT_NE(at, std::string::npos) << out;
  const pid_t sleep_pid = static_cast<pid_t>(std::atoi(out.c_str() + at + 11));
  ASSERT_GT(sleep_pid, 0) << out;
  job->terminate();
  runUntil([&] { return rec.result.has_value(); });
  ASSERT_TRUE(rec.result);
  EXPECT_TRUE(rec.result->has_signaled());
  EXPECT_TRUE(rxtest::waitGroupGone(sleep_pid)) << "the foreground job survived the terminated shell";
}

}  // namespace
}  // namespace rx
