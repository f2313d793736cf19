// Commands, exit codes, signals and streams, through the real rexec and rexecd.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "tests/integration/fixture.h"
#include "tests/integration/proxy.h"

namespace rxtest {
namespace {

using ExecTest = RexecTest;

TEST_F(ExecTest, ExitCodeZero) {
  auto r = runRemote({"true"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err, "");
}

TEST_F(ExecTest, ExitCodeOne) { EXPECT_EQ(runRemote({"false"}).exit_code, 1); }

TEST_F(ExecTest, ExitCode42) { EXPECT_EQ(runRemote({"sh", "-c", "exit 42"}).exit_code, 42); }

TEST_F(ExecTest, ExitCode255IsTheCommandsOwnAndSaysNothing) {
  auto r = runRemote({"sh", "-c", "exit 255"});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_EQ(r.err, "") << "a remote 255 is not a rexec failure, so rexec prints nothing";
}

TEST_F(ExecTest, StdoutIsReturnedAsIs) {
  auto r = runRemote({"echo", "hello", "world"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "hello world\n");
}

TEST_F(ExecTest, ArgvIsNotReparsedByAShell) {
  auto r = runRemote({"printf", "%s|", "a b", "$HOME", "'q'", "*", "--", "-l"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "a b|$HOME|'q'|*|--|-l|");
}

TEST_F(ExecTest, StderrIsKeptApartFromStdout) {
  auto r = runRemote({"sh", "-c", "echo out1; echo err1 >&2; echo out2; echo err2 >&2; exit 3"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "out1\nout2\n");
  EXPECT_EQ(r.err, "err1\nerr2\n");
}

TEST_F(ExecTest, ShellModeRunsAPipeline) {
  auto r = run(concat(client(), {"--sh", daemon_->target(), "echo abc | tr a-z A-Z; exit 5"}));
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_EQ(r.out, "ABC\n");
}

TEST_F(ExecTest, KilledBySignalGives128PlusN) {
  auto r = runRemote({"sh", "-c", "kill -KILL $$"});
  EXPECT_EQ(r.exit_code, 128 + SIGKILL);
  auto t = runRemote({"sh", "-c", "kill -TERM $$"});
  EXPECT_EQ(t.exit_code, 128 + SIGTERM);
  auto s = runRemote({"sh", "-c", "kill -SEGV $$"});
  EXPECT_EQ(s.exit_code, 128 + SIGSEGV);
}

TEST_F(ExecTest, ProgramNotFoundGives127) {
  auto r = runRemote({"no-such-program-rexec-test"});
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_NE(r.err.find("rexec: 127.0.0.1: cannot run the command: no-such-program-rexec-test: no such file"),
            std::string::npos)
      << r.err;
}

TEST_F(ExecTest, NotExecutableGives126) {
  const std::string script = dir_.file("not-executable");
  writeFile(script, "#!/bin/sh\necho hi\n", 0644);
  auto r = runRemote({script});
  EXPECT_EQ(r.exit_code, 126);
  EXPECT_NE(r.err.find("permission denied"), std::string::npos) << r.err;
}

TEST_F(ExecTest, WorkingDirectory) {
  auto r = runRemote({"pwd"}, {"--cwd", dir_.path()});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, dir_.path() + "\n");
  auto home = runRemote({"pwd"});
  EXPECT_EQ(home.out, std::string(getenv("HOME") ? getenv("HOME") : "/root") + "\n");
}

TEST_F(ExecTest, MissingWorkingDirectoryIsReportedNotRun) {
  auto r = runRemote({"touch", dir_.file("marker")}, {"--cwd", dir_.file("nowhere")});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("no such directory"), std::string::npos) << r.err;
  EXPECT_NE(access(dir_.file("marker").c_str(), F_OK), 0);
}

TEST_F(ExecTest, EnvironmentIsMinimalAndAllowListed) {
  auto r = runRemote({"env"}, {"--env", "LANG=C", "--env", "LD_PRELOAD=/tmp/evil.so", "--env", "TZ=UTC",
                               "--env", "PATH=/evil"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("LANG=C\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("TZ=UTC\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PATH=/usr/local/bin:/usr/bin:/bin\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("LD_PRELOAD"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("HOME="), std::string::npos);
  EXPECT_NE(r.out.find("USER="), std::string::npos);
  // Nothing of the daemon's own environment leaks through.
  EXPECT_EQ(r.out.find("GTEST"), std::string::npos);
  EXPECT_TRUE(daemon_->waitForLog({"ignoring environment variable LD_PRELOAD"}));
}

TEST_F(ExecTest, AuditLineForEveryCommand) {
  ASSERT_EQ(runRemote({"sh", "-c", "printf 12345; printf ab >&2; exit 7"}).exit_code, 7);
  auto line = daemon_->waitForLog({"audit", "exec=1", "exit=7"});
  ASSERT_TRUE(line);
  EXPECT_NE(line->find("peer=127.0.0.1:"), std::string::npos) << *line;
  EXPECT_NE(line->find("key=ed25519-"), std::string::npos) << *line;
  EXPECT_NE(line->find("argv=[\"sh\",\"-c\",\"printf 12345; printf ab >&2; exit 7\"]"), std::string::npos)
      << *line;
  EXPECT_NE(line->find("stdout_bytes=5 stderr_bytes=2"), std::string::npos) << *line;
  EXPECT_NE(line->find("duration_ms="), std::string::npos) << *line;
  EXPECT_EQ(line->rfind("<5>", 0), 0u) << "audit lines carry a syslog priority prefix";
}

TEST_F(ExecTest, BadCommandLineIsOneClearLine) {
  auto r = run(concat(client(), {"--bogus", daemon_->target(), "true"}));
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_EQ(r.err.rfind("rexec: ", 0), 0u) << r.err;
  auto none = run(concat(client(), {daemon_->target()}));
  EXPECT_EQ(none.exit_code, 255);
  EXPECT_NE(none.err.find("no command"), std::string::npos);
}

TEST_F(ExecTest, ConnectionRefusedIs255) {
  // Port 1 on loopback: nothing listens there on a test machine.
  auto r = run(concat(client(), {"127.0.0.1:1", "true"}));
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("rexec: 127.0.0.1: cannot connect"), std::string::npos) << r.err;
}

TEST_F(ExecTest, NotATlsServerIsOneClearLineInWords) {
  // An SSH server's banner where the TLS ServerHello should be. The client loads OpenSSL's error
  // text only on the error path (common/openssl_errors.h); the line must still say what failed
  // in words, not "lib(20)::reason(267)".
  TcpProxy ssh_like(daemon_->port(), [](Direction d, uint64_t, std::string& chunk) {
    if (d == Direction::ToClient) chunk = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";
    return true;
  });
  auto r = run(rexecVia(ssh_like.port(), {"true"}));
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("TLS handshake failed: error:0A00010B:SSL routines::wrong version number"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(ExecTest, KeyFileReadableByOthersIsRefused) {
  chmod(key_.c_str(), 0644);
  auto r = runRemote({"true"});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("too open"), std::string::npos) << r.err;
  chmod(key_.c_str(), 0600);
}

TEST_F(ExecTest, KeygenWritesAPrivateKeyFile) {
  const std::string path = dir_.file("sub/newkey");
  auto r = run({keygenPath(), "-f", path, "-C", "me@here"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(r.out.rfind("ed25519 ", 0), 0u) << "Ed25519 is the default";
  EXPECT_NE(r.out.find(" me@here\n"), std::string::npos);
  auto again = run({keygenPath(), "-f", path});
  EXPECT_NE(again.exit_code, 0) << "never overwrite an existing key";
}

TEST(KeyTypes, HmacSha256KeysWorkEndToEnd) {
  TempDir dir;
  const std::string line = makeKey(dir.file("id"), "classic", "hmac-sha256");
  ASSERT_EQ(line.rfind("hmac-sha256 ", 0), 0u);
  writeFile(dir.file("authorized_keys"), line, 0600);
  Daemon d(dir.file("authorized_keys"), dir.path());
  auto r = run({rexecPath(), "-i", dir.file("id"), "--known-hosts", dir.file("kh"), "--accept-new",
                d.target(), "echo", "hmac ok"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hmac ok\n");
  EXPECT_TRUE(d.waitForLog({"audit", "key=hmac-", "exit=0"}));
  EXPECT_EQ(d.stop(), 0);
}

TEST(KeyTypes, HmacKeyInAReadableAuthorizedKeysFileIsRefusedAtStart) {
  TempDir dir;
  writeFile(dir.file("authorized_keys"), makeKey(dir.file("id"), "classic", "hmac-sha256"), 0644);
  auto r = run({rexecdPath(), "--listen", "127.0.0.1:0", "--authorized-keys", dir.file("authorized_keys"),
                "--host-key", dir.file("host_key")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("shared secret"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(":1:"), std::string::npos) << "names the line: " << r.err;
}

}  // namespace
}  // namespace rxtest
