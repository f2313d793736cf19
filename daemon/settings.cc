#include "daemon/settings.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include <map>
#include "common/limits.h"

#include "daemon/config_file.h"

namespace rx {
namespace {

// Whole numbers are parsed here rather than by CLI11, which takes "-1" for 2^64-1 and "010" for 8.
void addCount(CLI::App& app, const std::string& name, size_t& out, size_t min, size_t max,
              const std::string& help) {
  app.add_option_function<std::string>(
         name,
         [&out, name, min, max](const std::string& text) {
           size_t v = 0;
           const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
           if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || v < min || v > max)
             throw CLI::ValidationError(
                 name, fmt::format("'{}' is not a whole number from {} to {}", text, min, max));
           out = v;
         },
         help)
      ->type_name("N")
      ->default_str(std::to_string(out));
}

// Seconds, fractions allowed, stored as milliseconds (rounded up, so 0.0001 is not 0).
void addSeconds(CLI::App& app, const std::string& name, uint64_t& out_ms, bool zero_allowed, double max_s,
                const std::string& help) {
  app.add_option_function<std::string>(
         name,
         [&out_ms, name, zero_allowed, max_s](const std::string& text) {
           double v = -1;
           const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
           const bool ok = !text.empty() && ec == std::errc() && ptr == text.data() + text.size() &&
                           std::isfinite(v) && v <= max_s && (zero_allowed ? v >= 0 : v > 0);
           if (!ok)
             throw CLI::ValidationError(name,
                                        fmt::format("'{}' is not a number of seconds {} {}", text,
                                                    zero_allowed ? "from 0 to" : "above 0, at most", max_s));
           out_ms = static_cast<uint64_t>(std::ceil(v * 1000.0));
         },
         help)
      ->type_name("SECONDS")
      ->default_str(fmt::format("{:g}", static_cast<double>(out_ms) / 1000.0));
}

}  // namespace

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

  // Limits against abuse.
  ServerLimits& l = s.limits;
  addSeconds(app, "--login-grace-time", l.login_grace_ms, false, 86400,
             "close a connection not authenticated this long after it was accepted (TLS included)");
  app.add_option_function<std::string>(
         "--max-startups",
         [&l](const std::string& text) {
           if (Status st = parseMaxStartups(text, l.admission.max_startups); !st)
             throw CLI::ValidationError("--max-startups", st.message());
         },
         "unauthenticated connections: above START refuse new ones with probability RATE%, rising "
         "linearly to 100% at FULL (as OpenSSH's MaxStartups)")
      ->type_name("START:RATE:FULL")
      ->default_str(toString(l.admission.max_startups));
  addCount(app, "--per-source-max-startups", l.admission.per_source_max_startups, 1, 1000000,
           "unauthenticated connections from one source (IPv4 address or IPv6 /64)");
  // The first penalty; doubling stops at 300 s (or at the first, if that is longer).
  addSeconds(app, "--auth-penalty", l.admission.penalty.base_ms, true, 86400,
             "refuse a source this long after a failed authentication, doubling per further failure up "
             "to 300 s (0: no penalties)");
  addCount(app, "--max-connections", l.admission.max_connections, 1, 10000000,
           "connections at once, authenticated or not; more are closed at once");
  addSeconds(app, "--stall-timeout", l.stall_timeout_ms, true, 86400,
             "close a client that has read nothing of its pending output for this long and kill its "
             "commands (0: never)");
  addCount(app, "--max-argc", s.session.max_argc, 1, 1 << 20, "arguments in one command");
  addCount(app, "--max-argv-bytes", s.session.max_argv_bytes, 1, kMaxFramePostAuth,
           "bytes of arguments in one command (each counted with its NUL)");
  addCount(app, "--max-env", s.session.max_env_vars, 0, 65536,
           "environment variables a client may send with one command");
  addCount(app, "--max-jobs-per-connection", s.session.max_jobs_per_connection, 1, 65536,
           "commands running at once on one connection");
}

std::optional<int> parseDaemonOptions(int argc, const char* const* argv, DaemonSettings& out) {
  std::vector<std::string> args(argv + 1, argv + argc);
  int exit_code = 0;
  std::vector<std::string> problems;
  if (loadSettings(args, out, exit_code, problems) == SettingsOutcome::Run) return std::nullopt;
  for (const auto& p : problems) std::fprintf(stderr, "rexecd: %s (see rexecd --help)\n", p.c_str());
  return exit_code;
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
