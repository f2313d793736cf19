#pragma once
// The usual set-up: a temporary folder, a fresh key pair made by rexec-keygen, an authorized
// keys file holding it, and a running rexecd. Every test ends with the daemon stopped by PID.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace rxtest {

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

  // rexec -i KEY [client_opts...] 127.0.0.1:PORT -- command...
  std::vector<std::string> rexec(const std::vector<std::string>& command,
                                 const std::vector<std::string>& client_opts = {}) const {
    std::vector<std::string> argv = client();
    argv.insert(argv.end(), client_opts.begin(), client_opts.end());
    argv.push_back(daemon_->target());
    argv.push_back("--");
    argv.insert(argv.end(), command.begin(), command.end());
    return argv;
  }
  Subprocess::Result runRemote(const std::vector<std::string>& command,
                               const std::vector<std::string>& client_opts = {},
                               Subprocess::Options options = {}) const {
    return run(rexec(command, client_opts), std::move(options));
  }

  TempDir dir_;
  std::string key_;
  std::unique_ptr<Daemon> daemon_;
};

}  // namespace rxtest
