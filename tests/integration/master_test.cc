// Connection sharing (rexec -M -S PATH HOST, then rexec -S PATH HOST cmd): commands through one
// authenticated connection, with everything a direct rexec guarantees (output, exit status,
// stdin, signals, no orphans) and a master that no local client can break for the others.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>

#include "common/frame_codec.h"
#include "common/limits.h"
#include "tests/integration/fixture.h"
#include "tests/integration/proxy.h"

namespace rxtest {
namespace {

class MasterTest : public RexecTest {
 protected:
  std::string sock() const { return dir_.file("master.sock"); }

  // A master for the test's daemon, once it says it listens.
  std::unique_ptr<Subprocess> startMaster(const std::vector<std::string>& extra = {}) {
    auto argv = concat(client(), {"-M", "-S", sock()});
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(daemon_->target());
    auto m = std::make_unique<Subprocess>(argv);
    EXPECT_TRUE(m->waitForStderr("listening on " + sock() + "\n")) << "the master did not come up";
    return m;
  }
  // rexec through the master, with a key file that does not exist: only the master can serve it.
  std::vector<std::string> viaMaster(const std::vector<std::string>& command,
                                     const std::vector<std::string>& opts = {},
                                     const std::string& target = "") const {
    std::vector<std::string> argv = {rexecPath(), "-i", dir_.file("no-such-key"), "-S", sock()};
    argv.insert(argv.end(), opts.begin(), opts.end());
    argv.push_back(target.empty() ? daemon_->target() : target);
    argv.push_back("--");
    argv.insert(argv.end(), command.begin(), command.end());
    return argv;
  }
  // The pid of the master answering on sock() (SO_PEERCRED), for a master the test did not start
  // itself (rexec -S --persist started it); -1 when none answers.
  pid_t masterPid() const {
    const int fd = connectRaw();
    ucred cred{};
    socklen_t len = sizeof cred;
    const bool ok = fd >= 0 && ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0;
    if (fd >= 0) ::close(fd);
    return ok ? cred.pid : -1;
  }
  // What is in the test's folder beside the socket: a master's own name for its socket
  // (master.sock.XXXXXXXX) must never be left behind.
  std::vector<std::string> socketLeftovers() const {
    std::vector<std::string> names;
    for (auto& e : std::filesystem::directory_iterator(dir_.path()))
      if (e.path().filename().string().rfind("master.sock.", 0) == 0) names.push_back(e.path().string());
    return names;
  }
  // `command` through the master with stdin kept open, once it has printed "ready"; null (and a
  // failure) if it never does.
  std::unique_ptr<Subprocess> startViaMaster(const std::vector<std::string>& command) const {
    Subprocess::Options o;
    o.keep_stdin_open = true;
    auto c = std::make_unique<Subprocess>(viaMaster(command), o);
    if (!c->waitForStdout("ready\n")) {
      ADD_FAILURE() << "the command through the master did not say it was ready";
      return nullptr;
    }
    return c;
  }
  std::string mark(int base) const { return std::to_string(base) + "." + std::to_string(daemon_->pid()); }

  // A raw local client: connected to the master's socket.
  int connectRaw() const {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock().c_str());
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
    return fd;
  }
};

size_t countCmdline(const std::string& needle) {
  size_t n = 0;
  for (auto& p : processes()) n += p.cmdline.find(needle) != std::string::npos;
  return n;
}

// Frames out of bytes a raw client read.
std::vector<rxpb::v1::Frame> framesIn(std::string bytes) {
  std::vector<rxpb::v1::Frame> out;
  rx::FrameDecoder d(rx::kMaxFramePostAuth);
  d.feed(bytes);
  rxpb::v1::Frame f;
  while (d.next(f) == rx::FrameDecoder::Result::Frame) out.push_back(f);
  return out;
}

TEST_F(MasterTest, CommandsRunOnTheMastersOneConnectionWithoutAKeyOfTheirOwn) {
  auto master = startMaster();
  for (int i = 0; i < 3; ++i) {
    auto r = run(viaMaster({"sh", "-c", "echo out; echo err >&2; exit 7"}));
    EXPECT_EQ(r.exit_code, 7) << r.err;
    EXPECT_EQ(r.out, "out\n");
    EXPECT_EQ(r.err, "err\n");
  }
  auto missing = run(viaMaster({"no-such-program-here"}));
  EXPECT_EQ(missing.exit_code, 127);
  EXPECT_NE(missing.err.find("cannot run the command: no-such-program-here: no such file or directory"),
            std::string::npos)
      << missing.err;
  EXPECT_TRUE(daemon_->waitForLog({"audit", "no-such-program-here"}));
  // One handshake and one authentication for all four.
  EXPECT_EQ(daemon_->countLog(": authenticated with key"), 1u);
  EXPECT_EQ(daemon_->countLog("audit"), 4u);
}

TEST_F(MasterTest, ManyCommandsAtOnceEachGetTheirOwnOutputAndStatus) {
  auto master = startMaster();
  std::vector<std::unique_ptr<Subprocess>> clients;
  for (int i = 0; i < 30; ++i) {
    const std::string n = std::to_string(i);
    // Enough output each that the relayed frames of different commands interleave.
    clients.push_back(std::make_unique<Subprocess>(
        viaMaster({"sh", "-c", "seq 1 20000 | sed s/^/" + n + ":/; echo err" + n + " >&2; exit " + n})));
  }
  for (int i = 0; i < 30; ++i) {
    auto r = clients[i]->wait();
    const std::string n = std::to_string(i);
    EXPECT_EQ(r.exit_code, i) << r.err;
    std::string expected;
    for (int k = 1; k <= 20000; ++k) expected += n + ":" + std::to_string(k) + "\n";
    EXPECT_TRUE(r.out == expected) << "command " << i << ": " << r.out.size() << " bytes";
    EXPECT_EQ(r.err, "err" + n + "\n");
  }
}

TEST_F(MasterTest, StdinAndBinaryDataPassUnchangedAndStdinCanBeClosed) {
  auto master = startMaster();
  std::string data(8 << 20, '\0');
  uint64_t x = 88172645463325252ull;
  for (auto& c : data) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>(x);
  }
  Subprocess::Options o;
  o.stdin_data = data;
  o.hash_stdout = true;
  auto r = run(viaMaster({"cat"}), o);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out_bytes, data.size());
  EXPECT_EQ(r.out_sha256, sha256Hex(data));
  // The end of stdin reaches the command: wc ends.
  Subprocess::Options e;
  e.stdin_data = "three\nlines\nhere\n";
  auto w = run(viaMaster({"wc", "-l"}), e);
  EXPECT_EQ(w.exit_code, 0) << w.err;
  EXPECT_EQ(w.out, "3\n");
}

TEST_F(MasterTest, CtrlCAndTerminalsAndTimeoutsWorkThroughTheMaster) {
  auto master = startMaster();
  auto c =
      startViaMaster({"sh", "-c", "trap 'echo got-int; exit 7' INT; echo ready; while :; do sleep 1; done"});
  ASSERT_NE(c, nullptr);
  c->signal(SIGINT);
  auto r = c->wait();
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_EQ(r.out, "ready\ngot-int\n");

  auto t = run(viaMaster({"sh", "-c", "test -t 0 && test -t 1 && echo on-a-terminal"}, {"-tt"}));
  EXPECT_EQ(t.exit_code, 0) << t.err;
  EXPECT_EQ(t.out, "on-a-terminal\r\n");

  auto to = run(viaMaster({"sleep", mark(401)}, {"--timeout", "0.5"}));
  EXPECT_EQ(to.exit_code, 124) << to.err;
  EXPECT_NE(to.err.find("timed out"), std::string::npos) << to.err;
}

TEST_F(MasterTest, AClientThatDoesNotReadHoldsUpOnlyItsOwnCommand) {
  auto master = startMaster();
  Subprocess::Options o;
  o.pause_stdout = true;
  o.keep_stdin_open = true;
  Subprocess slow(viaMaster({"yes", mark(406)}), o);
  // The server stopped reading that command once a window of its output went unacknowledged.
  ASSERT_TRUE(daemon_->waitForLog({"output window full, pausing its output"}));
  for (int i = 0; i < 3; ++i) {
    auto r = run(viaMaster({"sh", "-c", "seq 1 100000 | tail -n 1"}));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "100000\n");
  }
  const auto hwm = hwmKiB(master->pid());
  ASSERT_TRUE(hwm.has_value());
  EXPECT_LT(*hwm, kRssBoundKiB) << "the master holds at most a window for the slow client";
  // The slow client still gets all of its output, and its Ctrl-C.
  slow.signal(SIGINT);
  slow.resumeStdout();
  auto r = slow.wait();
  EXPECT_EQ(r.exit_code, 130) << r.err;
  EXPECT_GT(r.out.size(), 4u << 20);
  EXPECT_EQ(r.out.size() % (mark(406).size() + 1), 0u) << "whole lines only: nothing lost or cut";
}

TEST_F(MasterTest, StdinAndOutputBothHeldBackDoNotDeadlock) {
  // `cat` with 16 MiB of stdin and its reader stopped: its output fills the window, so cat stops
  // reading stdin, and stdin backs up. The acknowledgements that reopen the window travel behind
  // that stdin on the shared connection: a server that stopped reading the connection because one
  // command's stdin is full would never see them (it did: found by running the suites at once).
  auto master = startMaster();
  std::string data(16 << 20, 'z');
  Subprocess::Options o;
  o.stdin_data = data;
  o.hash_stdout = true;
  o.pause_stdout = true;
  Subprocess c(viaMaster({"cat"}), o);
  ASSERT_TRUE(daemon_->waitForLog({"output window full, pausing its output"}));
  c.resumeStdout();
  auto r = c.wait(120s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out_bytes, data.size());
  EXPECT_EQ(r.out_sha256, sha256Hex(data));
}

TEST_F(MasterTest, AClientThatDiesHasItsCommandStoppedEvenOneIgnoringTerm) {
  auto master = startMaster();
  {
    auto c = startViaMaster({"sh", "-c", "echo ready; exec sleep " + mark(402)});
    ASSERT_NE(c, nullptr);
    c->signal(SIGKILL);  // no goodbye: the master sees its socket close
    c->wait();
  }
  EXPECT_TRUE(daemon_->waitForLog({"audit", "sleep", mark(402), "signal=TERM"}));
  EXPECT_EQ(countCmdline("sleep " + mark(402)), 0u);
  {
    auto c =
        startViaMaster({"sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done; " + mark(403)});
    ASSERT_NE(c, nullptr);
    c->signal(SIGKILL);
    c->wait();
  }
  // TERM is ignored; the master's grace ends in KILL, as rexecd's own for a lost connection.
  EXPECT_TRUE(daemon_->waitForLog({"signal TERM"}));
  EXPECT_TRUE(daemon_->waitForLog({"signal KILL"}));
  EXPECT_TRUE(daemon_->waitForLog({"audit", mark(403), "signal=KILL"}));
  // And the master still serves.
  auto r = run(viaMaster({"echo", "still here"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "still here\n");
}

TEST_F(MasterTest, StoppingTheMasterEndsItsCommandsAndRemovesItsSocket) {
  auto master = startMaster();
  struct stat st {};
  ASSERT_EQ(::lstat(sock().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "only its user may connect";
  auto c = startViaMaster({"sh", "-c", "echo ready; exec sleep " + mark(404)});
  ASSERT_NE(c, nullptr);
  const pid_t sleeper = startedPid(*daemon_, mark(404));
  ASSERT_GT(sleeper, 0);
  master->signal(SIGTERM);
  auto r = c->wait();
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("master: its connection to [127.0.0.1]:" + std::to_string(daemon_->port()) +
                       " ended: the master was stopped"),
            std::string::npos)
      << r.err;
  auto m = master->wait();
  EXPECT_EQ(m.exit_code, 0) << m.err;
  EXPECT_FALSE(std::filesystem::exists(sock()));
  // Logged when the TERM goes out; the sleep may take a moment more to be gone.
  EXPECT_TRUE(daemon_->waitForLog({"audit", mark(404), "terminated (client disconnected)"}));
  EXPECT_TRUE(waitProcessGone(sleeper));
}

TEST_F(MasterTest, WithPersistAnIdleMasterEndsButNotWhileItServes) {
  auto master = startMaster({"--persist", "3"});
  const int held = connectRaw();  // a client from the start: not idle
  // A command that outlasts the idle time: the master is not idle while it runs either.
  auto r = run(viaMaster({"sh", "-c", "sleep 4; echo done"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "done\n");
  ::close(held);
  // Then nobody comes: it ends by itself, cleanly, and takes its socket with it.
  auto m = master->wait(60s);
  EXPECT_EQ(m.exit_code, 0) << m.err;
  EXPECT_FALSE(std::filesystem::exists(sock()));
  EXPECT_EQ(m.err.find("rexec: 127.0.0.1:"), std::string::npos) << "no failure reported: " << m.err;
}

TEST_F(MasterTest, ControlCommandsCheckForAMasterAndStopIt) {
  const std::vector<std::string> base = {rexecPath(), "-S", sock()};
  // None yet: as ssh -O check, a failure with the reason.
  auto none = run(concat(base, {"-O", "check", daemon_->target()}));
  EXPECT_EQ(none.exit_code, 255);
  EXPECT_EQ(none.err, "rexec: no master on " + sock() + ": No such file or directory\n");
  auto master = startMaster();
  const std::string label = "[127.0.0.1]:" + std::to_string(daemon_->port());
  auto check = run(concat(base, {"-O", "check", daemon_->target()}));
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_EQ(check.out,
            "master for " + label + " on " + sock() + ", pid " + std::to_string(master->pid()) + "\n");
  // Asked about another host: not this master.
  auto other = run(concat(base, {"-O", "exit", "127.0.0.1:1"}));
  EXPECT_EQ(other.exit_code, 255);
  EXPECT_EQ(other.err,
            "rexec: the master on " + sock() + " runs commands on " + label + ", not [127.0.0.1]:1\n");
  // exit: the master stops as on SIGTERM (exit 0, socket removed, its commands ended), and
  // -O exit returns once it is gone.
  auto running = startViaMaster({"sh", "-c", "echo ready; exec sleep " + mark(406)});
  ASSERT_NE(running, nullptr);
  auto exit = run(concat(base, {"-O", "exit", daemon_->target()}));
  EXPECT_EQ(exit.exit_code, 0) << exit.err;
  EXPECT_EQ(exit.err,
            "rexec: stopped the master on " + sock() + " (pid " + std::to_string(master->pid()) + ")\n");
  EXPECT_FALSE(std::filesystem::exists(sock()));
  auto r = running->wait();
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("the master was stopped"), std::string::npos) << r.err;
  auto m = master->wait();
  EXPECT_EQ(m.exit_code, 0);
  // The two questions left no trace in the master's own output.
  EXPECT_EQ(m.err, "rexec: master for " + label + " listening on " + sock() + "\n");
  // Wrong use, one line each.
  for (auto& [args, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"-S", sock(), "-O", "stop", daemon_->target()}, "-O takes 'check' or 'exit'"},
           {{"-O", "check", daemon_->target()}, "-O needs -S PATH"},
           {{"-S", sock(), "-O", "check", daemon_->target(), "true"}, "-O asks a master only"},
           {{"-M", "-S", sock(), "-O", "exit", daemon_->target()}, "-O asks a master only"}}) {
    auto bad = run(concat({rexecPath()}, args));
    EXPECT_EQ(bad.exit_code, 255);
    EXPECT_EQ(bad.err.find("rexec: " + message), 0u) << bad.err;
  }
}

TEST_F(MasterTest, TokensInThePathNameTheHostAndPort) {
  // One alias for every host, as ssh's ControlPath ~/.ssh/cm-%h:%p.
  const std::string pattern = dir_.file("cm-%h:%p");
  const std::string expanded = dir_.file("cm-127.0.0.1:" + std::to_string(daemon_->port()));
  auto first = run(rexec({"echo", "hi"}, {"-S", pattern, "--persist", "600"}));
  EXPECT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.out, "hi\n");
  EXPECT_TRUE(std::filesystem::exists(expanded));
  auto check = run({rexecPath(), "-S", pattern, "-O", "check", daemon_->target()});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_NE(check.out.find(" on " + expanded + ", pid "), std::string::npos) << check.out;
  auto stop = run({rexecPath(), "-S", pattern, "-O", "exit", daemon_->target()});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_FALSE(std::filesystem::exists(expanded));
  // An unknown token: one line, nothing runs.
  auto bad = run(rexec({"touch", dir_.file("ran")}, {"-S", dir_.file("cm-%r@%h")}));
  EXPECT_EQ(bad.exit_code, 255);
  EXPECT_EQ(bad.err, "rexec: -S " + dir_.file("cm-%r@%h") +
                         ": unknown token %r (known: %h the host, %p the port, %% a %)\n");
  EXPECT_FALSE(std::filesystem::exists(dir_.file("ran")));
}

TEST_F(MasterTest, AMasterThatDoesNotAnswerIsGivenUpOnWithinTheConnectTimeout) {
  // A stopped master: the kernel still takes connections for it, but nothing answers. A command
  // through it and -O check both give up after --connect-timeout, with one line.
  auto master = startMaster();
  ASSERT_EQ(::kill(master->pid(), SIGSTOP), 0);
  auto r = run(viaMaster({"touch", dir_.file("ran")}, {"--connect-timeout", "1"}));
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_EQ(r.err, "rexec: 127.0.0.1: the master did not answer within 1 s\n");
  auto check = run({rexecPath(), "-S", sock(), "--connect-timeout", "1", "-O", "check", daemon_->target()});
  EXPECT_EQ(check.exit_code, 255);
  EXPECT_EQ(check.err, "rexec: " + sock() + ": the master did not answer within 1 s\n");
  // Going on, it finds both clients gone, runs nothing for them, and serves the next one.
  ASSERT_EQ(::kill(master->pid(), SIGCONT), 0);
  auto after = run(viaMaster({"echo", "fine"}));
  EXPECT_EQ(after.exit_code, 0) << after.err;
  EXPECT_EQ(after.out, "fine\n");
  EXPECT_FALSE(std::filesystem::exists(dir_.file("ran")));
}

TEST_F(MasterTest, WithPersistTheFirstCommandStartsAMasterThatTheNextOnesUse) {
  // No master: the first command starts one in the background and runs through it. Its output
  // ends with the command (the master keeps none of the client's streams: run() reads both to
  // their end), and the master says nothing.
  auto first = run(rexec({"sh", "-c", "echo first; exit 3"}, {"-S", sock(), "--persist", "600"}));
  EXPECT_EQ(first.exit_code, 3) << first.err;
  EXPECT_EQ(first.out, "first\n");
  EXPECT_EQ(first.err, "");
  const pid_t master = masterPid();
  ASSERT_GT(master, 0) << "no master answers on " << sock();
  // Out of the client's session and job, its streams given up, and named for what it is.
  EXPECT_NE(::getsid(master), ::getsid(0));
  for (int fd = 0; fd < 3; ++fd) {
    std::error_code ec;
    EXPECT_EQ(
        std::filesystem::read_symlink("/proc/" + std::to_string(master) + "/fd/" + std::to_string(fd), ec),
        "/dev/null")
        << "fd " << fd;
  }
  EXPECT_EQ(readFile("/proc/" + std::to_string(master) + "/cmdline").find("rexec -M -S " + sock()), 0u);
  struct stat st;
  ASSERT_EQ(::stat(sock().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // The next commands go through it: no key of their own, one authentication in all.
  for (int i = 0; i < 3; ++i) {
    auto r = run(viaMaster({"echo", "next"}, {"--persist", "600"}));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "next\n");
  }
  EXPECT_EQ(daemon_->countLog(": authenticated with key"), 1u);
  EXPECT_EQ(masterPid(), master);
  EXPECT_TRUE(socketLeftovers().empty());
  // It stops as a master started by hand does (here asked with -O exit, as a user without its
  // pid would), and takes its socket with it.
  auto stop = run({rexecPath(), "-S", sock(), "-O", "exit", daemon_->target()});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_TRUE(waitProcessGone(master));
  EXPECT_FALSE(std::filesystem::exists(sock()));
}

TEST_F(MasterTest, WithPersistManyFirstCommandsAtOnceEndWithOneMaster) {
  // Twelve first commands at once, each starting a master: masters that lose the race to the
  // socket (published with link(), which only one can win) end, quietly, and their clients use
  // the winner (or run directly); every command completes with its own output.
  std::vector<std::unique_ptr<Subprocess>> clients;
  for (int i = 0; i < 12; ++i)
    clients.push_back(std::make_unique<Subprocess>(
        rexec({"sh", "-c", "echo " + std::to_string(i)}, {"-S", sock(), "--persist", "600"})));
  for (int i = 0; i < 12; ++i) {
    auto r = clients[i]->wait();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, std::to_string(i) + "\n");
    EXPECT_EQ(r.err, "") << "command " << i;
  }
  const pid_t master = masterPid();
  ASSERT_GT(master, 0);
  for (auto& p : processes()) {
    if (p.pid != master && p.cmdline.find("rexec -M -S " + sock()) != std::string::npos) {
      EXPECT_TRUE(waitProcessGone(p.pid)) << "a master that lost the race still runs: " << p.cmdline;
    }
  }
  EXPECT_TRUE(socketLeftovers().empty());
  auto r = run(viaMaster({"echo", "shared"}));
  EXPECT_EQ(r.out, "shared\n") << r.err;
  ASSERT_EQ(::kill(master, SIGTERM), 0);
  EXPECT_TRUE(waitProcessGone(master));
}

TEST_F(MasterTest, WithPersistAMasterThatCannotStartSaysWhyOnce) {
  // Nothing listens on port 1 of 127.0.0.1: the master says why, the client adds nothing and
  // fails as a direct client would; no socket is left behind.
  auto dead = run(concat(client(), {"-S", sock(), "--persist", "600", "127.0.0.1:1", "true"}));
  EXPECT_EQ(dead.exit_code, 255);
  EXPECT_EQ(dead.err, "rexec: 127.0.0.1: cannot connect to 127.0.0.1:1: connection refused\n");
  EXPECT_FALSE(std::filesystem::exists(sock()));
  EXPECT_TRUE(socketLeftovers().empty());
  // A path that cannot be a socket: said once, and the command runs directly.
  writeFile(dir_.file("plain"), "x");
  auto plain = run(rexec({"echo", "direct"}, {"-S", dir_.file("plain"), "--persist", "600"}));
  EXPECT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.out, "direct\n");
  EXPECT_EQ(plain.err, "rexec: " + dir_.file("plain") +
                           " exists and is not a socket (the command runs without a master)\n");
  EXPECT_EQ(readFile(dir_.file("plain")), "x");
  // A folder that does not exist: the same, naming the path given (not the master's own name).
  auto no_dir = run(rexec({"echo", "direct"}, {"-S", dir_.file("no-dir/m"), "--persist", "600"}));
  EXPECT_EQ(no_dir.exit_code, 0) << no_dir.err;
  EXPECT_EQ(no_dir.out, "direct\n");
  EXPECT_EQ(no_dir.err, "rexec: cannot bind " + dir_.file("no-dir/m") +
                            ": No such file or directory (the command runs without a master)\n");
  // A host key that is not known, and no terminal to ask on: refused by the master, once.
  auto unknown = run(concat({rexecPath(), "-i", key_, "--known-hosts", dir_.file("empty-kh")},
                            {"-S", sock(), "--persist", "600", daemon_->target(), "true"}));
  EXPECT_EQ(unknown.exit_code, 255);
  EXPECT_NE(unknown.err.find("is not known"), std::string::npos) << unknown.err;
  EXPECT_EQ(std::count(unknown.err.begin(), unknown.err.end(), '\n'), 1) << unknown.err;
  EXPECT_FALSE(std::filesystem::exists(sock()));
  EXPECT_TRUE(socketLeftovers().empty());
}

TEST_F(MasterTest, WithoutAMasterTheClientConnectsDirectly) {
  // No socket at all, then a stale one (bound, nobody listening): both go direct, with the key.
  for (int round = 0; round < 2; ++round) {
    auto r = run(rexec({"echo", "direct"}, {"-S", sock()}));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "direct\n");
    if (round == 0) {
      const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock().c_str());
      ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
      ::close(fd);
    }
  }
  EXPECT_EQ(daemon_->countLog(": authenticated with key"), 2u);
  // A master replaces the stale socket.
  auto master = startMaster();
  auto r = run(viaMaster({"echo", "shared"}));
  EXPECT_EQ(r.out, "shared\n") << r.err;
}

TEST_F(MasterTest, WrongUseIsRefusedWithOneLine) {
  auto master = startMaster();
  // A master for another target: refused before anything runs (no connection is tried either).
  auto other = run(viaMaster({"touch", dir_.file("ran")}, {}, "127.0.0.1:1"));
  EXPECT_EQ(other.exit_code, 255);
  EXPECT_EQ(other.err, "rexec: 127.0.0.1: the master on this control socket runs commands on [127.0.0.1]:" +
                           std::to_string(daemon_->port()) + ", not [127.0.0.1]:1\n");
  EXPECT_FALSE(std::filesystem::exists(dir_.file("ran")));
  // A second master on the same socket, a path that is not a socket, -M without -S or with a command.
  auto second = run(concat(client(), {"-M", "-S", sock(), daemon_->target()}));
  EXPECT_EQ(second.exit_code, 255);
  EXPECT_EQ(second.err, "rexec: a master already listens on " + sock() + "\n");
  writeFile(dir_.file("plain"), "x");
  auto plain = run(concat(client(), {"-M", "-S", dir_.file("plain"), daemon_->target()}));
  EXPECT_EQ(plain.exit_code, 255);
  EXPECT_EQ(plain.err, "rexec: " + dir_.file("plain") + " exists and is not a socket\n");
  auto no_path = run(concat(client(), {"-M", daemon_->target()}));
  EXPECT_EQ(no_path.exit_code, 255);
  EXPECT_NE(no_path.err.find("-M needs -S PATH"), std::string::npos) << no_path.err;
  auto with_cmd = run(concat(client(), {"-M", "-S", dir_.file("m2"), daemon_->target(), "true"}));
  EXPECT_EQ(with_cmd.exit_code, 255);
  EXPECT_NE(with_cmd.err.find("-M runs no command itself"), std::string::npos) << with_cmd.err;
  auto persist = run(concat(client(), {"--persist", "5", daemon_->target(), "true"}));
  EXPECT_EQ(persist.exit_code, 255);
  EXPECT_NE(persist.err.find("--persist needs -S PATH"), std::string::npos) << persist.err;
  auto fanout = run(concat(client(), {"-M", "-S", sock(), "-H", daemon_->target()}));
  EXPECT_EQ(fanout.exit_code, 255);
  EXPECT_NE(fanout.err.find("-M works with one host"), std::string::npos) << fanout.err;
  // The first master was not disturbed.
  auto r = run(viaMaster({"echo", "fine"}));
  EXPECT_EQ(r.out, "fine\n") << r.err;
}

TEST_F(MasterTest, ABadLocalClientEndsOnlyItself) {
  auto master = startMaster();
  auto running = startViaMaster({"sh", "-c", "echo ready; read line; echo got $line"});
  ASSERT_NE(running, nullptr);

  // Each of these would end the whole shared connection if the master passed it on.
  std::vector<std::pair<std::string, std::string>> cases;
  {
    rxpb::v1::Frame req;
    req.mutable_exec_request()->set_exec_id(1);
    req.mutable_exec_request()->add_argv("true");
    rxpb::v1::Frame sig;
    sig.mutable_signal()->set_exec_id(1);
    sig.mutable_signal()->set_name("NO-SUCH-SIGNAL");
    cases.push_back({rx::encodeFrame(req) + rx::encodeFrame(sig), "master: unknown signal NO-SUCH-SIGNAL"});
    rxpb::v1::Frame auth;
    auth.mutable_auth_response()->set_key_id("x");
    cases.push_back({rx::encodeFrame(auth), "master: protocol error: expected the command's ExecRequest"});
    rxpb::v1::Frame err;
    err.mutable_error()->set_message("bye");
    cases.push_back(
        {rx::encodeFrame(req) + rx::encodeFrame(err), "master: protocol error: unexpected message"});
    cases.push_back({std::string("\xff\xff\xff\xff\x0f", 5), "master: protocol error: "});
  }
  for (const auto& [bytes, expected] : cases) {
    const int fd = connectRaw();
    ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
    auto [got, closed] = readUntilClosed(fd);
    ::close(fd);
    EXPECT_TRUE(closed);
    auto frames = framesIn(got);
    ASSERT_GE(frames.size(), 2u) << "the greeting, then the error";
    EXPECT_TRUE(frames.front().has_auth_challenge());
    EXPECT_EQ(frames.front().auth_challenge().master_target(),
              "[127.0.0.1]:" + std::to_string(daemon_->port()));
    EXPECT_TRUE(frames.front().auth_challenge().server_nonce().empty());
    ASSERT_TRUE(frames.back().has_error());
    EXPECT_EQ(frames.back().error().message().rfind(expected, 0), 0u) << frames.back().error().message();
  }
  // The command that was running all along is untouched, and the connection is the first one.
  running->closeStdin();
  auto r = running->wait();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ready\ngot\n");
  EXPECT_EQ(daemon_->countLog(": authenticated with key"), 1u);
  EXPECT_EQ(daemon_->countLog("protocol error"), 0u);
}

TEST_F(MasterTest, AnotherUserCannotUseTheMaster) {
  auto master = startMaster();
  struct stat st {};
  ASSERT_EQ(::lstat(sock().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  if (::geteuid() != 0) {
    // Without root there is no other user to be; the mode above is what keeps them out.
    auto r = run(viaMaster({"echo", "mine"}));
    EXPECT_EQ(r.out, "mine\n") << r.err;
    return;
  }
  // Even with the socket opened to everyone, the master checks who connects (SO_PEERCRED).
  ASSERT_EQ(::chmod(sock().c_str(), 0666), 0);
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0711), 0);  // and its folder passable
  int result[2];
  ASSERT_EQ(::pipe(result), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(result[0]);
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock().c_str());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) ::_exit(4);
    char buf[256];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);  // the master's greeting, or end of file
    const char answer = n == 0 ? 'E' : n > 0 ? 'G' : 'X';
    (void)!::write(result[1], &answer, 1);
    ::_exit(0);
  }
  ::close(result[1]);
  char answer = '?';
  EXPECT_EQ(::read(result[0], &answer, 1), 1);
  ::close(result[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "nobody could not connect: " << status;
  ::chmod(dir_.path().c_str(), 0700);
  EXPECT_EQ(answer, 'E') << "nobody got " << answer << ": it must get nothing, not even the greeting";
  EXPECT_TRUE(master->waitForStderr("refused a local connection from pid "));
  EXPECT_TRUE(master->waitForStderr("uid 65534: not this user\n"));
  auto r = run(viaMaster({"echo", "mine"}));
  EXPECT_EQ(r.out, "mine\n") << r.err;
}

TEST_F(MasterTest, AnotherUsersSocketIsNotUsed) {
  // A socket where ours should be, listened on by another user (squatting a shared folder): the
  // client must not hand it the command, its environment and its stdin.
  const std::string squat = dir_.file("squat.sock");
  if (::geteuid() != 0) {
    // Without root there is no other user to be; a socket of our own is used as usual.
    auto r = run(rexec({"echo", "direct"}, {"-S", squat}));
    EXPECT_EQ(r.out, "direct\n") << r.err;
    return;
  }
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0777), 0);
  int ready[2], done[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(done), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    ::close(done[1]);
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", squat.c_str());
    ::umask(0);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 8) != 0) ::_exit(4);
    (void)!::write(ready[1], "r", 1);
    char c;
    (void)!::read(done[0], &c, 1);  // until the test is done; connections stay unanswered
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(done[0]);
  char c = 0;
  EXPECT_EQ(::read(ready[0], &c, 1), 1);
  auto r = run({rexecPath(), "-i", dir_.file("no-such-key"), "-S", squat, daemon_->target(), "touch",
                dir_.file("ran")});
  ::close(done[1]);
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(ready[0]);
  ::chmod(dir_.path().c_str(), 0700);
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("rexec: " + squat + ": the master there is not this user's (pid "), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(" uid 65534); not used\n"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_.file("ran")));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

// A fan-out waits for the masters it started (--persist) before its summary; a Ctrl-C stops that
// wait, not the masters, which go on by themselves.
TEST_F(MasterTest, ACtrlCStopsAFanoutWaitingForItsMasterButNotTheMaster) {
  // Through a proxy that holds up the first bytes of each connection after the first: the host's
  // command runs, the master started for it then waits in its handshake until released.
  std::mutex mutex;
  std::condition_variable changed;
  bool held = false, release = false;
  int connections = 0;
  TcpProxy proxy(daemon_->port(), [&](Direction d, uint64_t offset, std::string&) {
    if (d != Direction::ToServer || offset != 0) return true;
    std::unique_lock<std::mutex> lock(mutex);
    if (++connections == 1) return true;
    held = true;
    changed.notify_all();
    changed.wait_for(lock, std::chrono::seconds(60), [&] { return release; });
    return true;
  });
  // Released before the proxy goes, whatever happens below (its thread is waiting in there).
  struct Release {
    std::mutex& m;
    std::condition_variable& cv;
    bool& flag;
    ~Release() {
      std::lock_guard<std::mutex> lock(m);
      flag = true;
      cv.notify_all();
    }
  } release_guard{mutex, changed, release};
  const std::string host = "127.0.0.1:" + std::to_string(proxy.port());
  const std::string kh = dir_.file("kh-proxy");
  writeFile(kh, "[127.0.0.1]:" + std::to_string(proxy.port()) + " " + daemon_->fingerprint() + "\n");
  const std::string path = dir_.file("f-127.0.0.1");
  // A connect timeout well past the wait below: only the Ctrl-C can end the fan-out's wait.
  Subprocess fanout({rexecPath(), "-i", key_, "--known-hosts", kh, "--connect-timeout", "120", "-S",
                     dir_.file("f-%h"), "--persist", "60", "-H", host, "--", "echo", "ok"});
  ASSERT_TRUE(fanout.waitForStdout(host + ": ok\n"));
  {
    std::unique_lock<std::mutex> lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, std::chrono::seconds(60), [&] { return held; }))
        << "no master connected after the command";
  }
  fanout.signal(SIGINT);
  auto r = fanout.wait(std::chrono::seconds(30));
  EXPECT_EQ(r.exit_code, 130) << r.err;  // interrupted, as a local command would be
  EXPECT_NE(r.err.find("rexec: 1 host: 1 ok"), std::string::npos) << r.err;
  // The master still runs (in a session of its own, untouched by the Ctrl-C); ours to stop here.
  pid_t master = -1;
  for (const auto& p : processes())
    if (p.cmdline.find("rexec -M -S " + path + " ") == 0) master = p.pid;
  ASSERT_GT(master, 0) << "the master did not go on";
  EXPECT_NE(::getsid(master), ::getsid(0));
  ::kill(master, SIGTERM);
  EXPECT_TRUE(waitProcessGone(master));
}

// -E FILE: what a master says goes to FILE as well, with the time and its pid, so that a master
// started by --persist, which has left the terminal, still tells why it ended.
TEST_F(MasterTest, WithALogFileAMasterThatLeftTheTerminalStillSaysWhyItEnded) {
  const std::string log = dir_.file("master.log");
  auto first = run(rexec({"echo", "first"}, {"-S", sock(), "--persist", "600", "-E", log}));
  EXPECT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.err, "");
  const pid_t master = masterPid();
  ASSERT_GT(master, 0);
  struct stat st;
  ASSERT_EQ(::stat(log.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string label = "[127.0.0.1]:" + std::to_string(daemon_->port());
  const std::string who = " rexec[" + std::to_string(master) + "]: ";
  EXPECT_NE(readFile(log).find(who + "master for " + label + " listening on " + sock() + "\n"),
            std::string::npos)
      << readFile(log);
  // Its connection is lost long after it left the terminal: the file says so.
  daemon_->kill9();
  EXPECT_TRUE(waitProcessGone(master));
  const std::string text = readFile(log);
  EXPECT_NE(text.find(who + "127.0.0.1: connection lost"), std::string::npos) << text;
  // Each line: "YYYY-MM-DD HH:MM:SS rexec[PID]: ...".
  EXPECT_EQ(text.find(" rexec["), 19u) << text;
  daemon_.reset();
}

// Stopped by hand (here -O exit), a master started with -M -E notes that in the file too; -E is a
// master's option only.
TEST_F(MasterTest, WithALogFileAMasterNotesItsStop) {
  const std::string log = dir_.file("hand.log");
  auto master = startMaster({"-E", log});
  auto stop = run({rexecPath(), "-S", sock(), "-O", "exit", daemon_->target()});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_EQ(master->wait().exit_code, 0);
  const std::string text = readFile(log);
  EXPECT_NE(text.find("listening on " + sock() + "\n"), std::string::npos) << text;
  EXPECT_NE(text.find(" on " + sock() + " ended: the master was stopped\n"), std::string::npos) << text;
  auto refused = run(rexec({"true"}, {"-E", log}));
  EXPECT_EQ(refused.exit_code, 255);
  EXPECT_EQ(refused.err,
            "rexec: -E is for a master: with -M, or with -S PATH --persist (see rexec --help)\n");
  auto unwritable =
      run(concat(client(), {"-M", "-S", sock(), "-E", dir_.file("no-dir/log"), daemon_->target()}));
  EXPECT_EQ(unwritable.exit_code, 255);
  EXPECT_EQ(unwritable.err, "rexec: -E " + dir_.file("no-dir/log") + ": No such file or directory\n");
}

TEST_F(MasterTest, ALostConnectionFailsTheMastersCommandsAndTheMaster) {
  auto master = startMaster();
  auto c = startViaMaster({"sh", "-c", "echo ready; exec sleep " + mark(405)});
  ASSERT_NE(c, nullptr);
  daemon_->kill9();
  auto r = c->wait();
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("master: its connection to [127.0.0.1]:" + std::to_string(daemon_->port()) +
                       " ended: connection lost"),
            std::string::npos)
      << r.err;
  auto m = master->wait();
  EXPECT_EQ(m.exit_code, 255);
  EXPECT_NE(m.err.find("rexec: 127.0.0.1: connection lost"), std::string::npos) << m.err;
  EXPECT_FALSE(std::filesystem::exists(sock()));
  daemon_.reset();
}

}  // namespace
}  // namespace rxtest
