// rexec -t on a real terminal: rexec runs in the pane of a private tmux server, the test types
// into it (send-keys) and reads what the pane shows (pipe-pane into a file). A wrapper script in
// the pane records `stty -g` before and after rexec and rexec's exit status, so every way out is
// checked for leaving the terminal as it found it.
#include <signal.h>
#include <unistd.h>

#include <functional>

#include "tests/integration/fixture.h"
#include "tests/integration/tmux.h"

namespace rxtest {
namespace {

// The remote shell: dash, interactive because its stdin is a terminal, with a prompt to wait for.
const std::vector<std::string> kRemoteShell{"env", "PS1=pty-ready$ ", "sh"};

class PtyTest : public RexecTest {
 protected:
  // Writes the pane's script: stty -g, then `rexec_line` (a sh command line), then its status and
  // stty -g again; the status file appears (by rename) only once both settings were saved.
  std::string wrapper(const std::string& rexec_line) {
    const std::string script = dir_.file("pane.sh");
    writeFile(script,
              "stty -g > '" + dir_.file("stty.before") + "'\n" + rexec_line + "\n" + "echo $? > '" +
                  dir_.file("status.tmp") + "'\n" + "stty -g > '" + dir_.file("stty.after") + "'\n" + "mv '" +
                  dir_.file("status.tmp") + "' '" + dir_.file("status") + "'\n",
              0644);
    return script;
  }
  static std::string quote(const std::string& word) { return "'" + word + "'"; }
  // The rexec command line for the wrapper: TERM set to a known value (through env, so the line also
  // works after exec), which rexec passes on.
  std::string rexecLine(const std::vector<std::string>& command, const std::vector<std::string>& opts = {}) {
    std::string line = "env TERM=xterm-256color";
    for (const auto& w : rexec(command, concat({"-t"}, opts))) line += " " + quote(w);
    return line;
  }
  // Waits for the wrapper to finish; its rexec exit status, or -1.
  int waitStatus() {
    if (!waitForFileContaining(dir_.file("status"), "\n")) return -1;
    return std::atoi(readFile(dir_.file("status")).c_str());
  }
  void expectTerminalRestored() {
    const std::string before = readFile(dir_.file("stty.before"));
    EXPECT_FALSE(before.empty());
    EXPECT_EQ(readFile(dir_.file("stty.after")), before) << "rexec must restore the terminal's settings";
  }
  // Types `echo TAG$((0))=$(COMMAND)=E` and returns what the remote printed between TAG0= and =E
  // (the typed line shows "TAG$((0))", so only the output can match "TAG0=").
  std::string ask(Tmux& tmux, const std::string& tag, const std::string& command) {
    if (!tmux.typeLine("echo " + tag + "$((0))=$(" + command + ")=E")) return "<send-keys failed>";
    const std::string start = tag + "0=";
    std::string answer = "<no answer>";
    waitForFile(dir_.file("pane.log"), [&](const std::string& out) {
      const size_t at = out.find(start);
      if (at == std::string::npos) return false;
      const size_t end = out.find("=E", at + start.size());
      if (end == std::string::npos) return false;
      answer = out.substr(at + start.size(), end - at - start.size());
      return true;
    });
    return answer;
  }
};

TEST_F(PtyTest, InteractiveShellOnARealTerminal) {
  Tmux tmux(dir_);
  ASSERT_TRUE(tmux.start(wrapper(rexecLine(kRemoteShell))));
  ASSERT_TRUE(tmux.waitForOutput("pty-ready$ ")) << tmux.output();

  ASSERT_TRUE(tmux.typeLine("echo hello-$((6*7))"));
  EXPECT_TRUE(tmux.waitForOutput("hello-42")) << tmux.output();
  EXPECT_EQ(ask(tmux, "TTY", "tty").rfind("/dev/pts/", 0), 0u) << tmux.output();
  EXPECT_EQ(ask(tmux, "TERM", "echo $TERM"), "xterm-256color");
  EXPECT_EQ(ask(tmux, "SIZE", "stty size"), "24 80");

  // The pane's window grows: tmux resizes the local terminal, rexec gets SIGWINCH and sends the
  // new size, the remote terminal takes it. The resize and the next keys race inside rexec, so
  // ask until the new size shows (bounded; each question waits for its own answer).
  ASSERT_TRUE(tmux.resize(100, 30));
  std::string size;
  for (int i = 0; i < 20 && size != "30 100"; ++i)
    size = ask(tmux, "RESIZED" + std::to_string(i) + "X", "stty size");
  EXPECT_EQ(size, "30 100") << tmux.output();

  ASSERT_TRUE(tmux.typeLine("exit 7"));
  EXPECT_EQ(waitStatus(), 7) << tmux.output();
  expectTerminalRestored();
}

TEST_F(PtyTest, CtrlCInterruptsTheRemoteCommandNotRexec) {
  Tmux tmux(dir_);
  ASSERT_TRUE(tmux.start(wrapper(rexecLine(kRemoteShell))));
  ASSERT_TRUE(tmux.waitForOutput("pty-ready$ ")) << tmux.output();
  // The marker comes from the process that becomes `sleep`, so ^C cannot come too early.
  ASSERT_TRUE(tmux.typeLine("sh -c 'echo started-$((2+3)); exec sleep 1000'"));
  ASSERT_TRUE(tmux.waitForOutput("started-5")) << tmux.output();
  ASSERT_TRUE(tmux.sendKeys({"C-c"}));
  // While sleep 1000 ran, the shell could not run this; it does once ^C reached it as SIGINT.
  ASSERT_TRUE(tmux.typeLine("echo alive-$((3*3))"));
  EXPECT_TRUE(tmux.waitForOutput("alive-9")) << tmux.output();
  ASSERT_TRUE(tmux.typeLine("exit 3"));
  EXPECT_EQ(waitStatus(), 3) << tmux.output();
  expectTerminalRestored();
}

TEST_F(PtyTest, RemoteSignalDeathRestoresTheTerminal) {
  Tmux tmux(dir_);
  ASSERT_TRUE(tmux.start(wrapper(rexecLine(kRemoteShell))));
  ASSERT_TRUE(tmux.waitForOutput("pty-ready$ ")) << tmux.output();
  ASSERT_TRUE(tmux.typeLine("kill -KILL $$"));
  EXPECT_EQ(waitStatus(), 128 + SIGKILL) << tmux.output();
  expectTerminalRestored();
}

TEST_F(PtyTest, TimeoutRestoresTheTerminal) {
  Tmux tmux(dir_);
  ASSERT_TRUE(tmux.start(
      wrapper(rexecLine({"sh", "-c", "echo sleeping-$((1+1)); exec sleep 1000"}, {"--timeout", "1"}))));
  ASSERT_TRUE(tmux.waitForOutput("sleeping-2")) << tmux.output();
  EXPECT_EQ(waitStatus(), 124) << tmux.output();
  EXPECT_NE(tmux.output().find("timed out"), std::string::npos) << tmux.output();
  expectTerminalRestored();
}

TEST_F(PtyTest, DaemonDisconnectRestoresTheTerminal) {
  Tmux tmux(dir_);
  ASSERT_TRUE(tmux.start(wrapper(rexecLine(kRemoteShell))));
  ASSERT_TRUE(tmux.waitForOutput("pty-ready$ ")) << tmux.output();
  const pid_t pgid = startedPid(*daemon_);
  ASSERT_GT(pgid, 0);
  daemon_->kill9();
  EXPECT_EQ(waitStatus(), 255) << tmux.output();
  EXPECT_NE(tmux.output().find("connection lost"), std::string::npos) << tmux.output();
  expectTerminalRestored();
  // The daemon was killed outright (its terminal hung up on the shell already): clean up anyway.
  if (pgid > 0) ::kill(-pgid, SIGKILL);
  daemon_.reset();
}

TEST_F(PtyTest, LocalSigtermRestoresTheTerminalAndEndsTheRemoteShell) {
  Tmux tmux(dir_);
  const std::string pid_file = dir_.file("rexec.pid");
  ASSERT_TRUE(
      tmux.start(wrapper("sh -c 'echo $$ > " + pid_file + "; exec \"$@\"' sh " + rexecLine(kRemoteShell))));
  ASSERT_TRUE(tmux.waitForOutput("pty-ready$ ")) << tmux.output();
  const pid_t pgid = startedPid(*daemon_);
  ASSERT_GT(pgid, 0);
  ASSERT_TRUE(waitForFileContaining(pid_file, "\n"));
  const pid_t rexec_pid = static_cast<pid_t>(std::atoi(readFile(pid_file).c_str()));
  ASSERT_GT(rexec_pid, 0);
  ::kill(rexec_pid, SIGTERM);
  EXPECT_EQ(waitStatus(), 128 + SIGTERM) << tmux.output();
  expectTerminalRestored();
  // The connection went away, so the daemon ends the shell's process group.
  EXPECT_TRUE(waitGroupGone(pgid)) << "the remote shell must not outlive the connection";
}

TEST_F(PtyTest, WithoutALocalTerminalTWarnsAndRunsOnPipes) {
  auto r = runRemote({"sh", "-c", "test -t 0 && echo tty || echo notty"}, {"-t"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "notty\n");
  EXPECT_NE(r.err.find("stdin is not a terminal"), std::string::npos) << r.err;
}

TEST_F(PtyTest, TwiceTForcesATerminalWithoutALocalOne) {
  Subprocess::Options o;
  o.stdin_data = "";
  auto r = runRemote({"sh", "-c", "tty; echo err >&2; exit 4"}, {"-t", "-t"}, o);
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(r.out.rfind("/dev/pts/", 0), 0u) << r.out;
  // One terminal: stderr comes back through it, as stdout, with the terminal's \r\n.
  EXPECT_NE(r.out.find("err\r\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
}

TEST_F(PtyTest, TAndNDoNotGoTogether) {
  auto r = runRemote({"true"}, {"-t", "-n"});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("-t and -n"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace rxtest
