#include "tests/integration/tmux.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace rxtest {

bool waitForFileContaining(const std::string& path, const std::string& needle,
                           std::chrono::milliseconds timeout) {
  return waitForFile(
      path, [&](const std::string& text) { return text.find(needle) != std::string::npos; }, timeout);
}

bool waitForFile(const std::string& path, const std::function<bool(const std::string&)>& done,
                 std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const std::string dir = path.substr(0, path.rfind('/'));
  const int fd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0) return false;
  // The folder, not the file: the file may not exist yet, or be replaced by a rename.
  ::inotify_add_watch(fd, dir.c_str(), IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO);
  bool found = false;
  // Bounded: every turn either finds the text, or waits for a change until the deadline.
  while (true) {
    if (done(readFile(path))) {
      found = true;
      break;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) > 0) {
      char buf[4096];
      while (::read(fd, buf, sizeof buf) > 0) {
      }
    }
  }
  ::close(fd);
  return found;
}

Tmux::Tmux(const TempDir& dir)
    : socket_(dir.file("tmux.sock")), log_(dir.file("pane.log")), gate_(dir.file("pane.gate")) {}

Tmux::~Tmux() {
  if (server_pid_ <= 0) return;
  tmux({"kill-server"});
  // kill-server returns before the server has gone; make sure, by its own PID and nothing else.
  if (::kill(server_pid_, 0) == 0) {
    const auto deadline = Clock::now() + 10s;
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, server_pid_, 0));
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) ::kill(server_pid_, SIGKILL);
      ::close(pidfd);
    } else {
      ::kill(server_pid_, SIGKILL);
    }
  }
}

Subprocess::Result Tmux::tmux(std::vector<std::string> args) const {
  // env -u TMUX: a test run from inside someone's tmux must still talk only to its own server.
  std::vector<std::string> argv{"/usr/bin/env", "-u", "TMUX", "tmux", "-S", socket_, "-f", "/dev/null"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

bool Tmux::start(const std::string& script) {
  if (::mkfifo(gate_.c_str(), 0600) != 0) return false;
  writeFile(log_, "");
  // The pane waits at the gate until pipe-pane records it, so no output is missed.
  const std::string command = "read _ < '" + gate_ + "'; exec sh '" + script + "'";
  if (tmux({"new-session", "-d", "-s", "t", "-x", "80", "-y", "24", command}).exit_code != 0) return false;
  auto pid = tmux({"display-message", "-p", "-t", "t", "#{pid}"});
  server_pid_ = static_cast<pid_t>(std::atoi(pid.out.c_str()));
  if (tmux({"pipe-pane", "-t", "t", "cat >> '" + log_ + "'"}).exit_code != 0) return false;
  // Opening the FIFO for writing blocks until the pane has it open for reading.
  std::ofstream gate(gate_);
  gate << "go\n";
  return static_cast<bool>(gate.flush());
}

bool Tmux::sendKeys(const std::vector<std::string>& keys, bool literal) {
  std::vector<std::string> args{"send-keys", "-t", "t"};
  if (literal) args.push_back("-l");
  args.insert(args.end(), keys.begin(), keys.end());
  return tmux(args).exit_code == 0;
}

bool Tmux::typeLine(const std::string& line) { return sendKeys({line}, true) && sendKeys({"Enter"}); }

bool Tmux::resize(int cols, int rows) {
  return tmux({"resize-window", "-t", "t", "-x", std::to_string(cols), "-y", std::to_string(rows)})
             .exit_code == 0;
}

std::string Tmux::output() const { return readFile(log_); }

bool Tmux::waitForOutput(const std::string& needle, std::chrono::milliseconds timeout) const {
  return waitForFileContaining(log_, needle, timeout);
}

}  // namespace rxtest
