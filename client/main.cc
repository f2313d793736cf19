// rexec: options only; the work is in OneHostCommand (one host) or Fanout (many).
#include <signal.h>

#include <cstdio>

#include "client/exit_status.h"
#include "client/fanout.h"
#include "client/fanout_targets.h"
#include "client/one_host_command.h"
#include "client/options.h"
#include "common/key_file.h"
#include "common/limits.h"

int main(int argc, char** argv) {
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
  rx::ClientKey key;
  if (auto s = rx::loadKeyFile(opts.identity, key); !s) {
    std::fprintf(stderr, "rexec: %s\n", s.message().c_str());
    return rx::kExitFailure;
  }
  // A closed socket must be an error return, not a silent death.
  signal(SIGPIPE, SIG_IGN);

  rx::SslCtxPtr tls;
  if (auto s = rx::makeClientTlsContext(tls); !s) {
    std::fprintf(stderr, "rexec: %s\n", s.message().c_str());
    return rx::kExitFailure;
  }
  rx::HostKeyPolicy host_keys{opts.known_hosts, opts.accept_new, rx::terminalAsker(), nullptr};

  rx::ClientTimeouts timeouts;
  timeouts.connect_ms = static_cast<uint64_t>(opts.connect_timeout_s * 1000.0);
  int status = rx::kExitFailure;
  if (opts.fanout.enabled()) {
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
