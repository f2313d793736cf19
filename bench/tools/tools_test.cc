// The tools bench/run drives, against a real rexecd (tests/integration's harness): bench/run is
// not part of CI, so these keep the tools working as the protocol and the daemon change. No
// figure is checked, only that each tool does its job and fails loudly when it cannot.
#include <signal.h>

#include <algorithm>
#include <map>
#include <sstream>
#include <vector>

#include "tests/integration/fixture.h"

namespace rxtest {
namespace {

class BenchTools : public RexecTest {
 public:
  Daemon::Options daemonOptions() override {
    Daemon::Options o;
    o.extra_args = {"--per-source-max-startups", "100", "--auth-penalty", "0"};
    return o;
  }
  std::vector<std::string> idleConns(const std::string& fingerprint, int count) {
    return {
        RX_IDLE_CONNS_PATH, "--port",  std::to_string(daemon_->port()), "--identity",  key_, "--fingerprint",
        fingerprint,        "--count", std::to_string(count),           "--in-flight", "5"};
  }
  // One runner spec line: LABEL CPU_PID STDIN STDOUT ARGV...
  static std::string specLine(const std::string& label, pid_t cpu_pid, const std::vector<std::string>& argv) {
    std::string line = label + "\t" + std::to_string(cpu_pid) + "\t-\t-";
    for (const auto& a : argv) line += "\t" + a;
    return line + "\n";
  }
};

TEST_F(BenchTools, IdleConnsAuthenticatesAndHoldsItsConnections) {
  Subprocess idle(idleConns(daemon_->fingerprint(), 20));
  ASSERT_TRUE(idle.waitForStdout("ready 20 "));
  EXPECT_TRUE(daemon_->waitForLogState([](const std::vector<std::string>& lines) {
    size_t n = 0;
    for (const auto& l : lines) n += l.find("authenticated with key") != std::string::npos;
    return n >= 20;
  }));
  // The daemon still serves a command next to them.
  EXPECT_EQ(runRemote({"echo", "hi"}).out, "hi\n");
  idle.signal(SIGTERM);
  const auto r = idle.wait();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
}

TEST_F(BenchTools, IdleConnsRefusesAnotherHostKey) {
  const auto r = run(idleConns("SHA256:" + std::string(43, 'A'), 3));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("host key is not"), std::string::npos) << r.err;
}

TEST_F(BenchTools, RunnerReportsEveryCommandAndChargesTheDaemonsCpu) {
  writeFile(dir_.file("spec"),
            specLine("remote", daemon_->pid(), rexec({"true"})) + specLine("local", 0, {"true"}));
  const auto r = run({RX_BENCH_RUNNER_PATH, "--runs", "3", "--warmup", "1", "--batch", "4", "--parallel", "2",
                      "--samples", dir_.file("samples"), dir_.file("spec")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream out(r.out);
  std::string label;
  double median, p10, p90, min, max, cpu, own, client;
  ASSERT_TRUE(out >> label >> median >> p10 >> p90 >> min >> max >> cpu >> own >> client) << r.out;
  EXPECT_EQ(label, "remote");
  EXPECT_TRUE(min <= p10 && p10 <= median && median <= p90 && p90 <= max) << r.out;
  EXPECT_GE(cpu, 0) << "the daemon's CPU is charged";
  EXPECT_GE(own, 0);
  EXPECT_GT(client, 0) << "rexec itself uses some CPU";
  ASSERT_TRUE(out >> label >> median >> p10 >> p90 >> min >> max >> cpu >> own >> client) << r.out;
  EXPECT_EQ(label, "local");
  EXPECT_EQ(cpu, -1) << "no daemon named, no CPU";
  // 16 commands ran: the warm-up round too.
  EXPECT_TRUE(daemon_->waitForLogState([](const std::vector<std::string>& lines) {
    return std::count_if(lines.begin(), lines.end(),
                         [](const std::string& l) { return l.find("exit=0") != std::string::npos; }) >= 16;
  }));
  EXPECT_EQ(daemon_->countLog("exit=0"), 16u);
  // One raw sample per measured batch: 3 of them.
  std::istringstream samples(readFile(dir_.file("samples")));
  std::string line;
  ASSERT_TRUE(std::getline(samples, line));
  EXPECT_EQ(std::count(line.begin(), line.end(), ' '), 3) << line;
}

TEST_F(BenchTools, RunnerFailsWhenACommandFails) {
  writeFile(dir_.file("spec"), specLine("bad", 0, rexec({"false"})));
  const auto r = run({RX_BENCH_RUNNER_PATH, "--runs", "1", "--warmup", "0", dir_.file("spec")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad: 1 of 1 commands failed (exit status 1)"), std::string::npos) << r.err;
}

TEST_F(BenchTools, RunnerVariesWhichCommandRunsBeforeWhich) {
  // Four commands that each note their name in one log. Rotating one list, every round ran the
  // four in the same cyclic order, so B never came right after C, nor A after B; a shuffled
  // order gives each of the 12 ordered pairs of different commands its turns.
  const std::string log = dir_.file("order");
  std::string spec;
  for (const char* name : {"A", "B", "C", "D"})
    spec += specLine(name, 0, {"/bin/sh", "-c", std::string("echo ") + name + " >>" + log});
  writeFile(dir_.file("spec"), spec);
  const auto r = run({RX_BENCH_RUNNER_PATH, "--runs", "40", "--warmup", "0", dir_.file("spec")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream in(readFile(log));
  std::vector<std::string> ran;
  for (std::string line; std::getline(in, line);) ran.push_back(line);
  ASSERT_EQ(ran.size(), 160u);
  // Every round runs each command once.
  for (size_t round = 0; round < 40; ++round) {
    std::vector<std::string> one(ran.begin() + static_cast<long>(round * 4),
                                 ran.begin() + static_cast<long>(round * 4 + 4));
    std::sort(one.begin(), one.end());
    EXPECT_EQ(one, (std::vector<std::string>{"A", "B", "C", "D"})) << "round " << round;
  }
  std::map<std::string, int> pairs;
  for (size_t i = 1; i < ran.size(); ++i)
    if (ran[i - 1] != ran[i]) ++pairs[ran[i - 1] + ran[i]];
  EXPECT_EQ(pairs.size(), 12u);
  for (const auto& [pair, n] : pairs)
    EXPECT_GE(n, 4) << pair << " ran one after the other only " << n << " times";
}

TEST(BenchToolsLocal, TcpStreamMovesEveryByte) {
  const auto r = run({RX_TCP_STREAM_PATH, "3000000"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("3000000 ", 0), 0u) << r.out;
}

TEST(BenchToolsLocal, PipeStreamMovesEveryByte) {
  const auto r = run({RX_PIPE_STREAM_PATH, "3000000"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("3000000 ", 0), 0u) << r.out;
}

TEST(BenchToolsLocal, TlsStreamMovesEveryByteInEachShape) {
  for (const char* mode : {"", "--from-pipe", "--to-pipe"}) {
    SCOPED_TRACE(mode);
    std::vector<std::string> argv{RX_TLS_STREAM_PATH};
    if (*mode != '\0') argv.push_back(mode);
    argv.push_back("3000000");
    Subprocess::Options o;
    o.stdin_data = std::string(3000000, 'x');  // read with --to-pipe only
    const auto r = run(argv, o);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("3000000 ", 0), 0u) << r.out;
  }
}

TEST(BenchToolsLocal, TlsStreamSaysWhenBytesAreMissingOrItsArgumentsAreWrong) {
  Subprocess::Options o;
  o.stdin_data = std::string(1000, 'x');
  auto r = run({RX_TLS_STREAM_PATH, "--to-pipe", "3000000"}, o);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("received 1000 of 3000000 bytes"), std::string::npos) << r.err;
  r = run({RX_TLS_STREAM_PATH, "--sideways", "3000000"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("usage: rx_tls_stream"), std::string::npos) << r.err;
}

TEST(BenchToolsLocal, BareOneShotRunsTheLineAndReturnsItsStatus) {
  TempDir dir;
  Subprocess server({RX_BARE_ONESHOT_PATH, "--serve", dir.file("port")});
  ASSERT_TRUE(server.waitForStderr("listening on "));
  const std::string target = "127.0.0.1:" + std::to_string(std::stoi(readFile(dir.file("port"))));
  EXPECT_EQ(run({RX_BARE_ONESHOT_PATH, target, "true"}).exit_code, 0);
  EXPECT_EQ(run({RX_BARE_ONESHOT_PATH, target, "exit 7"}).exit_code, 7);
  EXPECT_EQ(run({RX_BARE_ONESHOT_PATH, target, "kill -TERM $$"}).exit_code, 128 + SIGTERM);
  const auto usage = run({RX_BARE_ONESHOT_PATH, "--serve"});
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_NE(usage.err.find("usage: rx_bare_oneshot"), std::string::npos) << usage.err;
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait().term_signal, SIGTERM);
}

TEST(BenchToolsLocal, SlowReaderReadsAllOfItsInput) {
  Subprocess::Options o;
  o.stdin_data = std::string(300000, 'x');
  const auto r = run({RX_SLOW_READER_PATH, "1000"}, o);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "300000\n");
}

}  // namespace
}  // namespace rxtest
