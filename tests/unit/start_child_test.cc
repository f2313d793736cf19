// startChild (daemon/start_child.h): the child gets exactly what uv_spawn gave it before, and the
// helper's own state (environ, signal mask) is as it was once the call returns.
#include "daemon/start_child.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pty.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/unit/scratch_dir.h"

extern char** environ;

namespace rx {
namespace {

// Everything `fd` gives until end of file (or EIO: a terminal's master once the slave is gone).
std::string readToEnd(int fd) {
  std::string out;
  char buf[4096];
  for (int i = 0; i < 100000; ++i) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// The fields of a /proc/PID/stat line the tests look at: pid (comm) state ppid pgrp session tty_nr
// tpgid ...
struct ProcStat {
  long ppid = 0, pgrp = 0, session = 0, tty = 0, tpgid = 0;
};
ProcStat parseStat(const std::string& line) {
  ProcStat st;
  std::istringstream in(line.substr(line.rfind(')') + 2));
  std::string state;
  in >> state >> st.ppid >> st.pgrp >> st.session >> st.tty >> st.tpgid;
  return st;
}

struct Pipe {
  int read = -1;
  int write = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) == 0) {
      read = fds[0];
      write = fds[1];
    }
  }
  ~Pipe() {
    closeWrite();
    if (read >= 0) ::close(read);
  }
  void closeWrite() {
    if (write >= 0) ::close(write);
    write = -1;
  }
  std::string readAll() {
    closeWrite();
    return readToEnd(read);
  }
};

// argv and env as the char* arrays startChild takes; the strings live as long as the object.
struct Args {
  std::vector<std::string> strings;
  std::vector<char*> pointers;
  explicit Args(std::vector<std::string> s) : strings(std::move(s)) {
    for (auto& a : strings) pointers.push_back(a.data());
    pointers.push_back(nullptr);
  }
  char* const* get() { return pointers.data(); }
};

int waitFor(int pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// Runs argv with its stdout on a pipe and returns what it printed; the exit status in *status,
// the child's pid in *child.
std::string run(std::vector<std::string> argv, std::vector<std::string> env = {"PATH=/usr/bin:/bin"},
                int* status = nullptr, ChildSpec base = {}, int* child = nullptr) {
  Args a(std::move(argv)), e(std::move(env));
  Pipe out;
  base.file = a.strings[0].c_str();
  base.argv = a.get();
  base.env = e.get();
  base.stdio[1] = out.write;
  const int pid = startChild(base);
  EXPECT_GT(pid, 0) << "start: " << -pid;
  if (child != nullptr) *child = pid;
  if (pid <= 0) return {};
  std::string text = out.readAll();
  const int st = waitFor(pid);
  if (status != nullptr) *status = st;
  return text;
}

class StartChildTest : public ::testing::Test {
 protected:
  std::string writeFile(const std::string& name, const std::string& text, mode_t mode) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }
  ScratchDir scratch_{"rx-start-child"};
  const std::string dir_ = scratch_.path();
};

TEST_F(StartChildTest, RunsTheCommandWithItsArgumentsEnvironmentAndDirectory) {
  ChildSpec spec;
  spec.cwd = "/usr";
  int status = -1;
  EXPECT_EQ(run({"sh", "-c", "echo \"$1|$GREETING|$(pwd)\"", "sh", "two words"},
                {"PATH=/usr/bin:/bin", "GREETING=hello"}, &status, spec),
            "two words|hello|/usr\n");
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);

  EXPECT_EQ(run({"sh", "-c", "exit 7"}, {"PATH=/usr/bin:/bin"}, &status), "");
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 7);
}

// The program is looked up in the command's PATH, not the helper's; a script without #! runs
// through /bin/sh, as execvp does.
TEST_F(StartChildTest, LooksTheProgramUpInTheCommandsOwnPath) {
  writeFile("rx-only-here", "echo found in $0\n", 0755);
  ASSERT_EQ(std::getenv("RX_NOT_IN_HELPER"), nullptr);
  EXPECT_EQ(run({"rx-only-here"}, {"PATH=/nonexistent:" + dir_}), "found in " + dir_ + "/rx-only-here\n");
  int status = -1;
  EXPECT_EQ(run({"sh", "-c", "echo $PATH"}, {"PATH=" + dir_ + ":/bin"}, &status), dir_ + ":/bin\n");
}

TEST_F(StartChildTest, FailuresAreReturnedAsErrnoAndTheChildIsReaped) {
  writeFile("not-executable", "echo no\n", 0644);
  Args env({"PATH=" + dir_ + ":/usr/bin:/bin"});
  struct Case {
    std::vector<std::string> argv;
    const char* cwd;
    int expected;
  } cases[] = {
      {{"rx-no-such-program"}, nullptr, -ENOENT},
      {{dir_ + "/not-executable"}, nullptr, -EACCES},
      {{"true"}, "/nonexistent/dir", -ENOENT},
      {{"true"}, "/etc/passwd", -ENOTDIR},
  };
  for (auto& c : cases) {
    Args argv(c.argv);
    Pipe out, err;
    ChildSpec spec;
    spec.file = argv.strings[0].c_str();
    spec.argv = argv.get();
    spec.env = env.get();
    spec.cwd = c.cwd;
    spec.stdio[1] = out.write;
    spec.stdio[2] = err.write;
    EXPECT_EQ(startChild(spec), c.expected) << c.argv[0];
    // The failed child wrote nothing: rexecd would relay it as the command's output (a sanitizer's
    // warning from the child once did that).
    EXPECT_EQ(out.readAll(), "") << c.argv[0];
    EXPECT_EQ(err.readAll(), "") << c.argv[0];
    // Already reaped: this process has no child left to wait for.
    int status = 0;
    EXPECT_EQ(::waitpid(-1, &status, WNOHANG), -1) << c.argv[0];
    EXPECT_EQ(errno, ECHILD);
  }
}

// The command leads a new session and process group, so rexecd's signals to the group reach all
// it starts, and nothing of the helper's terminal reaches it.
TEST_F(StartChildTest, TheChildLeadsItsOwnSession) {
  int pid = 0;
  const std::string line = run({"cat", "/proc/self/stat"}, {"PATH=/usr/bin:/bin"}, nullptr, {}, &pid);
  ASSERT_GT(pid, 0);
  const ProcStat st = parseStat(line);
  EXPECT_EQ(st.ppid, ::getpid());
  EXPECT_EQ(st.pgrp, pid);
  EXPECT_EQ(st.session, pid);
}

// Signals: the helper ignores some, has handlers for others, and blocks all of them while it
// starts a child; the command gets every one at its default and none blocked.
TEST_F(StartChildTest, TheChildGetsDefaultSignalsAndNoneBlocked) {
  struct sigaction ignore {
  }, handler{}, old_pipe{}, old_usr1{};
  ignore.sa_handler = SIG_IGN;
  handler.sa_handler = [](int) {};
  ASSERT_EQ(::sigaction(SIGPIPE, &ignore, &old_pipe), 0);
  ASSERT_EQ(::sigaction(SIGUSR1, &handler, &old_usr1), 0);
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR2);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &block, &old_mask), 0);
  char** const own_environ = environ;

  // cat installs no handler of its own (grep does, for SIGSEGV).
  std::istringstream lines(run({"cat", "/proc/self/status"}));
  std::string status, line;
  while (std::getline(lines, line))
    if (line.starts_with("SigBlk:") || line.starts_with("SigIgn:") || line.starts_with("SigCgt:"))
      status += line + "\n";

  // And the caller's state is back as it was.
  EXPECT_EQ(environ, own_environ);
  sigset_t now;
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, nullptr, &now), 0);
  EXPECT_TRUE(sigismember(&now, SIGUSR2));
  EXPECT_FALSE(sigismember(&now, SIGUSR1));
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ::sigaction(SIGPIPE, &old_pipe, nullptr);
  ::sigaction(SIGUSR1, &old_usr1, nullptr);

  EXPECT_EQ(status, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\nSigCgt:\t0000000000000000\n");
}

// stdin, stdout and stderr: the given descriptors (made blocking), /dev/null for -1, and nothing
// else of the helper's that is close-on-exec, including the copies made on the way.
TEST_F(StartChildTest, StdioIsWhatWasAskedForAndNothingElseLeaks) {
  Pipe out, err;
  ASSERT_EQ(::fcntl(out.write, F_SETFL, O_NONBLOCK), 0);
  Args argv(
      {"sh", "-c",
       "readlink /proc/self/fd/0; grep ^flags: /proc/self/fdinfo/1; echo to-err >&2; ls /proc/self/fd"}),
      env({"PATH=/usr/bin:/bin"});
  ChildSpec spec;
  spec.file = "sh";
  spec.argv = argv.get();
  spec.env = env.get();
  spec.stdio[1] = out.write;
  spec.stdio[2] = err.write;
  const int pid = startChild(spec);
  ASSERT_GT(pid, 0);
  std::istringstream lines(out.readAll());
  EXPECT_EQ(err.readAll(), "to-err\n");
  waitFor(pid);

  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line, "/dev/null");
  std::getline(lines, line);
  const long flags = std::strtol(line.substr(line.find_first_of("0123456789")).c_str(), nullptr, 8);
  EXPECT_EQ(flags & O_NONBLOCK, 0) << line;
  // The descriptors open in the child (one more is ls's own directory) against this process's
  // that are not close-on-exec.
  std::set<int> expected = {0, 1, 2};
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::stoi(entry.path().filename());
    const int fd_flags = ::fcntl(fd, F_GETFD);
    if (fd_flags >= 0 && (fd_flags & FD_CLOEXEC) == 0) expected.insert(fd);
  }
  std::set<int> seen;
  while (std::getline(lines, line)) seen.insert(std::stoi(line));
  for (const int fd : expected) EXPECT_EQ(seen.erase(fd), 1u) << "fd " << fd;
  EXPECT_EQ(seen.size(), 1u) << "more than ls's own directory";
}

// A source descriptor below 3 must not be overwritten before it is used: stdout and stderr
// swapped, as a helper whose own 1 and 2 are those descriptors would ask.
TEST_F(StartChildTest, StdoutAndStderrSwappedAreNotMixedUp) {
  Pipe a, b;
  const int saved1 = ::fcntl(1, F_DUPFD_CLOEXEC, 10), saved2 = ::fcntl(2, F_DUPFD_CLOEXEC, 10);
  ASSERT_GE(saved1, 0);
  ASSERT_GE(saved2, 0);
  ::dup2(a.write, 1);
  ::dup2(b.write, 2);
  Args argv({"sh", "-c", "echo out; echo err >&2"}), env({"PATH=/usr/bin:/bin"});
  ChildSpec spec;
  spec.file = "sh";
  spec.argv = argv.get();
  spec.env = env.get();
  spec.stdio[1] = 2;
  spec.stdio[2] = 1;
  const int pid = startChild(spec);
  ::dup2(saved1, 1);
  ::dup2(saved2, 2);
  ::close(saved1);
  ::close(saved2);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(b.readAll(), "out\n");
  EXPECT_EQ(a.readAll(), "err\n");
  waitFor(pid);
}

// On a terminal: the slave is stdin, stdout and stderr, and the command's controlling terminal
// (field 7 of /proc/self/stat, tty_nr, is the slave's device), with its group in the foreground.
TEST_F(StartChildTest, ATerminalBecomesTheControllingTerminal) {
  // Runs `cat /proc/self/stat` on a new terminal: its pid, its stat line, the slave's device.
  struct OnTerminal {
    int pid = -1;
    ProcStat stat;
    dev_t slave_device = 0;
  };
  auto runOnTerminal = [](bool controlling) {
    OnTerminal r;
    int master = -1, slave = -1;
    EXPECT_EQ(::openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
    if (master < 0) return r;
    ::fcntl(master, F_SETFD, FD_CLOEXEC);
    ::fcntl(slave, F_SETFD, FD_CLOEXEC);
    struct stat st {};
    EXPECT_EQ(::fstat(slave, &st), 0);
    r.slave_device = st.st_rdev;
    Args argv({"sh", "-c", "cat /proc/self/stat"}), env({"PATH=/usr/bin:/bin"});
    ChildSpec spec;
    spec.file = "sh";
    spec.argv = argv.get();
    spec.env = env.get();
    spec.stdio[0] = spec.stdio[1] = spec.stdio[2] = slave;
    spec.controlling_terminal = controlling;
    r.pid = startChild(spec);
    ::close(slave);
    if (r.pid > 0) {
      const std::string out = readToEnd(master);  // until EIO: the last holder of the slave is gone
      waitFor(r.pid);
      r.stat = parseStat(out);
    }
    ::close(master);
    return r;
  };

  const OnTerminal with = runOnTerminal(true);
  ASSERT_GT(with.pid, 0);
  EXPECT_EQ(with.stat.session, with.pid);
  EXPECT_EQ(with.stat.tty, static_cast<long>(with.slave_device));
  EXPECT_EQ(with.stat.tpgid, with.stat.pgrp) << "the command's group is the terminal's foreground group";

  // Without the flag the same kind of terminal is only its stdio.
  const OnTerminal without = runOnTerminal(false);
  ASSERT_GT(without.pid, 0);
  EXPECT_EQ(without.stat.tty, 0);
}

// As root the command runs as the account asked for, with no supplementary group left of root's;
// not root, only its own account can be asked for (common/run_as_user.h), and that works too.
TEST_F(StartChildTest, TheChildRunsAsTheUserAskedFor) {
  const bool root = ::geteuid() == 0;
  ChildSpec spec;
  spec.set_user = true;
  spec.uid = root ? 65534 : ::geteuid();
  spec.gid = root ? 65534 : ::getegid();
  const std::string ids =
      run({"sh", "-c", "echo $(id -u) $(id -g) $(id -G)"}, {"PATH=/usr/bin:/bin"}, nullptr, spec);
  if (root) {
    EXPECT_EQ(ids, "65534 65534 65534\n");
  } else {
    EXPECT_EQ(ids.substr(0, ids.find(' ', ids.find(' ') + 1)),
              std::to_string(::geteuid()) + " " + std::to_string(::getegid()));
  }
  if (root) {
    // An account change that fails is an error, not a command run as root.
    Args argv({"true"}), env({"PATH=/usr/bin:/bin"});
    spec.file = "true";
    spec.argv = argv.get();
    spec.env = env.get();
    spec.uid = static_cast<uid_t>(-1);  // setuid(-1) is EINVAL
    EXPECT_EQ(startChild(spec), -EINVAL);
  }
}

}  // namespace
}  // namespace rx
