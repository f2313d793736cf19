#include "client/options.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "client/exit_status.h"
#include "client/known_hosts.h"

namespace rx {

std::string defaultIdentityPath() {
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg) return std::string(xdg) + "/rexec/id";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + "/.config/rexec/id";
}

namespace {

// "4M", "64KiB", "1000": a byte count with an optional binary unit (K, M, G, T; then nothing, "B"
// or "iB", any case), rewritten in place as the plain number. CLI11's AsSizeValue does the same
// but builds its table of 27 unit spellings on every start of rexec: 97 k instructions, 7% of a
// whole `rexec -S` run (callgrind).
std::string byteSizeToNumber(std::string& text) {
  size_t i = 0;
  uint64_t value = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    if (value > (UINT64_MAX - 9) / 10) return "size too large: " + text;
    value = value * 10 + static_cast<uint64_t>(text[i++] - '0');
  }
  if (i == 0) return "not a size: " + text;
  while (i < text.size() && text[i] == ' ') ++i;
  std::string unit;
  for (; i < text.size(); ++i) unit += static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
  int shift = 0;
  if (!unit.empty() && unit != "b") {
    const size_t u = std::string_view("kmgt").find(unit[0]);
    const std::string rest = unit.substr(1);
    if (u == std::string::npos || !(rest.empty() || rest == "b" || rest == "ib"))
      return "unknown size unit: " + text;
    shift = 10 * static_cast<int>(u + 1);
  }
  if (shift > 0 && value > (UINT64_MAX >> shift)) return "size too large: " + text;
  text = std::to_string(value << shift);
  return {};
}

}  // namespace

ParseOutcome parseClientOptions(int argc, const char* const* argv, ClientOptions& opts, int& exit_code) {
  CLI::App app{
      "rexec: run a command on a host running rexecd, with its output streamed back live and its exit "
      "status returned exactly.\n\n"
      "Exit status: the command's own; 128+N when killed by signal N; 124 when --timeout expired; 127 "
      "when the program was not found; 126 when it could not be executed; 255 when rexec itself failed "
      "(connection, authentication, protocol, truncated output), always with a 'rexec: ...' line on "
      "stderr.\n\n"
      "Many hosts (-H, -f, -g): each output line is prefixed with its host, or grouped (--gather), or "
      "written to files (--out-dir); a summary on stderr at the end. Exit status: 0 when every host "
      "succeeded; 255 when any host could not be reached or rexec failed for it; otherwise the highest "
      "status among the hosts (same rules as above). Every host reads /dev/null as stdin.",
      "rexec"};
  std::vector<std::string> env;
  std::vector<std::string> command;
  bool no_stdin = false;
  opts.identity = defaultIdentityPath();
  app.add_option("-i,--identity", opts.identity, "key file")->capture_default_str();
  opts.known_hosts = defaultKnownHostsPath();
  app.add_option("--known-hosts", opts.known_hosts, "pinned server keys")->capture_default_str();
  app.add_flag("--accept-new", opts.accept_new,
               "trust and record a host key seen for the first time without asking (a changed key is "
               "still refused)");
  app.add_option("--connect-timeout", opts.connect_timeout_s, "give up connecting after SECONDS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("host", opts.target, "HOST[:PORT] (default port 5512)");
  // In groups: --help shows them apart, and CLI11 checks each new option's names against those of
  // its own group only; in one list it checked them against every option before it, building
  // their names as strings each time (O(n^2)). A whole `rexec -S PATH HOST true` took 1.27 M
  // instructions with one list, of which that check 188 k; with the groups 1.21 M (the check 63 k,
  // the three groups 50 k; callgrind).
  CLI::Option_group* command_options = app.add_option_group("The command");
  command_options->add_flag("-n,--no-stdin", no_stdin, "do not forward stdin; the command reads /dev/null");
  int force_tty = 0;
  bool no_tty = false;
  command_options->add_flag(
      "-t,--tty", force_tty,
      "run the command on a pseudo-terminal (for interactive programs: shells, editors); the "
      "local terminal goes raw and ^C reaches the remote program. Needs stdin to be a terminal "
      "(else a warning and none), unless given twice (-t -t)");
  command_options->add_flag("-T,--no-tty", no_tty, "never ask for a pseudo-terminal (overrides -t)");
  command_options->add_flag("--sh", opts.params.shell, "run the words as one /bin/sh -c command line");
  command_options->add_option("--timeout", opts.timeout_s, "kill the command's process group after SECONDS")
      ->check(CLI::PositiveNumber);
  command_options
      ->add_option("--env", env, "NAME=VALUE for the command's environment (the server allow-lists names)")
      ->allow_extra_args(false);  // one value per --env: never swallow the host that follows
  command_options->add_option("--cwd", opts.params.cwd, "working directory on the host (default: home)");
  CLI::Option_group* sharing = app.add_option_group("Connection sharing (as ssh's ControlMaster)");
  sharing->add_option(
      "-S,--control-path", opts.control_path,
      "share one connection: run the command through the master listening on this Unix "
      "socket when one does (no handshake, no key needed), else connect directly; %h and %p in PATH "
      "stand for the host and port (with -H/-f/-g: %h needed, a master per host)");
  sharing->add_flag("-M,--master", opts.master,
                    "be the master for -S PATH: connect and authenticate once, then run the commands of "
                    "'rexec -S PATH HOST cmd' on that connection until stopped (SIGTERM, SIGINT, SIGHUP)");
  sharing
      ->add_option("--persist", opts.persist_s,
                   "with -S and a command: when no master answers, start one in the background for the "
                   "command and the next ones (as ssh's ControlMaster auto); the master exits after "
                   "SECONDS without any client (as ssh's ControlPersist). With -M: the same exit; "
                   "default: run until stopped. With -H/-f/-g: a host without a master runs directly, "
                   "and one is started for it once its command has run")
      ->check(CLI::PositiveNumber);
  sharing->add_option("-E,--log-file", opts.log_file,
                      "with -M or --persist: the master also appends what it says (where it listens, why "
                      "it ended, a refused local client) to FILE, with the time and its pid; a master "
                      "started by --persist says it nowhere else once it has left the terminal (as ssh -E)");
  // Not for users: how a fan-out's master (client/background_masters.h) is told where to say
  // that it listens. Hidden from --help.
  sharing->add_option("--ready-fd", opts.ready_fd)->group("")->check(CLI::NonNegativeNumber);
  sharing->add_option("-O,--control-command", opts.control_command,
                      "with -S and no command: 'check' whether a master for HOST answers on PATH (prints "
                      "its pid), or 'exit': stop it (as ssh -O); with -H/-f/-g, each host's master");
  CLI::Option_group* many_hosts = app.add_option_group("Many hosts");
  FanoutOptions& fo = opts.fanout;
  many_hosts
      ->add_option("-H,--hosts", fo.host_lists,
                   "run on many hosts: HOST[:PORT],... with ranges (node[01-40], node[1-3,7]) and @GROUP")
      ->allow_extra_args(false);
  many_hosts
      ->add_option("-f,--hosts-file", fo.host_files,
                   "run on the hosts listed in FILE (one a line, # comments)")
      ->allow_extra_args(false);
  many_hosts
      ->add_option("-g,--group", fo.groups, "run on the hosts of group NAME[,NAME] from the groups file")
      ->allow_extra_args(false);
  many_hosts->add_option("--groups-file", fo.groups_file,
                         "host groups, one 'NAME: HOST...' a line (default: ~/.config/rexec/hosts)");
  many_hosts->add_option("--fanout", fo.fanout, "hosts running at once")
      ->check(CLI::Range(1u, 100000u))
      ->capture_default_str();
  many_hosts->add_flag(
      "--fail-fast", fo.fail_fast,
      "after the first host fails, start no more hosts (reported as skipped) and send TERM to the "
      "running ones");
  many_hosts->add_flag("--gather", fo.gather,
                       "print each distinct output once, under the list of hosts that gave it");
  many_hosts
      ->add_option("--gather-limit", fo.gather_limit,
                   "output held per host for --gather and --json (beyond it: cut, and said so)")
      ->transform(
          [](std::string text) {
            if (std::string error = byteSizeToNumber(text); !error.empty()) throw CLI::ValidationError(error);
            return text;
          },
          "SIZE")
      ->capture_default_str();
  many_hosts->add_option("--out-dir", fo.out_dir,
                         "write each host's output to DIR/HOST.out, DIR/HOST.err, DIR/HOST.status");
  many_hosts->add_flag("--json", fo.json,
                       "one JSON record per host on stdout (its output included unless --out-dir is given)");
  app.footer(
      "Usage: rexec [OPTIONS] HOST[:PORT] [OPTIONS] [--] PROG [ARG...]\n"
      "       rexec [OPTIONS] --sh HOST[:PORT] 'command line'\n"
      "       rexec [OPTIONS] -H HOSTS|-f FILE|-g GROUP [OPTIONS] [--] PROG [ARG...]\n"
      "       rexec -t HOST[:PORT] [--] PROG [ARG...]      (interactive, on a terminal)\n"
      "       rexec -M -S PATH HOST[:PORT]                 (a master sharing its connection)\n"
      "       rexec -S PATH HOST[:PORT] [--] PROG [ARG...]  (through that master)\n"
      "       rexec -S PATH --persist SECONDS HOST[:PORT] [--] PROG [ARG...]\n"
      "                                  (through that master, started in the background if none)\n"
      "       rexec -S PATH -O check|exit HOST[:PORT]      (is that master there; stop it)\n"
      "Options may stand before or after HOST; the first word after HOST that is not an option "
      "(or the word after --) starts the remote command, which is passed on exactly as given.");

  // Split argv ourselves: CLI11 would reorder '--' and the command's own options. Options are
  // taken until the command starts; CLI11's own table says which options take a value.
  std::vector<std::string> option_words;
  bool have_host = false;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string word = argv[i];
    if (word == "--") {
      if (have_host) {
        ++i;
        break;
      }
      continue;
    }
    if (word.size() > 1 && word[0] == '-') {
      option_words.push_back(word);
      const std::string name = word.substr(0, word.find('='));
      const CLI::Option* opt = app.get_option_no_throw(word[1] == '-' ? name : name.substr(0, 2));
      // A host list stands in for HOST: the next plain word starts the command.
      if (opt && (opt->check_name("-H") || opt->check_name("-f") || opt->check_name("-g"))) have_host = true;
      const bool inline_value = word.find('=') != std::string::npos ||
                                (word.size() > 2 && word[1] != '-');  // -iFILE (short flags do not bundle)
      if (opt && opt->get_expected_min() > 0 && !inline_value && i + 1 < argc)
        option_words.push_back(argv[++i]);
      continue;
    }
    if (have_host) break;
    have_host = true;
    option_words.push_back(word);
  }
  for (; i < argc; ++i) command.push_back(argv[i]);
  std::reverse(option_words.begin(), option_words.end());  // CLI11 takes them in reverse
  try {
    app.parse(option_words);
  } catch (const CLI::CallForHelp& e) {
    exit_code = app.exit(e);
    return ParseOutcome::Exit;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "rexec: %s (see rexec --help)\n", e.what());
    exit_code = kExitFailure;
    return ParseOutcome::Exit;
  }
  if (opts.target.empty() && !fo.enabled()) {
    std::fprintf(stderr, "rexec: no host given (see rexec --help)\n");
    exit_code = kExitFailure;
    return ParseOutcome::Exit;
  }
  const char* conflict = nullptr;
  if (!opts.target.empty() && fo.enabled())
    conflict = "give either HOST or -H/-f/-g, not both";
  else if (fo.gather && !fo.out_dir.empty())
    conflict = "--gather and --out-dir exclude each other";
  else if (fo.gather && fo.json)
    conflict = "--gather and --json exclude each other";
  else if (!fo.enabled() && (fo.gather || fo.json || fo.fail_fast || !fo.out_dir.empty()))
    conflict = "--gather, --json, --out-dir and --fail-fast need -H, -f or -g";
  if (conflict) {
    std::fprintf(stderr, "rexec: %s (see rexec --help)\n", conflict);
    exit_code = kExitFailure;
    return ParseOutcome::Exit;
  }
  if (opts.master || !opts.control_path.empty() || opts.persist_s > 0 || !opts.control_command.empty() ||
      opts.ready_fd >= 0 || !opts.log_file.empty()) {
    const bool control = !opts.control_command.empty();
    const char* bad = nullptr;
    if (control && opts.control_command != "check" && opts.control_command != "exit")
      bad = "-O takes 'check' or 'exit'";
    else if (control && opts.control_path.empty())
      bad = "-O needs -S PATH: the master's socket";
    else if (control && (opts.master || opts.persist_s > 0 || !command.empty() || force_tty > 0))
      bad = "-O asks a master only: no -M, --persist, -t or command with it";
    else if (opts.persist_s > 0 && opts.control_path.empty())
      bad = "--persist needs -S PATH: the master's socket";
    else if (opts.master && opts.control_path.empty())
      bad = "-M needs -S PATH: the socket to listen on";
    else if (fo.enabled() && opts.master)
      bad = "-M works with one host, not -H/-f/-g: start one master per host";
    else if (fo.enabled() && opts.control_path.find("%h") == std::string::npos)
      bad = "-S with many hosts needs %h in PATH: a master serves one host";
    else if (opts.master && !command.empty())
      bad = "-M runs no command itself: start it alone, then run commands with -S";
    else if (opts.master && force_tty > 0)
      bad = "-M takes no -t: each command asks for its own terminal";
    else if (!opts.log_file.empty() && !opts.master && opts.persist_s <= 0)
      bad = "-E is for a master: with -M, or with -S PATH --persist";
    else if (opts.ready_fd >= 0 && (!opts.master || opts.ready_fd <= 2))
      bad = "--ready-fd is for a master (-M), and not on 0, 1 or 2";
    if (bad) {
      std::fprintf(stderr, "rexec: %s (see rexec --help)\n", bad);
      exit_code = kExitFailure;
      return ParseOutcome::Exit;
    }
    if (opts.master || control) return ParseOutcome::Run;
  }
  if (command.empty()) {
    std::fprintf(stderr, "rexec: no command given (see rexec --help)\n");
    exit_code = kExitFailure;
    return ParseOutcome::Exit;
  }
  if (opts.params.shell) {
    std::string line;
    for (size_t k = 0; k < command.size(); ++k) line += (k ? " " : "") + command[k];
    opts.params.argv = {line};
  } else {
    opts.params.argv = command;
  }
  for (const auto& e : env) {
    const size_t eq = e.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "rexec: --env %s: expected NAME=VALUE\n", e.c_str());
      exit_code = kExitFailure;
      return ParseOutcome::Exit;
    }
    opts.params.env.emplace_back(e.substr(0, eq), e.substr(eq + 1));
  }
  opts.params.stdin_open = !no_stdin;
  opts.tty = no_tty ? 0 : std::min(force_tty, 2);
  if (opts.tty > 0 && no_stdin) {
    std::fprintf(stderr, "rexec: -t and -n do not go together: the terminal is the command's stdin\n");
    exit_code = kExitFailure;
    return ParseOutcome::Exit;
  }
  if (opts.tty > 0 && fo.enabled()) {
    std::fprintf(stderr, "rexec: -t needs one host: a terminal cannot be shared by many (-H/-f/-g)\n");
    exit_code = kExitFailure;
    return ParseOutcome::Exit;
  }
  if (opts.timeout_s > 0) {
    const double ms = std::ceil(opts.timeout_s * 1000.0);
    opts.params.timeout_ms = ms > 4e9 ? 4000000000u : static_cast<uint32_t>(ms);
  }
  return ParseOutcome::Run;
}

}  // namespace rx
