#pragma once
// `rexec HOST cmd`: one ExecClient plus what belongs to the whole process: the local stdin,
// stdout and stderr (with back-pressure both ways), Ctrl-C / SIGTERM / SIGHUP forwarding, and
// the exit status. Runs the loop until everything is closed.
#include <uv.h>

#include <memory>
#include <string>

#include "client/exec_client.h"
#include "client/local_input.h"
#include "client/local_output.h"
#include "client/raw_terminal.h"

namespace rx {

class OneHostCommand final : public ExecObserver {
 public:
  // `master_fd`: a connection to a master (rexec -S) to run the command through; -1: direct.
  OneHostCommand(uv_loop_t* loop, HostPort target, ClientKey key, ExecParams params, ClientTimeouts timeouts,
                 SSL_CTX* tls, HostKeyPolicy host_keys, int master_fd = -1);
  ~OneHostCommand() override;
  OneHostCommand(const OneHostCommand&) = delete;
  OneHostCommand& operator=(const OneHostCommand&) = delete;

  // Runs the loop until the command is over and everything is closed; returns the exit status.
  int run();

  // ExecObserver
  void onExecStarted(ExecClient& exec) override;
  void onExecOutput(ExecClient& exec, rxpb::v1::Stream stream, std::string_view data) override;
  void onExecSendQueue(ExecClient& exec) override;
  void onExecDone(ExecClient& exec, const ExecOutcome& outcome) override;

 private:
  void onSignal(int signum);
  void updateOutputPause();
  void updateStdinReading();
  // one_host_terminal.cc: rexec -t. Raw mode and window sizes once the request is out; the
  // terminal's settings restored before any message of ours and on every way out.
  void startTerminal();
  void onWindowChanged();
  void leaveRawMode();

  uv_loop_t* loop_;
  bool stdin_open_;
  bool want_pty_;           // -t: a terminal was asked for
  TerminalSize sent_size_;  // the window size the server last heard of
  ExecClient exec_;
  int master_fd_;
  uv_signal_t sig_int_{}, sig_term_{}, sig_hup_{};
  int interrupts_ = 0;
  LocalOutput stdout_;
  LocalOutput stderr_;
  std::unique_ptr<LocalInput> stdin_;
  bool stdout_broken_reported_ = false;
  bool output_paused_ = false;
  std::unique_ptr<RawTerminal> raw_;
  uv_signal_t sig_winch_{};
  bool winch_started_ = false;
  bool finished_ = false;
  int exit_status_ = 255;
};

}  // namespace rx
