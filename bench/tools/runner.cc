// rx_bench_runner: times commands side by side, alternating between them round by round, and
// reports the median and spread of each, plus the CPU a daemon (and its children) spent per
// command. bench/run drives it; hyperfine cannot alternate between commands, and a shell around
// each command would add its own start-up to a figure of a few milliseconds.
//
//   rx_bench_runner [--runs R] [--warmup W] [--batch N] [--parallel P] [--timeout S]
//                   [--samples FILE] SPEC
//
// SPEC has one command per line, fields separated by TABs:
//   LABEL  CPU_PID  STDIN  STDOUT  ARG0  ARG1 ...
// CPU_PID is the daemon whose process tree's CPU time (utime+stime+cutime+cstime of it and all
// its descendants, /proc/PID/stat) is charged to this command, or 0; STDIN and STDOUT are paths
// ("-" means /dev/null); stderr is inherited. Lines starting with '#' are skipped.
//
// One sample is one command (or, with --batch N, N copies with at most P running at once). Each
// round runs every command once, in an order shuffled afresh for each round (from a fixed seed,
// so a run repeats its order), so that no command always runs first and none always runs right
// after the same other one. Any exit status other than 0 fails the whole run.
//
// Output, one line per command:
//   LABEL MEDIAN_S P10_S P90_S MIN_S MAX_S TREE_CPU_PER_CMD_S OWN_CPU_PER_CMD_S CLIENT_CPU_PER_CMD_S
// TREE_CPU_PER_CMD_S is the tree's CPU over all measured samples divided by the commands in them
// (clock ticks, so only meaningful over many commands); OWN_CPU_PER_CMD_S the same for the
// CPU_PID process alone (utime+stime); both -1 without a CPU_PID. CLIENT_CPU_PER_CMD_S is the
// user+system time of the command itself (and its children), from wait4(), per command.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

struct Command {
  std::string label;
  pid_t cpu_pid = 0;
  std::string stdin_path, stdout_path;
  std::vector<std::string> argv;
  std::vector<double> samples;  // seconds
  long long cpu_ticks = 0;
  long long own_ticks = 0;
  double client_cpu_s = 0;
  long long commands = 0;           // those the CPU_PID's time was read around
  long long measured_commands = 0;  // all measured ones
};

struct Options {
  int runs = 10;
  int warmup = 1;
  int batch = 1;
  int parallel = 1;
  double timeout_s = 900;
  std::string samples_path;
  std::string spec_path;
};

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "rx_bench_runner: %s\n", message.c_str());
  std::exit(1);
}

double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::vector<std::string> splitTabs(const std::string& line) {
  std::vector<std::string> out;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, '\t')) out.push_back(field);
  return out;
}

std::vector<Command> readSpec(const std::string& path) {
  std::ifstream in(path);
  if (!in) die("cannot read " + path);
  std::vector<Command> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto f = splitTabs(line);
    if (f.size() < 5) die("bad spec line (need LABEL CPU_PID STDIN STDOUT ARGV...): " + line);
    Command c;
    c.label = f[0];
    c.cpu_pid = static_cast<pid_t>(std::atol(f[1].c_str()));
    c.stdin_path = f[2] == "-" ? "/dev/null" : f[2];
    c.stdout_path = f[3] == "-" ? "/dev/null" : f[3];
    c.argv.assign(f.begin() + 4, f.end());
    out.push_back(std::move(c));
  }
  if (out.empty()) die(path + " holds no command");
  return out;
}

// The process tree under `root`, as seen in /proc at one moment.
struct TreeState {
  long long ticks = 0;       // utime+stime+cutime+cstime of root and every descendant
  long long root_ticks = 0;  // utime+stime of root alone
  size_t processes = 0;
  size_t root_fds = 0;
};

bool readStat(pid_t pid, pid_t& ppid, long long& ticks, long long& own) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  std::ifstream in(path);
  std::string text;
  if (!std::getline(in, text)) return false;
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(text.substr(close + 2));
  std::vector<std::string> f;
  std::string w;
  while (rest >> w && f.size() < 16) f.push_back(w);
  if (f.size() < 15) return false;
  // f[0] is field 3 (state): ppid is field 4, utime..cstime fields 14..17.
  ppid = static_cast<pid_t>(std::atol(f[1].c_str()));
  own = std::atoll(f[11].c_str()) + std::atoll(f[12].c_str());
  ticks = own + std::atoll(f[13].c_str()) + std::atoll(f[14].c_str());
  return true;
}

size_t countFds(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/fd", static_cast<int>(pid));
  DIR* d = opendir(path);
  if (!d) return 0;
  size_t n = 0;
  while (readdir(d)) ++n;
  closedir(d);
  return n;
}

TreeState readTree(pid_t root) {
  std::map<pid_t, std::pair<pid_t, long long>> all;  // pid -> (ppid, ticks)
  long long root_own = 0;
  DIR* d = opendir("/proc");
  if (!d) die("cannot read /proc");
  while (dirent* e = readdir(d)) {
    const pid_t pid = static_cast<pid_t>(std::atol(e->d_name));
    if (pid <= 0) continue;
    pid_t ppid = 0;
    long long ticks = 0, own = 0;
    if (!readStat(pid, ppid, ticks, own)) continue;
    all[pid] = {ppid, ticks};
    if (pid == root) root_own = own;
  }
  closedir(d);
  TreeState s;
  std::set<pid_t> tree{root};
  // Parents may have larger pids than their children (pid wrap): repeat until nothing is added.
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& [pid, info] : all)
      if (tree.count(info.first) && tree.insert(pid).second) grew = true;
  }
  for (pid_t pid : tree) {
    auto it = all.find(pid);
    if (it == all.end()) continue;
    s.ticks += it->second.second;
    ++s.processes;
  }
  s.root_ticks = root_own;
  s.root_fds = countFds(root);
  return s;
}

// After a sample the daemon may still be finishing (closing the connection, reaping a child):
// wait until its tree has no more processes and its root no more descriptors than before, so the
// CPU of that work is charged to this sample. Bounded: 5 s.
TreeState settledTree(pid_t root, const TreeState& before) {
  const double deadline = now() + 5;
  for (;;) {
    TreeState s = readTree(root);
    if ((s.processes <= before.processes && s.root_fds <= before.root_fds) || now() > deadline) return s;
    timespec pause{0, 2'000'000};
    nanosleep(&pause, nullptr);
  }
}

pid_t spawn(const Command& c) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, c.stdin_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, c.stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);  // we block SIGCHLD; the command must not inherit that
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> argv;
  for (const auto& a : c.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int err = posix_spawnp(&pid, argv[0], &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (err != 0) die(c.label + ": cannot start " + c.argv[0] + ": " + std::strerror(err));
  return pid;
}

// Runs `count` copies of `c`, at most `parallel` at once; returns the wall time in seconds.
double seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
}

// Runs `count` copies of `c`, at most `parallel` at once; returns the wall time in seconds and
// adds the commands' own CPU time to `client_cpu_s`.
double runSample(const Command& c, int count, int parallel, double timeout_s, double& client_cpu_s) {
  std::set<pid_t> running;
  int started = 0, failed = 0, first_status = 0;
  const double start = now();
  const double deadline = start + timeout_s;
  while (started < count || !running.empty()) {
    while (started < count && static_cast<int>(running.size()) < parallel) {
      running.insert(spawn(c));
      ++started;
    }
    // Reap whatever has exited; then sleep until the next SIGCHLD (no polling delay).
    bool reaped = false;
    for (;;) {
      int status = 0;
      rusage ru{};
      const pid_t pid = wait4(-1, &status, WNOHANG, &ru);
      if (pid <= 0) break;
      if (!running.erase(pid)) continue;
      client_cpu_s += seconds(ru.ru_utime) + seconds(ru.ru_stime);
      reaped = true;
      if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        if (failed++ == 0) first_status = status;
      }
    }
    if (reaped || running.empty()) continue;
    const double left = deadline - now();
    if (left <= 0) {
      for (pid_t pid : running) kill(pid, SIGKILL);
      die(c.label + ": timed out after " + std::to_string(timeout_s) + " s");
    }
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    timespec wait{static_cast<time_t>(left),
                  static_cast<long>((left - static_cast<double>(static_cast<time_t>(left))) * 1e9)};
    if (wait.tv_sec > 1) wait = {1, 0};
    sigtimedwait(&chld, nullptr, &wait);
  }
  const double elapsed = now() - start;
  if (failed > 0) {
    const std::string how = WIFEXITED(first_status)
                                ? "exit status " + std::to_string(WEXITSTATUS(first_status))
                                : "signal " + std::to_string(WTERMSIG(first_status));
    die(c.label + ": " + std::to_string(failed) + " of " + std::to_string(count) + " commands failed (" +
        how + ")");
  }
  return elapsed;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  // Linear interpolation between closest ranks.
  const double pos = p * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

Options parseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--runs")
      o.runs = std::atoi(value().c_str());
    else if (a == "--warmup")
      o.warmup = std::atoi(value().c_str());
    else if (a == "--batch")
      o.batch = std::atoi(value().c_str());
    else if (a == "--parallel")
      o.parallel = std::atoi(value().c_str());
    else if (a == "--timeout")
      o.timeout_s = std::atof(value().c_str());
    else if (a == "--samples")
      o.samples_path = value();
    else if (!a.empty() && a[0] != '-' && o.spec_path.empty())
      o.spec_path = a;
    else
      die("usage: rx_bench_runner [--runs R] [--warmup W] [--batch N] [--parallel P] [--timeout S] "
          "[--samples FILE] SPEC");
  }
  if (o.spec_path.empty() || o.runs < 1 || o.warmup < 0 || o.batch < 1 || o.parallel < 1 || o.timeout_s <= 0)
    die("bad arguments (see the comment at the top of bench/tools/runner.cc)");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options opts = parseArgs(argc, argv);
  std::vector<Command> cmds = readSpec(opts.spec_path);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, nullptr);
  const long hz = sysconf(_SC_CLK_TCK);

  // Rotating one list instead (each round starting one further down it) put the same command
  // before a given one in nearly every round, and what ran just before matters on this kind of
  // machine: after a mostly idle command (ssh's fresh connection waits ~190 ms on its network
  // stalls) the next one runs slower. Two copies of one rexec client in one spec measured 5.54
  // and 4.88 ms that way (150 rounds with a `sleep 0.1` beside them), and 4.89 and 5.41 ms with
  // their two lines swapped.
  std::mt19937 shuffler(1);
  std::vector<size_t> order(cmds.size());
  std::iota(order.begin(), order.end(), size_t{0});
  for (int round = 0; round < opts.warmup + opts.runs; ++round) {
    const bool measured = round >= opts.warmup;
    std::shuffle(order.begin(), order.end(), shuffler);
    for (size_t k : order) {
      Command& c = cmds[k];
      TreeState before;
      if (c.cpu_pid > 0) before = readTree(c.cpu_pid);
      double client_cpu_s = 0;
      const double t = runSample(c, opts.batch, opts.parallel, opts.timeout_s, client_cpu_s);
      if (!measured) continue;
      c.client_cpu_s += client_cpu_s;
      c.samples.push_back(t);
      c.measured_commands += opts.batch;
      if (c.cpu_pid > 0) {
        const TreeState after = settledTree(c.cpu_pid, before);
        c.cpu_ticks += after.ticks - before.ticks;
        c.own_ticks += after.root_ticks - before.root_ticks;
        c.commands += opts.batch;
      }
    }
  }

  std::FILE* samples = opts.samples_path.empty() ? nullptr : std::fopen(opts.samples_path.c_str(), "w");
  for (const Command& c : cmds) {
    auto perCommand = [&](long long ticks) {
      return c.cpu_pid > 0
                 ? static_cast<double>(ticks) / static_cast<double>(hz) / static_cast<double>(c.commands)
                 : -1.0;
    };
    std::printf("%s %.6f %.6f %.6f %.6f %.6f %.6f %.6f %.6f\n", c.label.c_str(), percentile(c.samples, 0.5),
                percentile(c.samples, 0.1), percentile(c.samples, 0.9),
                *std::min_element(c.samples.begin(), c.samples.end()),
                *std::max_element(c.samples.begin(), c.samples.end()), perCommand(c.cpu_ticks),
                perCommand(c.own_ticks), c.client_cpu_s / static_cast<double>(c.measured_commands));
    if (samples) {
      std::fprintf(samples, "%s", c.label.c_str());
      for (double s : c.samples) std::fprintf(samples, " %.6f", s);
      std::fprintf(samples, "\n");
    }
  }
  if (samples) std::fclose(samples);
  return 0;
}
