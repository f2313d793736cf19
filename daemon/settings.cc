#include "daemon/settings.h"

#include <algorithm>
#include <map>

#include "daemon/config_file.h"

namespace rx {

log::Level DaemonSettings::logLevel() const {
  static const std::map<std::string, log::Level> levels{{"error", log::Level::Error},
                                                        {"warning", log::Level::Warning},
                                                        {"notice", log::Level::Notice},
                                                        {"info", log::Level::Info},
                                                        {"debug", log::Level::Debug}};
  return levels.at(log_level);
}

void addDaemonOptions(CLI::App& app, DaemonSettings& s) {
  SessionConfig& c = s.session;
  app.add_option("--config", s.config_path, "config file (TOML; keys are these options' names with '_')")
      ->capture_default_str();
  app.add_flag("--check-config", s.check_config,
               "check the config, keys and permissions, print every problem");
  app.add_option("--listen", s.listen, "ADDR:PORT to listen on (repeatable; default 0.0.0.0:5512)")
      ->allow_extra_args(false);
  app.add_option("--authorized-keys", s.authorized_keys, "file of keys allowed to run commands")
      ->capture_default_str();
  app.add_option("--host-key", s.host_key,
                 "Ed25519 host key (PEM, mode 0600); made on first start if missing")
      ->capture_default_str();
  app.add_option("--init-host-key", s.init_host_key,
                 "make a new host key in FILE, print its fingerprint, exit");
  app.add_flag("--print-fingerprint", s.print_fingerprint,
               "print the host key's fingerprint (for known_hosts), exit");
  app.add_option("--port-file", s.port_file, "write the bound port(s) here once listening");
  app.add_option("--log-level", s.log_level, "error, warning, notice, info or debug")
      ->check(CLI::IsMember({"error", "warning", "notice", "info", "debug"}))
      ->capture_default_str();
  app.add_option("--kill-grace-ms", c.kill_grace_ms, "time between TERM and KILL")->capture_default_str();
  app.add_option("--drain-grace-ms", c.drain_grace_ms,
                 "time a command's output may stay open after it exited")
      ->capture_default_str();
  app.add_option("--accept-env", c.accept_env, "environment names clients may set (NAME or PREFIX*)")
      ->allow_extra_args(false);
}

SettingsOutcome loadSettings(const std::vector<std::string>& args, DaemonSettings& s, int& exit_code,
                             std::vector<std::string>& problems) {
  CLI::App app{"rexecd: runs commands for authenticated rexec clients", "rexecd"};
  addDaemonOptions(app, s);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them in reverse
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp& e) {
    exit_code = app.exit(e);
    return SettingsOutcome::Exit;
  } catch (const CLI::ParseError& e) {
    problems.push_back(e.what());
    exit_code = 2;
    return SettingsOutcome::Exit;
  }
  const bool config_given = app.get_option("--config")->count() > 0;
  ConfigWords config = configFileWords(s.config_path, app, /*optional=*/!config_given);
  problems = config.problems;
  if (!config.words.empty()) {
    // Parse again with the file's words first: options from the command line come after and
    // were left out of the file's words anyway.
    const std::string config_path = s.config_path;
    s = DaemonSettings{};
    CLI::App again{"rexecd", "rexecd"};
    addDaemonOptions(again, s);
    std::vector<std::string> all = config.words;
    all.insert(all.end(), args.begin(), args.end());
    std::reverse(all.begin(), all.end());
    try {
      again.parse(all);
    } catch (const CLI::ParseError& e) {
      // Name the file and line when the complaint is about an option that came from it.
      std::string where;
      for (const auto& [name, at] : config.where)
        if (std::string(e.what()).find(name) != std::string::npos) where = at + ": ";
      problems.push_back(where + e.what());
    }
    s.config_path = config_path;
  }
  if (!problems.empty()) {
    exit_code = 2;
    return SettingsOutcome::Exit;
  }
  return SettingsOutcome::Run;
}

}  // namespace rx
