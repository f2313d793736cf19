#pragma once
// The usual set-up: a temporary folder, a fresh key pair made by rexec-keygen, an authorized
// keys file holding it, and a running rexecd. Every test ends with the daemon stopped by PID.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace rxtest {

// A remote shell command that lists its own open descriptors, a "/proc/PID/fd/N TARGET" line each.
inline const std::string kListOwnFds = "for f in /proc/$$/fd/*; do echo \"$f $(readlink $f)\"; done";

inline std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

class RexecTest : public ::testing::Test {
 public:  // shared with helper functions of the tests
  void SetUp() override {
    key_ = dir_.file("id");
    writeFile(dir_.file("authorized_keys"), makeKey(key_), 0600);
    daemon_ = std::make_unique<Daemon>(dir_.file("authorized_keys"), dir_.path(), daemonOptions());
    // Pinned ahead of time, as an admin would with `rexecd --print-fingerprint`.
    writeFile(knownHosts(),
              "[127.0.0.1]:" + std::to_string(daemon_->port()) + " " + daemon_->fingerprint() + "\n");
  }
  std::string knownHosts() const { return dir_.file("known_hosts"); }
  // rexec -i KEY --known-hosts FILE
  std::vector<std::string> client() const { return {rexecPath(), "-i", key_, "--known-hosts", knownHosts()}; }
  void TearDown() override {
    if (daemon_) {
      EXPECT_EQ(daemon_->stop(), 0) << "rexecd should exit 0 on SIGTERM";
    }
    daemon_.reset();
  }
  virtual Daemon::Options daemonOptions() { return {}; }

  // rexec -i KEY --known-hosts FILE [client_opts...] 127.0.0.1:PORT -- command...
  std::vector<std::string> rexec(const std::vector<std::string>& command,
                                 const std::vector<std::string>& client_opts = {}) const {
    return rexecArgv(knownHosts(), daemon_->target(), command, client_opts);
  }
  // The same through a proxy on 127.0.0.1:`port` that leads to the daemon: the daemon's key is
  // pinned for that port in a known_hosts file of its own (kh-proxy).
  std::vector<std::string> rexecVia(uint16_t port, const std::vector<std::string>& command,
                                    const std::vector<std::string>& client_opts = {}) const {
    const std::string kh = dir_.file("kh-proxy");
    writeFile(kh, "[127.0.0.1]:" + std::to_string(port) + " " + daemon_->fingerprint() + "\n");
    return rexecArgv(kh, "127.0.0.1:" + std::to_string(port), command, client_opts);
  }
  Subprocess::Result runRemote(const std::vector<std::string>& command,
                               const std::vector<std::string>& client_opts = {},
                               Subprocess::Options options = {}) const {
    return run(rexec(command, client_opts), std::move(options));
  }

  std::vector<std::string> rexecArgv(const std::string& known_hosts, const std::string& target,
                                     const std::vector<std::string>& command,
                                     const std::vector<std::string>& client_opts) const {
    std::vector<std::string> argv = {rexecPath(), "-i", key_, "--known-hosts", known_hosts};
    argv.insert(argv.end(), client_opts.begin(), client_opts.end());
    argv.push_back(target);
    argv.push_back("--");
    argv.insert(argv.end(), command.begin(), command.end());
    return argv;
  }

  TempDir dir_;
  std::string key_;
  std::unique_ptr<Daemon> daemon_;
};

}  // namespace rxtest
