// rexecd: options only; the daemon itself is in server/connection/session/job.
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

#include "common/key_file.h"
#include "common/limits.h"
#include "common/log.h"
#include "daemon/host_key.h"
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

int run(int argc, char** argv) {
  CLI::App app{"rexecd: runs commands for authenticated rexec clients"};
  std::vector<std::string> listen;
  std::string authorized_keys = "/etc/rexecd/authorized_keys";
  std::string host_key_path = "/etc/rexecd/host_key";
  std::string init_host_key;
  bool print_fingerprint = false;
  std::string port_file;
  std::string log_level = "info";
  rx::SessionConfig config;
  app.add_option("--listen", listen, "ADDR:PORT to listen on (repeatable; default 0.0.0.0:5512)");
  app.add_option("--authorized-keys", authorized_keys, "file of keys allowed to run commands")
      ->capture_default_str();
  app.add_option("--host-key", host_key_path,
                 "Ed25519 host key (PEM, mode 0600); made on first start if missing")
      ->capture_default_str();
  app.add_option("--init-host-key", init_host_key,
                 "make a new host key in FILE, print its fingerprint, exit");
  app.add_flag("--print-fingerprint", print_fingerprint,
               "print the host key's fingerprint (for known_hosts), exit");
  app.add_option("--port-file", port_file, "write the bound port(s) here once listening");
  app.add_option("--kill-grace-ms", config.kill_grace_ms, "time between TERM and KILL")
      ->capture_default_str();
  app.add_option("--drain-grace-ms", config.drain_grace_ms,
                 "time a command's output may stay open after it exited")
      ->capture_default_str();
  app.add_option("--accept-env", config.accept_env, "environment names clients may set (NAME or PREFIX*)");
  app.add_option("--log-level", log_level, "error, warning, notice, info or debug")
      ->check(CLI::IsMember({"error", "warning", "notice", "info", "debug"}))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  const std::map<std::string, rx::log::Level> levels{{"error", rx::log::Level::Error},
                                                     {"warning", rx::log::Level::Warning},
                                                     {"notice", rx::log::Level::Notice},
                                                     {"info", rx::log::Level::Info},
                                                     {"debug", rx::log::Level::Debug}};
  rx::log::setMaxLevel(levels.at(log_level));

  rx::PkeyPtr host_key;
  if (!init_host_key.empty()) {
    if (auto s = rx::createHostKey(init_host_key, host_key); !s) {
      std::fprintf(stderr, "rexecd: %s\n", s.message().c_str());
      return 2;
    }
    std::printf("%s\n", rx::keyFingerprint(host_key.get()).c_str());
    return 0;
  }
  if (print_fingerprint) {
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
  if (listen.empty()) listen.push_back("0.0.0.0");
  for (const auto& l : listen) {
    rx::HostPort hp;
    if (auto s = rx::parseHostPort(l, rx::kDefaultPort, hp); !s) {
      std::fprintf(stderr, "rexecd: --listen %s: %s\n", l.c_str(), s.message().c_str());
      return 2;
    }
    addresses.push_back(hp);
  }

  auto keys = std::make_shared<rx::KeySet>();
  if (auto s = rx::loadAuthorizedKeys(authorized_keys, keys->keys); !s) {
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

  uv_loop_t* loop = uv_default_loop();
  rx::Server server(loop, std::move(config), std::move(tls));
  if (auto s = server.listen(addresses); !s) {
    std::fprintf(stderr, "rexecd: %s\n", s.message().c_str());
    return 2;
  }
  if (!port_file.empty()) {
    if (auto s = writePortFile(port_file, server.boundPorts()); !s) {
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
