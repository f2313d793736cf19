#pragma once
// One command on many hosts, on the one libuv loop: a window of at most --fanout ExecClients at a
// time, each reporting through its own small observer; their output labelled line by line,
// gathered into groups of identical output, or written to per-host files; a progress line on a
// terminal; a summary, JSON records and the exit status rule at the end (fanout_report.h).
#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "client/background_masters.h"
#include "client/exec_client.h"
#include "client/fanout_options.h"
#include "client/fanout_report.h"
#include "client/fanout_targets.h"
#include "client/local_output.h"
#include "client/output_groups.h"

namespace rx {

class Fanout {
 public:
  // `params.stdin_open` is ignored: every host reads /dev/null (stdin is not broadcast).
  Fanout(uv_loop_t* loop, std::vector<FanoutTarget> targets, ClientKey key, ExecParams params,
         ClientTimeouts timeouts, SSL_CTX* tls, HostKeyPolicy host_keys, FanoutOptions options);
  ~Fanout();
  Fanout(const Fanout&) = delete;
  Fanout& operator=(const Fanout&) = delete;

  // Runs every host, prints the summary, closes everything; returns the exit status.
  int run();

 private:
  struct Host;
  friend struct Host;

  void startMore();
  void startHost(size_t index);
  // -S PATH (expanded into `path`): a connection to the master for `address`, if one answers
  // (else -1: directly); `error` when the host must fail instead (a bad path, another user's socket).
  int connectMaster(const HostPort& address, std::string& path, std::string& error) const;
  void onOutput(Host& host, rxpb::v1::Stream stream, std::string_view data);
  void onDone(Host& host, const ExecOutcome& outcome);
  void onClosed(Host& host);
  void stopStarting();  // --fail-fast, signals: no new hosts; the waiting ones are skipped
  void signalRunning(const char* name);
  void onSignal(int signum);
  void writeOut(std::string_view data);  // a whole line (or lines) of output on stdout
  void writeErr(std::string_view data);  // the same on stderr
  void updateOutputPause();
  void drawProgress();
  void clearProgress();
  // The summary and the end, once every host is done and every master started has settled.
  void maybeFinish();
  void finishRun();
  std::string outcomeText(const ExecOutcome& outcome) const;

  uv_loop_t* loop_;
  std::vector<std::unique_ptr<Host>> hosts_;
  ClientKey key_;
  ExecParams params_;
  ClientTimeouts timeouts_;
  SSL_CTX* tls_;
  HostKeyPolicy host_keys_;
  FanoutOptions options_;

  size_t next_ = 0;  // the next host to start
  size_t running_ = 0;
  size_t done_ = 0;
  size_t failed_ = 0;
  size_t closing_ = 0;  // ExecClients done but not yet closed
  bool starting_ = false;
  bool stopping_ = false;
  bool stdout_broken_ = false;  // a write to our stdout failed (EPIPE): see writeOut
  bool finished_ = false;
  int interrupts_ = 0;
  int interrupted_by_ = 0;

  LocalOutput stdout_;
  LocalOutput stderr_;
  bool output_paused_ = false;
  size_t resume_turn_ = 0;  // which host resumes reading first next time (updateOutputPause)
  uv_signal_t sig_int_{}, sig_term_{}, sig_hup_{};
  bool progress_ = false;  // stderr is a terminal
  bool progress_shown_ = false;
  bool progress_dirty_ = true;
  uv_timer_t progress_timer_{};
  OutputGroups groups_;
  std::unique_ptr<BackgroundMasters> masters_;  // --persist with -S: started for hosts run directly
  std::string out_dir_error_;
  int exit_status_ = 255;
};

}  // namespace rx
