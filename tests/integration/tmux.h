#pragma once
// A private tmux server for driving `rexec -t` on a real terminal: its own socket in the test's
// folder and no configuration (tmux -S SOCKET -f /dev/null), one detached 80x24 session. What the
// pane shows is copied into a file (pipe-pane), and waits are on that file growing (inotify),
// each with a deadline. The destructor kills this server only: kill-server on its socket, then
// SIGKILL to its own PID if it is still there.
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace rxtest {

// Waits until `done` holds for the contents of file `path` (true), or the deadline passes; it is
// asked again whenever something in the file's folder changes.
bool waitForFile(const std::string& path, const std::function<bool(const std::string&)>& done,
                 std::chrono::milliseconds timeout = 60s);
bool waitForFileContaining(const std::string& path, const std::string& needle,
                           std::chrono::milliseconds timeout = 60s);

class Tmux {
 public:
  explicit Tmux(const TempDir& dir);
  ~Tmux();
  Tmux(const Tmux&) = delete;
  Tmux& operator=(const Tmux&) = delete;

  // Starts the session running `script` (a file of sh commands) in its 80x24 pane; the script
  // runs only once the pane's output is being recorded. False when tmux failed.
  bool start(const std::string& script);
  // tmux send-keys -t SESSION KEYS... (-l: literally, else key names such as Enter and C-c).
  bool sendKeys(const std::vector<std::string>& keys, bool literal = false);
  // Types `line` and presses Enter.
  bool typeLine(const std::string& line);
  bool resize(int cols, int rows);
  // Everything the pane has shown so far (escape sequences included).
  std::string output() const;
  bool waitForOutput(const std::string& needle, std::chrono::milliseconds timeout = 60s) const;
  pid_t serverPid() const { return server_pid_; }

 private:
  Subprocess::Result tmux(std::vector<std::string> args) const;
  std::string socket_;
  std::string log_;
  std::string gate_;
  pid_t server_pid_ = -1;
};

}  // namespace rxtest
