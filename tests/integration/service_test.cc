// Running as a service: the config file, --check-config, SIGHUP reload, the systemd notify
// protocol (without systemd: the test binds NOTIFY_SOCKET itself) and socket activation.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/integration/fixture.h"

namespace rxtest {
namespace {

class ServiceTest : public RexecTest {
 public:
  void SetUp() override {}  // each test starts its own daemon
  void TearDown() override {}

  void startDaemon(Daemon::Options o = {}) {
    key_ = dir_.file("id");
    if (access(key_.c_str(), F_OK) != 0) writeFile(dir_.file("authorized_keys"), makeKey(key_), 0600);
    daemon_ = std::make_unique<Daemon>(dir_.file("authorized_keys"), dir_.path(), o);
    writeFile(knownHosts(),
              "[127.0.0.1]:" + std::to_string(daemon_->port()) + " " + daemon_->fingerprint() + "\n");
  }
};

TEST_F(ServiceTest, ConfigFileSetsOptionsAndTheCommandLineWins) {
  writeFile(dir_.file("rexecd.conf"),
            "# rexecd test config\naccept_env = [\"FOO_*\"]\nkill_grace_ms = 1500\n");
  Daemon::Options o;
  o.extra_args = {"--config", dir_.file("rexecd.conf")};
  startDaemon(o);
  auto r = runRemote({"env"}, {"--env", "FOO_BAR=from-config"});
  EXPECT_NE(r.out.find("FOO_BAR=from-config"), std::string::npos) << r.out;
  EXPECT_EQ(daemon_->stop(), 0);

  o.extra_args.push_back("--accept-env");
  o.extra_args.push_back("LANG");
  startDaemon(o);
  auto r2 = runRemote({"env"}, {"--env", "FOO_BAR=from-config", "--env", "LANG=C"});
  EXPECT_EQ(r2.out.find("FOO_BAR"), std::string::npos)
      << "the command line replaced the file's list: " << r2.out;
  EXPECT_NE(r2.out.find("LANG=C"), std::string::npos);
  EXPECT_EQ(daemon_->stop(), 0);
}

TEST_F(ServiceTest, CheckConfigPrintsEveryProblemWithFileAndLine) {
  writeFile(dir_.file("rexecd.conf"),
            "log_level = \"debug\"\nno_such_key = 1\nmax_wrong = 2\nkill_grace_ms = \"x\"\n");
  writeFile(dir_.file("authorized_keys"), "ed25519 AAAA\n", 0600);
  auto r = run({rexecdPath(), "--config", dir_.file("rexecd.conf"), "--authorized-keys",
                dir_.file("authorized_keys"), "--host-key", dir_.file("host_key"), "--check-config"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("rexecd.conf:2: unknown key 'no_such_key'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("rexecd.conf:3: unknown key 'max_wrong'"), std::string::npos) << r.err;

  writeFile(dir_.file("rexecd.conf"), "log_level = \"debug\"\nkill_grace_ms = \"x\"\n");
  auto c = run({rexecdPath(), "--config", dir_.file("rexecd.conf"), "--authorized-keys",
                dir_.file("authorized_keys"), "--host-key", dir_.file("host_key"), "--check-config"});
  EXPECT_EQ(c.exit_code, 1);
  EXPECT_NE(c.err.find("rexecd.conf:2: kill_grace_ms"), std::string::npos) << c.err;

  writeFile(dir_.file("rexecd.conf"), "log_level = \"debug\"\n");
  auto k = run({rexecdPath(), "--config", dir_.file("rexecd.conf"), "--authorized-keys",
                dir_.file("authorized_keys"), "--host-key", dir_.file("host_key"), "--check-config"});
  EXPECT_EQ(k.exit_code, 1);
  EXPECT_NE(k.err.find("authorized_keys:1:"), std::string::npos) << k.err;

  writeFile(dir_.file("authorized_keys"), makeKey(dir_.file("id")), 0600);
  auto ok = run({rexecdPath(), "--config", dir_.file("rexecd.conf"), "--authorized-keys",
                 dir_.file("authorized_keys"), "--host-key", dir_.file("host_key"), "--check-config"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("OK (1 authorized key(s)"), std::string::npos) << ok.out;
}

TEST_F(ServiceTest, DaemonRefusesKeysOthersCanReadOrWrite) {
  writeFile(dir_.file("authorized_keys"), makeKey(dir_.file("id")), 0600);
  auto init = run({rexecdPath(), "--init-host-key", dir_.file("host_key")});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_EQ(init.out.rfind("SHA256:", 0), 0u) << init.out;
  const std::vector<std::string> start{rexecdPath(),
                                       "--config",
                                       "/dev/null",
                                       "--listen",
                                       "127.0.0.1:0",
                                       "--authorized-keys",
                                       dir_.file("authorized_keys"),
                                       "--host-key",
                                       dir_.file("host_key"),
                                       "--check-config"};
  EXPECT_EQ(run(start).exit_code, 0);

  chmod(dir_.file("host_key").c_str(), 0644);
  auto readable = run(start);
  EXPECT_EQ(readable.exit_code, 1);
  EXPECT_NE(readable.err.find("host_key: permissions 0644 are too open"), std::string::npos) << readable.err;
  auto started = run({rexecdPath(), "--config", "/dev/null", "--listen", "127.0.0.1:0", "--authorized-keys",
                      dir_.file("authorized_keys"), "--host-key", dir_.file("host_key")});
  EXPECT_EQ(started.exit_code, 2) << "the daemon does not start";
  chmod(dir_.file("host_key").c_str(), 0600);

  chmod(dir_.file("authorized_keys").c_str(), 0646);
  auto writable = run(start);
  EXPECT_EQ(writable.exit_code, 1);
  EXPECT_NE(writable.err.find("must not be writable by group or others"), std::string::npos) << writable.err;
}

TEST_F(ServiceTest, ExplicitMissingConfigIsAnError) {
  writeFile(dir_.file("authorized_keys"), makeKey(dir_.file("id")), 0600);
  auto r = run({rexecdPath(), "--config", dir_.file("missing.conf"), "--authorized-keys",
                dir_.file("authorized_keys"), "--host-key", dir_.file("host_key"), "--check-config"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("missing.conf: No such file"), std::string::npos) << r.err;
}

TEST_F(ServiceTest, SighupReloadsKeysWithoutDroppingRunningCommands) {
  Daemon::Options o;
  o.extra_args = {"--auth-penalty", "0"};  // the removed key fails on purpose below
  startDaemon(o);
  Subprocess::Options keep;
  keep.keep_stdin_open = true;
  Subprocess running(rexec({"sh", "-c", "echo ready; cat; echo still-here"}), keep);
  ASSERT_TRUE(running.waitForStdout("ready\n"));

  // Replace the authorized keys with a new key only.
  const std::string key2 = dir_.file("id2");
  writeFile(dir_.file("authorized_keys"), makeKey(key2, "second"), 0600);
  kill(daemon_->pid(), SIGHUP);
  ASSERT_TRUE(daemon_->waitForLog({"reloaded: 1 authorized key(s)"}));
  auto with2 = run(
      concat({rexecPath(), "-i", key2, "--known-hosts", knownHosts(), daemon_->target()}, {"echo", "two"}));
  EXPECT_EQ(with2.exit_code, 0) << with2.err;
  EXPECT_EQ(runRemote({"true"}).exit_code, 255) << "the removed key no longer works";

  // A bad reload keeps what runs.
  writeFile(dir_.file("authorized_keys"), "garbage line\n", 0600);
  kill(daemon_->pid(), SIGHUP);
  ASSERT_TRUE(daemon_->waitForLog({"reload failed, keeping the running configuration"}));
  auto still2 =
      run(concat({rexecPath(), "-i", key2, "--known-hosts", knownHosts(), daemon_->target()}, {"true"}));
  EXPECT_EQ(still2.exit_code, 0) << still2.err;

  running.closeStdin();
  auto r = running.wait();
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "ready\nstill-here\n");
  EXPECT_EQ(daemon_->stop(), 0);
}

// A datagram socket standing in for systemd's NOTIFY_SOCKET.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  ~NotifySocket() {
    close(fd_);
    unlink(path_.c_str());
  }
  // Next datagram, or "" after the timeout.
  std::string next(std::chrono::milliseconds timeout = 30s) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return "";
    char buf[4096];
    const ssize_t n = recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }
  // Reads datagrams until one contains `needle`; returns it ("" if none came in time).
  std::string waitFor(const std::string& needle) {
    for (int i = 0; i < 1000; ++i) {
      std::string d = next();
      if (d.empty()) return "";
      if (d.find(needle) != std::string::npos) return d;
    }
    return "";
  }

 private:
  std::string path_;
  int fd_;
};

TEST_F(ServiceTest, NotifiesReadyWatchdogAndStopping) {
  NotifySocket notify(dir_.file("notify"));
  Daemon::Options o;
  o.env = {"NOTIFY_SOCKET=" + dir_.file("notify"), "WATCHDOG_USEC=200000"};
  startDaemon(o);
  const std::string ready = notify.waitFor("READY=1");
  ASSERT_NE(ready, "");
  EXPECT_NE(ready.find("STATUS=listening on 127.0.0.1:"), std::string::npos) << ready;
  EXPECT_NE(ready.find("MAINPID=" + std::to_string(daemon_->pid())), std::string::npos) << ready;
  EXPECT_NE(notify.waitFor("WATCHDOG=1"), "");
  EXPECT_NE(notify.waitFor("WATCHDOG=1"), "") << "pings keep coming";
  EXPECT_EQ(runRemote({"true"}).exit_code, 0);
  kill(daemon_->pid(), SIGHUP);
  EXPECT_NE(notify.waitFor("RELOADING=1"), "");
  EXPECT_NE(notify.waitFor("READY=1"), "") << "ready again after the reload";
  kill(daemon_->pid(), SIGTERM);
  EXPECT_NE(notify.waitFor("STOPPING=1"), "");
  EXPECT_EQ(daemon_->waitExit(), 0);
}

TEST_F(ServiceTest, SocketActivation) {
  const int lfd = socket(AF_INET, SOCK_STREAM, 0);  // no CLOEXEC: it is handed to the daemon
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(lfd, 16), 0);
  socklen_t len = sizeof a;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
  Daemon::Options o;
  o.activation_fd = lfd;
  startDaemon(o);
  close(lfd);
  EXPECT_EQ(daemon_->port(), ntohs(a.sin_port)) << "listens on the socket it was given";
  auto r = runRemote({"echo", "activated"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "activated\n");
  // A command does not inherit the socket systemd passed (the daemon made it close-on-exec).
  auto fds = runRemote({"sh", "-c", kListOwnFds});
  EXPECT_EQ(fds.exit_code, 0) << fds.err;
  EXPECT_EQ(fds.out.find("socket:"), std::string::npos) << fds.out;
  EXPECT_EQ(daemon_->stop(), 0);
}

}  // namespace
}  // namespace rxtest
