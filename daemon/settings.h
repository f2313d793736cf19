#pragma once
// Everything rexecd can be told, from its command line and its config file, in one table:
// addDaemonOptions() defines every option once; loadSettings() parses the command line, then
// the config file for whatever the command line left unset. SIGHUP runs loadSettings() again.
#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/log.h"
#include "daemon/server_limits.h"
#include "daemon/session_config.h"

namespace rx {

inline constexpr const char* kDefaultConfigPath = "/etc/rexecd/rexecd.conf";

struct DaemonSettings {
  std::string config_path = kDefaultConfigPath;
  std::vector<std::string> listen;
  std::string authorized_keys = "/etc/rexecd/authorized_keys";
  std::string host_key = "/etc/rexecd/host_key";
  std::string port_file;
  std::string log_level = "info";
  // Actions instead of running.
  std::string init_host_key;
  bool print_fingerprint = false;
  bool check_config = false;
  SessionConfig session;
  ServerLimits limits;

  log::Level logLevel() const;
};

void addDaemonOptions(CLI::App& app, DaemonSettings& s);

enum class SettingsOutcome { Run, Exit };

// Parses `args` (without the program name) and the config file. On Exit, `exit_code` is set
// and the message is printed (help) or returned in `problems` (errors, one per line, each
// naming the file, line and key where it comes from the config file).
SettingsOutcome loadSettings(const std::vector<std::string>& args, DaemonSettings& s, int& exit_code,
                             std::vector<std::string>& problems);

// The same for a whole argv, printing problems as "rexecd: ..." lines: nothing when the daemon
// should run, else the exit status (0 after --help, 2 after a bad option or config).
std::optional<int> parseDaemonOptions(int argc, const char* const* argv, DaemonSettings& out);
using DaemonOptions = DaemonSettings;

}  // namespace rx
