// rexec: options only; the work is in OneHostCommand (one host) or Fanout (many).
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "client/auto_master.h"
#include "client/control_socket.h"
#include "client/exit_status.h"
#include "client/fanout.h"
#include "client/fanout_targets.h"
#include "client/known_hosts.h"
#include "client/master.h"
#include "client/master_control.h"
#include "client/master_log.h"
#include "client/one_host_command.h"
#include "client/options.h"
#include "client/raw_terminal.h"
#include "common/crypto_library.h"
#include "common/key_file.h"
#include "common/limits.h"

namespace {

// The command through the master on `fd` (rexec -S PATH with a master of this user answering).
int runThroughMaster(int fd, rx::ClientOptions& opts, const rx::HostPort& target,
                     const rx::ClientTimeouts& timeouts) {
  signal(SIGPIPE, SIG_IGN);
  int status = rx::kExitFailure;
  {
    rx::OneHostCommand client(uv_default_loop(), target, rx::ClientKey{}, std::move(opts.params), timeouts,
                              nullptr, rx::HostKeyPolicy{}, fd);
    status = client.run();
  }
  uv_loop_close(uv_default_loop());
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  // Buffers of a stream's size (512 KiB chunks, and what the socket could not take at once, queued
  // in a copy) are allocated and freed over and over. By default glibc hands each back to the
  // kernel (munmap, or a trim of the heap's top), and the next one is faulted in afresh, page by
  // page: 1 GiB of stdin into `cat >/dev/null` took 94,616 page faults and 0.70 s of the client's
  // CPU. Kept in the heap instead: 777 faults and 0.61 s (9 alternating runs). The client is one
  // command's life long and its queues are bounded, so keeping freed memory costs nothing.
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  rx::ClientOptions opts;
  int exit_code = 0;
  if (rx::parseClientOptions(argc, argv, opts, exit_code) == rx::ParseOutcome::Exit) return exit_code;

  rx::HostPort target;
  std::vector<rx::FanoutTarget> targets;
  if (auto s = opts.fanout.enabled() ? rx::collectFanoutTargets(opts.fanout, targets)
                                     : rx::parseHostPort(opts.target, rx::kDefaultPort, target);
      !s) {
    std::fprintf(stderr, "rexec: %s\n", s.message().c_str());
    return rx::kExitFailure;
  }
  if (opts.fanout.enabled()) {
    opts.fanout.control_path = std::move(opts.control_path);  // per host (Fanout::startHost)
    opts.control_path.clear();
    opts.fanout.persist_s = opts.persist_s;
    // A master a fan-out starts (client/background_masters.h) uses what this run uses.
    opts.fanout.master_options = {"-i",
                                  opts.identity,
                                  "--known-hosts",
                                  opts.known_hosts,
                                  "--connect-timeout",
                                  fmt::format("{}", opts.connect_timeout_s)};
    if (opts.accept_new) opts.fanout.master_options.push_back("--accept-new");
    if (!opts.log_file.empty())
      opts.fanout.master_options.insert(opts.fanout.master_options.end(), {"-E", opts.log_file});
  } else if (!opts.control_path.empty()) {
    std::string path;
    if (auto s = rx::expandControlPath(opts.control_path, target.host, target.port, path); !s) {
      std::fprintf(stderr, "rexec: %s\n", s.message().c_str());
      return rx::kExitFailure;
    }
    opts.control_path = std::move(path);
  }
  if (!opts.control_command.empty()) {
    const auto timeout_ms = static_cast<uint64_t>(opts.connect_timeout_s * 1000.0);
    if (!opts.fanout.enabled())
      return rx::controlMaster(opts.control_command, opts.control_path,
                               rx::knownHostLabel(target.host, target.port), timeout_ms);
    // Many hosts: each host's master in turn (the masters --persist left behind, stopped with one
    // command). 0 only when every host's master answered (check) or has stopped (exit).
    int status = 0;
    for (const rx::FanoutTarget& t : targets) {
      std::string path;
      int one = rx::kExitFailure;
      if (auto s = rx::expandControlPath(opts.fanout.control_path, t.address.host, t.address.port, path); !s)
        std::fprintf(stderr, "rexec: %s: %s\n", t.label.c_str(), s.message().c_str());
      else
        one = rx::controlMaster(opts.control_command, path,
                                rx::knownHostLabel(t.address.host, t.address.port), timeout_ms);
      status = std::max(status, one);
    }
    return status;
  }
  if (opts.tty > 0) {
    // As ssh: -t needs a local terminal to make sense of; -tt asks for one anyway.
    const std::optional<rx::TerminalSize> size = rx::readTerminalSize(STDIN_FILENO);
    if (isatty(STDIN_FILENO) || opts.tty >= 2)
      opts.params.pty = rx::PtyParams{rx::localTermName(), size.value_or(rx::TerminalSize{})};
    else
      std::fprintf(stderr,
                   "rexec: stdin is not a terminal: no pseudo-terminal requested (-t -t forces one)\n");
  }

  rx::ClientTimeouts timeouts;
  timeouts.connect_ms = static_cast<uint64_t>(opts.connect_timeout_s * 1000.0);
  // A master answering on -S takes the command as it is: no key, no TLS, no host key to check
  // here (its connection did all that). None answering: with --persist, start one (and this
  // process may come back from that as the master itself); else connect directly, as ssh does.
  int ready_fd = -1;
  if (opts.master && opts.ready_fd >= 0) {
    // Started by a fan-out (client/background_masters.h), which reads what this master says until
    // it listens. It may outlive the fan-out by hours: like a master started for one host, it
    // keeps nothing the fan-out was given beyond 0-2 and its report descriptor.
    if (fcntl(opts.ready_fd, F_SETFD, FD_CLOEXEC) != 0) {
      std::fprintf(stderr, "rexec: --ready-fd %d: %s\n", opts.ready_fd, std::strerror(errno));
      return rx::kExitFailure;
    }
    const unsigned fd = static_cast<unsigned>(opts.ready_fd);
    if (fd > 3) close_range(3, fd - 1, 0);
    close_range(fd + 1, ~0U, 0);
    ready_fd = opts.ready_fd;
  }
  if (!opts.master && !opts.control_path.empty()) {
    rx::MasterConnection master = rx::connectOwnMaster(opts.control_path);
    if (master.fd < 0 && master.refusal.empty() && opts.persist_s > 0) {
      using Outcome = rx::AutoMasterLaunch::Outcome;
      const rx::AutoMasterLaunch launch = rx::launchAutoMaster(
          argc, argv, "rexec -M -S " + opts.control_path + " " + opts.target + " (started by -S --persist)");
      if (launch.outcome == Outcome::Failed) return rx::kExitFailure;  // it said why
      if (launch.outcome == Outcome::InMaster) {
        opts.master = true;
        ready_fd = launch.ready_fd;
      } else {
        // Ready: ours. Unavailable: another master's, if one got there first; else direct.
        master = rx::connectOwnMaster(opts.control_path);
      }
    }
    if (!master.refusal.empty()) {
      std::fprintf(stderr, "rexec: %s\n", master.refusal.c_str());
      return rx::kExitFailure;
    }
    if (master.fd >= 0) return runThroughMaster(master.fd, opts, target, timeouts);
  }
  // OpenSSL as the client needs it, nothing more (common/crypto_library.h).
  rx::startClientCrypto();
  rx::ClientKey key;
  if (auto s = rx::loadKeyFile(opts.identity, key, rx::KeyDerivation::Later); !s) {
    std::fprintf(stderr, "rexec: %s\n", s.message().c_str());
    return rx::kExitFailure;
  }
  // The thread pool serves name lookups only (numeric addresses and stdin need none): one
  // thread for one host, not libuv's default four; fan-out keeps the default.
  if (!opts.fanout.enabled()) setenv("UV_THREADPOOL_SIZE", "1", 0);
  // A closed socket must be an error return, not a silent death.
  signal(SIGPIPE, SIG_IGN);

  rx::SslCtxPtr tls;
  if (auto s = rx::makeClientTlsContext(tls); !s) {
    std::fprintf(stderr, "rexec: %s\n", s.message().c_str());
    return rx::kExitFailure;
  }
  rx::HostKeyPolicy host_keys{opts.known_hosts, opts.accept_new, rx::terminalAsker(), nullptr};

  int status = rx::kExitFailure;
  if (opts.master) {
    if (auto s = opts.log_file.empty() ? rx::Status::Ok() : rx::openMasterLog(opts.log_file); !s) {
      std::fprintf(stderr, "rexec: %s\n", s.message().c_str());
      return rx::kExitFailure;
    }
    rx::Master master(uv_default_loop(), target, opts.control_path, std::move(key), timeouts, tls.get(),
                      std::move(host_keys), static_cast<uint64_t>(opts.persist_s * 1000.0));
    if (ready_fd >= 0) master.notifyWhenReady(ready_fd);
    status = master.run();
    if (ready_fd >= 0 && master.socketUnavailable()) rx::reportSocketUnavailable(ready_fd);
  } else if (opts.fanout.enabled()) {
    rx::Fanout fanout(uv_default_loop(), std::move(targets), std::move(key), std::move(opts.params), timeouts,
                      tls.get(), std::move(host_keys), std::move(opts.fanout));
    status = fanout.run();
  } else {
    rx::OneHostCommand client(uv_default_loop(), target, std::move(key), std::move(opts.params), timeouts,
                              tls.get(), std::move(host_keys));
    status = client.run();
  }
  uv_loop_close(uv_default_loop());
  return status;
}
