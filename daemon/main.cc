// rexecd: start-up only (settings, keys, sockets); the daemon itself is in server/connection/
// session/job. Exceptions are fine here and caught below; the event loop never throws.
#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>

#include <google/protobuf/stubs/logging.h>

#include "common/key_file.h"
#include "common/limits.h"
#include "common/log.h"
#include "daemon/host_key.h"
#include "daemon/server.h"
#include "daemon/service_manager.h"
#include "daemon/settings.h"
#include "daemon/spawn_helper.h"

namespace {

rx::Status writePortFile(const std::string& path, const std::vector<uint16_t>& ports) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (uint16_t p : ports) out << p << "\n";
    if (!out.flush()) return rx::Status::Error(fmt::format("{}: cannot write", tmp));
  }
  // Rename, so a reader never sees a half-written file.
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return rx::Status::Error(fmt::format("{}: {}", path, std::strerror(errno)));
  return rx::Status::Ok();
}

// Each connection holds a descriptor and each command two or three: raise the soft limit far
// enough for --max-connections (the hard limit is the administrator's). Commands inherit the raised
// soft limit, so it is raised only as far as needed, never to the hard limit blindly.
void raiseDescriptorLimit(size_t max_connections) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  const rlim_t want = static_cast<rlim_t>(max_connections) + 1024;
  if (rl.rlim_cur >= want) return;
  const rlim_t old = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? want : std::min(want, rl.rlim_max);
  if (rl.rlim_cur > old && setrlimit(RLIMIT_NOFILE, &rl) != 0) rl.rlim_cur = old;
  if (rl.rlim_cur < want)
    rx::log::warning(
        "open-file limit {} (hard limit {}) is below --max-connections {} + 1024; accepts will "
        "fail before that many connections",
        static_cast<uint64_t>(rl.rlim_cur), static_cast<uint64_t>(rl.rlim_max), max_connections);
}

// Everything a running daemon takes from the settings and files, checked; the problems are
// collected rather than stopping at the first (for --check-config and a failed SIGHUP reload).
struct Loaded {
  std::vector<rx::HostPort> addresses;
  std::shared_ptr<rx::KeySet> keys = std::make_shared<rx::KeySet>();
  rx::PkeyPtr host_key;
  bool host_key_missing = false;
};

std::vector<std::string> loadFiles(const rx::DaemonSettings& s, Loaded& out) {
  std::vector<std::string> problems;
  std::vector<std::string> listen = s.listen;
  if (listen.empty()) listen.push_back("0.0.0.0");
  for (const auto& l : listen) {
    rx::HostPort hp;
    if (auto st = rx::parseHostPort(l, rx::kDefaultPort, hp); !st)
      problems.push_back(fmt::format("listen {}: {}", l, st.message()));
    else
      out.addresses.push_back(hp);
  }
  if (auto st = rx::loadAuthorizedKeys(s.authorized_keys, out.keys->keys); !st)
    problems.push_back(st.message());
  if (::access(s.host_key.c_str(), F_OK) != 0 && errno == ENOENT) {
    out.host_key_missing = true;
  } else if (auto st = rx::loadHostKey(s.host_key, out.host_key); !st) {
    problems.push_back(st.message());
  }
  return problems;
}

void printProblems(const std::vector<std::string>& problems) {
  for (const auto& p : problems) std::fprintf(stderr, "rexecd: %s\n", p.c_str());
}

// libprotobuf reports some parse problems (invalid UTF-8 in a string field, which any peer can
// send) on stderr by itself; keep them in our log, with a priority, instead.
void protobufLog(google::protobuf::LogLevel level, const char* file, int line, const std::string& message) {
  rx::log::debug("libprotobuf {} {}:{}: {}", static_cast<int>(level), file, line, message);
}

// Descriptors rexecd inherited beyond stdio, from whatever started it, would otherwise reach the
// spawn helper and every command (found under a shell that leaked two). sshd closes them at
// start for the same reason. Close-on-exec rather than closed: systemd's listening sockets are
// among them until adopted.
void markInheritedCloseOnExec() {
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  // Kernels before 5.11 (or a seccomp filter without close_range): one at a time.
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return;
  const int own = ::dirfd(dir);
  while (const dirent* e = ::readdir(dir)) {
    const int fd = std::atoi(e->d_name);
    if (fd > 2 && fd != own) ::fcntl(fd, F_SETFD, ::fcntl(fd, F_GETFD) | FD_CLOEXEC);
  }
  ::closedir(dir);
}

int run(int argc, char** argv) {
  markInheritedCloseOnExec();
  google::protobuf::SetLogHandler(protobufLog);
  const std::vector<std::string> args(argv + 1, argv + argc);
  rx::DaemonSettings settings;
  int exit_code = 0;
  std::vector<std::string> problems;
  if (rx::loadSettings(args, settings, exit_code, problems) == rx::SettingsOutcome::Exit) {
    printProblems(problems);
    // As `sshd -t`: --check-config answers 1 for any problem.
    const bool checking = std::find(args.begin(), args.end(), "--check-config") != args.end();
    return checking && !problems.empty() ? 1 : exit_code;
  }
  rx::log::setMaxLevel(settings.logLevel());

  rx::PkeyPtr host_key;
  if (!settings.init_host_key.empty()) {
    if (auto s = rx::createHostKey(settings.init_host_key, host_key); !s) {
      printProblems({s.message()});
      return 2;
    }
    std::printf("%s\n", rx::keyFingerprint(host_key.get()).c_str());
    return 0;
  }
  if (settings.print_fingerprint) {
    if (auto s = rx::loadHostKey(settings.host_key, host_key); !s) {
      printProblems({s.message()});
      return 2;
    }
    std::printf("%s\n", rx::keyFingerprint(host_key.get()).c_str());
    return 0;
  }

  Loaded loaded;
  problems = loadFiles(settings, loaded);
  if (settings.check_config) {
    printProblems(problems);
    if (problems.empty())
      std::printf("%s: OK (%zu authorized key(s)%s)\n", settings.config_path.c_str(),
                  loaded.keys->keys.size(),
                  loaded.host_key_missing ? "; the host key will be created on first start" : "");
    return problems.empty() ? 0 : 1;
  }
  if (!problems.empty()) {
    printProblems(problems);
    return 2;
  }
  if (loaded.host_key_missing) {
    if (auto s = rx::createHostKey(settings.host_key, loaded.host_key); !s) {
      printProblems({s.message()});
      return 2;
    }
    rx::log::notice("created host key {} ({})", settings.host_key, rx::keyFingerprint(loaded.host_key.get()));
  }
  rx::SslCtxPtr tls;
  if (auto s = rx::makeServerTlsContext(loaded.host_key.get(), tls); !s) {
    printProblems({s.message()});
    return 2;
  }
  rx::SessionConfig config = settings.session;
  config.keys = loaded.keys;
  if (const passwd* pw = getpwuid(geteuid())) {
    config.user = pw->pw_name;
    config.home = pw->pw_dir;
    config.shell = pw->pw_shell;
  } else {
    printProblems({fmt::format("no passwd entry for uid {}", geteuid())});
    return 2;
  }

  // Writes to a vanished client must fail with EPIPE, not kill the daemon. (libuv resets
  // signal dispositions in every child it spawns.)
  signal(SIGPIPE, SIG_IGN);

  uv_loop_t* loop = uv_default_loop();
  rx::ServiceManager service(loop);
  raiseDescriptorLimit(settings.limits.admission.max_connections);
  rx::Server server(loop, std::move(config), settings.limits, std::move(tls));
  const std::vector<int> inherited = rx::ServiceManager::inheritedListeners();
  const rx::Status listening = inherited.empty() ? server.listen(loaded.addresses) : server.adopt(inherited);
  if (!listening) {
    printProblems({listening.message()});
    return 2;
  }
  // After the listening sockets are open: every one of them is close-on-exec by now (libuv's, and
  // sd_listen_fds() marks those systemd passed), so the helper keeps none, nor do the commands.
  // After the descriptor limit was raised, too, which the commands inherit through it.
  if (const int err = server.startSpawnHelper(); err != 0) {
    printProblems({fmt::format("cannot start the spawn helper: {}", uv_strerror(err))});
    return 2;
  }
  if (!settings.port_file.empty()) {
    if (auto s = writePortFile(settings.port_file, server.boundPorts()); !s) {
      printProblems({s.message()});
      return 2;
    }
  }
  server.installSignalHandlers();
  server.onStopping([&service] { service.stopping(); });
  server.onStopped([&service] { service.close(); });
  // SIGHUP: read the config and the authorized keys again; a bad reload keeps the old ones.
  server.onReload([&service, &args, &server] {
    service.reloading();
    rx::DaemonSettings fresh;
    int code = 0;
    std::vector<std::string> why;
    Loaded reloaded;
    if (rx::loadSettings(args, fresh, code, why) == rx::SettingsOutcome::Run)
      why = loadFiles(fresh, reloaded);
    if (!why.empty()) {
      for (const auto& w : why) rx::log::error("reload failed, keeping the running configuration: {}", w);
    } else {
      rx::log::setMaxLevel(fresh.logLevel());
      server.reconfigure(fresh.session, fresh.limits, reloaded.keys);
      rx::log::notice("reloaded: {} authorized key(s)", reloaded.keys->keys.size());
    }
    service.ready(fmt::format("listening on {}; {} authorized key(s)",
                              fmt::join(server.boundAddresses(), ", "), server.config().keys->keys.size()));
  });
  const std::string status = fmt::format("listening on {}; {} authorized key(s)",
                                         fmt::join(server.boundAddresses(), ", "), loaded.keys->keys.size());
  rx::log::notice("rexecd ready with {} authorized key(s); host key {}", loaded.keys->keys.size(),
                  rx::keyFingerprint(loaded.host_key.get()));
  service.ready(status);
  uv_run(loop, UV_RUN_DEFAULT);
  if (uv_loop_alive(loop)) {
    rx::log::notice("stopped (forced)");
    return 0;
  }
  uv_loop_close(loop);
  rx::log::notice("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // The process that starts every command (daemon/spawner.h), before anything of the daemon is
  // set up.
  if (argc == 2 && std::strcmp(argv[1], rx::kSpawnHelperFlag) == 0) return rx::spawnHelperMain();
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rexecd: %s\n", e.what());
    return 2;
  }
}
