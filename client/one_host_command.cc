#include "client/one_host_command.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace rx {
namespace {

// Back-pressure thresholds, in bytes, for the socket's send queue (stdin).
constexpr size_t kSocketHighWater = 4 * 1024 * 1024;
constexpr size_t kSocketLowWater = 1024 * 1024;

}  // namespace

OneHostCommand::OneHostCommand(uv_loop_t* loop, HostPort target, ClientKey key, ExecParams params,
                               ClientTimeouts timeouts, SSL_CTX* tls, HostKeyPolicy host_keys, int master_fd)
    : loop_(loop),
      stdin_open_(params.stdin_open),
      want_pty_(params.pty.has_value()),
      sent_size_(params.pty ? params.pty->size : TerminalSize{}),
      exec_(loop, std::move(target), std::move(key), std::move(params), timeouts, tls, std::move(host_keys),
            *this),
      master_fd_(master_fd),
      stdout_(loop, STDOUT_FILENO),
      stderr_(loop, STDERR_FILENO) {
  auto drained = [this] { updateOutputPause(); };
  stdout_.setOnDrain(drained);
  stderr_.setOnDrain(drained);
}

OneHostCommand::~OneHostCommand() = default;

int OneHostCommand::run() {
  for (auto [sig, num] : {std::pair{&sig_int_, SIGINT}, {&sig_term_, SIGTERM}, {&sig_hup_, SIGHUP}}) {
    uv_signal_init(loop_, sig);
    sig->data = this;
    uv_signal_start(
        sig, [](uv_signal_t* s, int signum) { static_cast<OneHostCommand*>(s->data)->onSignal(signum); },
        num);
  }
  if (master_fd_ >= 0)
    exec_.startOnMaster(master_fd_);
  else
    exec_.start();
  uv_run(loop_, UV_RUN_DEFAULT);
  return exit_status_;
}

void OneHostCommand::updateOutputPause() {
  if (finished_) return;
  const size_t queued = stdout_.queued() + stderr_.queued();
  const bool paused = localOutputShouldPause(queued, output_paused_);
  if (paused == output_paused_) return;
  output_paused_ = paused;
  exec_.setOutputPaused(paused);
}

void OneHostCommand::onExecStarted(ExecClient& exec) {
  if (want_pty_) startTerminal();
  if (!stdin_open_ || exec.done()) return;
  stdin_ = std::make_unique<LocalInput>(
      loop_, STDIN_FILENO, [&exec](std::string_view data) { exec.sendStdin(data); },
      [&exec] { exec.closeStdin(); });
  updateStdinReading();
}

void OneHostCommand::onExecSendQueue(ExecClient&) { updateStdinReading(); }

void OneHostCommand::updateStdinReading() {
  if (!stdin_ || finished_) return;
  if (exec_.socketQueued() > kSocketHighWater)
    stdin_->pause();
  else if (exec_.socketQueued() < kSocketLowWater)
    stdin_->resume();
}

void OneHostCommand::onExecOutput(ExecClient& exec, rxpb::v1::Stream stream, std::string_view data) {
  LocalOutput& out = stream == rxpb::v1::STREAM_STDOUT ? stdout_ : stderr_;
  if (!out.write(data)) {
    // Our reader went away (`rexec host cmd | head`): the remote command gets SIGPIPE just as a
    // local one would, so pipelines behave the same either way.
    if (&out == &stdout_ && !stdout_broken_reported_) {
      stdout_broken_reported_ = true;
      exec.sendSignal("PIPE");
    }
    return;
  }
  updateOutputPause();
}

void OneHostCommand::onExecDone(ExecClient& exec, const ExecOutcome& outcome) {
  leaveRawMode();  // before any message, which would otherwise land on a raw terminal
  if (winch_started_) uv_close(reinterpret_cast<uv_handle_t*>(&sig_winch_), nullptr);
  if (!outcome.message.empty())
    std::fprintf(stderr, "rexec: %s: %s\n", exec.target().host.c_str(), outcome.message.c_str());
  finished_ = true;
  exit_status_ = outcome.exit_status;
  for (uv_signal_t* s : {&sig_int_, &sig_term_, &sig_hup_})
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(s)))
      uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
  if (stdin_) stdin_->close([] {});
  stdout_.close([] {});
  stderr_.close([] {});
}

void OneHostCommand::onSignal(int signum) {
  if (!exec_.requestSent() || exec_.done()) {
    // Nothing runs remotely yet: just stop.
    exec_.abort(fmt::format("interrupted by SIG{}", signum == SIGINT    ? "INT"
                                                    : signum == SIGTERM ? "TERM"
                                                                        : "HUP"));
    exit_status_ = 128 + signum;
    return;
  }
  if (exec_.ptyActive()) {
    // As ssh -t: the user is gone or wants out, and nothing reads ^C as a signal here (raw mode
    // sends it to the remote terminal as a byte). Disconnecting makes the server end the command.
    exec_.abort(fmt::format("interrupted by SIG{}; disconnecting (the server ends the command)",
                            signum == SIGINT    ? "INT"
                            : signum == SIGTERM ? "TERM"
                                                : "HUP"));
    exit_status_ = 128 + signum;
    return;
  }
  if (signum != SIGINT) {
    exec_.sendSignal(signum == SIGTERM ? "TERM" : "HUP");
    return;
  }
  // First Ctrl-C asks politely, the second kills, the third gives up locally (the server then
  // kills the group because the connection went away).
  ++interrupts_;
  if (interrupts_ == 1) {
    exec_.sendSignal("INT");
  } else if (interrupts_ == 2) {
    exec_.sendSignal("KILL");
  } else {
    exec_.abort("interrupted three times; disconnecting (the server kills the command)");
    exit_status_ = 128 + SIGINT;
  }
}

}  // namespace rx
