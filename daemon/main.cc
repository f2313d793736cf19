// rexecd: options only; the daemon itself is in server/connection/session/job.
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>

#include "common/key_file.h"
#include "common/limits.h"
#include "common/log.h"
#include "daemon/host_key.h"
#include "daemon/options.h"
#include "daemon/server.h"

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

int run(int argc, char** argv) {
  rx::DaemonOptions opts;
  if (auto exit_code = rx::parseDaemonOptions(argc, argv, opts)) return *exit_code;
  const std::map<std::string, rx::log::Level> levels{{"error", rx::log::Level::Error},
                                                     {"warning", rx::log::Level::Warning},
                                                     {"notice", rx::log::Level::Notice},
                                                     {"info", rx::log::Level::Info},
                                                     {"debug", rx::log::Level::Debug}};
  rx::log::setMaxLevel(levels.at(opts.log_level));
  const std::string& init_host_key = opts.init_host_key;
  const std::string& host_key_path = opts.host_key;
  rx::SessionConfig& config = opts.session;

  rx::PkeyPtr host_key;
  if (!init_host_key.empty()) {
    if (auto s = rx::createHostKey(init_host_key, host_key); !s) {
      std::fprintf(stderr, "rexecd: %s\n", s.message().c_str());
      return 2;
    }
    std::printf("%s\n", rx::keyFingerprint(host_key.get()).c_str());
    return 0;
  }
  if (opts.print_fingerprint) {
    if (auto s = rx::loadHostKey(host_key_path, host_key); !s) {
      std::fprintf(stderr, "rexecd: %s\n", s.message().c_str());
      return 2;
    }
    std::printf("%s\n", rx::keyFingerprint(host_key.get()).c_str());
    return 0;
  }
  if (::access(host_key_path.c_str(), F_OK) != 0 && errno == ENOENT) {
    if (auto s = rx::createHostKey(host_key_path, host_key); !s) {
      std::fprintf(stderr, "rexecd: %s\n", s.message().c_str());
      return 2;
    }
    rx::log::notice("created host key {} ({})", host_key_path, rx::keyFingerprint(host_key.get()));
  } else if (auto s = rx::loadHostKey(host_key_path, host_key); !s) {
    std::fprintf(stderr, "rexecd: %s\n", s.message().c_str());
    return 2;
  }
  rx::SslCtxPtr tls;
  if (auto s = rx::makeServerTlsContext(host_key.get(), tls); !s) {
    std::fprintf(stderr, "rexecd: %s\n", s.message().c_str());
    return 2;
  }

  std::vector<rx::HostPort> addresses;
  if (opts.listen.empty()) opts.listen.push_back("0.0.0.0");
  for (const auto& l : opts.listen) {
    rx::HostPort hp;
    if (auto s = rx::parseHostPort(l, rx::kDefaultPort, hp); !s) {
      std::fprintf(stderr, "rexecd: --listen %s: %s\n", l.c_str(), s.message().c_str());
      return 2;
    }
    addresses.push_back(hp);
  }

  auto keys = std::make_shared<rx::KeySet>();
  if (auto s = rx::loadAuthorizedKeys(opts.authorized_keys, keys->keys); !s) {
    std::fprintf(stderr, "rexecd: %s\n", s.message().c_str());
    return 2;
  }
  config.keys = keys;
  if (const passwd* pw = getpwuid(geteuid())) {
    config.user = pw->pw_name;
    config.home = pw->pw_dir;
    config.shell = pw->pw_shell;
  } else {
    std::fprintf(stderr, "rexecd: no passwd entry for uid %u\n", geteuid());
    return 2;
  }

  // Writes to a vanished client must fail with EPIPE, not kill the daemon. (libuv resets
  // signal dispositions in every child it spawns.)
  signal(SIGPIPE, SIG_IGN);
  raiseDescriptorLimit(opts.limits.admission.max_connections);

  uv_loop_t* loop = uv_default_loop();
  rx::Server server(loop, std::move(config), opts.limits, std::move(tls));
  if (auto s = server.listen(addresses); !s) {
    std::fprintf(stderr, "rexecd: %s\n", s.message().c_str());
    return 2;
  }
  if (!opts.port_file.empty()) {
    if (auto s = writePortFile(opts.port_file, server.boundPorts()); !s) {
      std::fprintf(stderr, "rexecd: %s\n", s.message().c_str());
      return 2;
    }
  }
  server.installSignalHandlers();
  rx::log::notice("rexecd ready with {} authorized key(s); host key {}", keys->keys.size(),
                  rx::keyFingerprint(host_key.get()));
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
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rexecd: %s\n", e.what());
    return 2;
  }
}
