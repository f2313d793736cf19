#include "client/fanout.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "client/control_socket.h"
#include "client/exit_status.h"
#include "client/host_capture.h"
#include "client/line_prefixer.h"

namespace rx {
namespace {

constexpr uint64_t kProgressEveryMs = 200;

double unixNow() {
  using namespace std::chrono;
  return duration_cast<duration<double>>(system_clock::now().time_since_epoch()).count();
}

// Writes all of `data` to a regular file (blocking: files do not push back).
bool writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

// One host of the run: its record, its output's destination, and its ExecClient while it runs.
struct Fanout::Host final : ExecObserver {
  Host(Fanout& f, size_t i, FanoutTarget t) : fanout(f), index(i), target(std::move(t)) {
    record.label = target.label;
  }
  void onExecOutput(ExecClient&, rxpb::v1::Stream stream, std::string_view data) override {
    fanout.onOutput(*this, stream, data);
  }
  void onExecDone(ExecClient&, const ExecOutcome& outcome) override { fanout.onDone(*this, outcome); }
  void onExecClosed(ExecClient&) override { fanout.onClosed(*this); }

  enum class Phase { Waiting, Running, Done };
  Fanout& fanout;
  size_t index;
  FanoutTarget target;
  Phase phase = Phase::Waiting;
  HostRecord record;
  uint64_t start_ms = 0;
  bool stopped_by_us = false;  // aborted before its command was sent: reported as skipped
  std::unique_ptr<ExecClient> exec;
  std::unique_ptr<LinePrefixer> out_lines, err_lines;  // live mode
  std::unique_ptr<HostCapture> capture;                // --gather, --json without --out-dir
  int out_fd = -1, err_fd = -1;                        // --out-dir
  std::string file_error;
  std::string control_path;  // -S PATH for this host, expanded
  bool via_master = false;
};

Fanout::Fanout(uv_loop_t* loop, std::vector<FanoutTarget> targets, ClientKey key, ExecParams params,
               ClientTimeouts timeouts, SSL_CTX* tls, HostKeyPolicy host_keys, FanoutOptions options)
    : loop_(loop),
      key_(std::move(key)),
      params_(std::move(params)),
      timeouts_(timeouts),
      tls_(tls),
      host_keys_(std::move(host_keys)),
      options_(std::move(options)),
      stdout_(loop, STDOUT_FILENO),
      stderr_(loop, STDERR_FILENO) {
  params_.stdin_open = false;
  // No question per host on the terminal: an unknown key fails that host (unless --accept-new).
  host_keys_.ask = nullptr;
  // Through our stderr queue, so it never lands inside the progress line or another line.
  host_keys_.notice = [this](const std::string& line) { writeErr("rexec: " + line + "\n"); };
  options_.fanout = std::max(1u, options_.fanout);
  hosts_.reserve(targets.size());
  for (size_t i = 0; i < targets.size(); ++i)
    hosts_.push_back(std::make_unique<Host>(*this, i, std::move(targets[i])));
  auto drained = [this] { updateOutputPause(); };
  stdout_.setOnDrain(drained);
  stderr_.setOnDrain(drained);
  if (options_.persist_s > 0 && !options_.control_path.empty())
    masters_ = std::make_unique<BackgroundMasters>(
        loop, options_.persist_s, options_.master_options, [this](std::string_view line) { writeErr(line); },
        [this] { maybeFinish(); });
}

Fanout::~Fanout() = default;

int Fanout::run() {
  if (!options_.out_dir.empty() && ::mkdir(options_.out_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    std::fprintf(stderr, "rexec: --out-dir %s: %s\n", options_.out_dir.c_str(), std::strerror(errno));
    return kExitFailure;
  }
  for (auto [sig, num] : {std::pair{&sig_int_, SIGINT}, {&sig_term_, SIGTERM}, {&sig_hup_, SIGHUP}}) {
    uv_signal_init(loop_, sig);
    sig->data = this;
    uv_signal_start(
        sig, [](uv_signal_t* s, int signum) { static_cast<Fanout*>(s->data)->onSignal(signum); }, num);
  }
  progress_ = isatty(STDERR_FILENO) == 1;
  if (progress_) {
    uv_timer_init(loop_, &progress_timer_);
    progress_timer_.data = this;
    uv_timer_start(
        &progress_timer_, [](uv_timer_t* t) { static_cast<Fanout*>(t->data)->drawProgress(); }, 0,
        kProgressEveryMs);
  }
  startMore();
  uv_run(loop_, UV_RUN_DEFAULT);
  return exit_status_;
}

void Fanout::startMore() {
  // Re-entered when a host fails at once (inside startHost): the loop below goes on from there.
  if (starting_) return;
  starting_ = true;
  while (!stopping_ && running_ < options_.fanout && next_ < hosts_.size()) startHost(next_++);
  starting_ = false;
}

void Fanout::startHost(size_t index) {
  Host& h = *hosts_[index];
  h.phase = Host::Phase::Running;
  ++running_;
  progress_dirty_ = true;
  h.start_ms = uv_now(loop_);
  h.record.start_unix = unixNow();
  if (!options_.out_dir.empty()) {
    // Byte for byte, no line processing: the files hold exactly what the command wrote.
    const std::string base = options_.out_dir + "/" + h.target.label;
    for (auto [fd, ext] : {std::pair{&h.out_fd, ".out"}, {&h.err_fd, ".err"}}) {
      *fd = ::open((base + ext).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
      if (*fd < 0 && h.file_error.empty())
        h.file_error = fmt::format("{}{}: {}", base, ext, std::strerror(errno));
    }
  } else if (options_.gather || options_.json) {
    h.capture = std::make_unique<HostCapture>(options_.gather_limit);
  } else {
    h.out_lines = std::make_unique<LinePrefixer>(h.target.label + ": ");
    h.err_lines = std::make_unique<LinePrefixer>(h.target.label + ": ");
  }
  h.exec =
      std::make_unique<ExecClient>(loop_, h.target.address, key_, params_, timeouts_, tls_, host_keys_, h);
  h.exec->setOutputPaused(output_paused_);
  std::string master_error;
  if (const int fd = connectMaster(h.target.address, h.control_path, master_error); fd >= 0) {
    h.via_master = true;
    h.exec->startOnMaster(fd);
  } else {
    h.exec->start();
  }
  if (!master_error.empty())
    h.exec->abort(master_error);
  else if (!h.file_error.empty())
    h.exec->abort(h.file_error);
}

int Fanout::connectMaster(const HostPort& address, std::string& path, std::string& error) const {
  if (options_.control_path.empty()) return -1;
  if (Status s = expandControlPath(options_.control_path, address.host, address.port, path); !s) {
    error = s.message();
    return -1;
  }
  // No master for this host: -1, directly (unless one of another user answers: that host fails).
  MasterConnection master = connectOwnMaster(path);
  error = std::move(master.refusal);
  return master.fd;
}

void Fanout::onOutput(Host& h, rxpb::v1::Stream stream, std::string_view data) {
  const bool is_out = stream == rxpb::v1::STREAM_STDOUT;
  (is_out ? h.record.stdout_bytes : h.record.stderr_bytes) += data.size();
  if (h.out_fd >= 0) {
    const int fd = is_out ? h.out_fd : h.err_fd;
    if (!writeAll(fd, data)) {
      h.exec->abort(fmt::format("writing to {}/{}.{}: {}", options_.out_dir, h.target.label,
                                is_out ? "out" : "err", std::strerror(errno)));
    }
    return;
  }
  if (h.capture) {
    h.capture->add(is_out, data);
    return;
  }
  std::string lines;
  (is_out ? h.out_lines : h.err_lines)->feed(data, lines);
  if (lines.empty()) return;
  if (is_out)
    writeOut(lines);
  else
    writeErr(lines);
}

std::string Fanout::outcomeText(const ExecOutcome& outcome) const { return outcomeLabel(outcome); }

void Fanout::onDone(Host& h, const ExecOutcome& outcome) {
  h.phase = Host::Phase::Done;
  --running_;
  ++done_;
  ++closing_;
  progress_dirty_ = true;
  h.record.wall_s = static_cast<double>(uv_now(loop_) - h.start_ms) / 1000.0;
  h.record.skipped = h.stopped_by_us && !outcome.request_sent;
  if (!h.record.skipped) {
    h.record.outcome = outcome;
    if (outcome.exit_status != 0) ++failed_;
  }
  if (h.out_lines) {
    std::string out, err;
    h.out_lines->finish(out);
    h.err_lines->finish(err);
    if (!out.empty()) writeOut(out);
    if (!err.empty()) writeErr(err);
    h.out_lines.reset();
    h.err_lines.reset();
  }
  if (!h.record.skipped && !outcome.message.empty())
    writeErr(fmt::format("rexec: {}: {}\n", h.target.label, outcome.message));
  if (h.out_fd >= 0 || h.err_fd >= 0) {
    for (int fd : {h.out_fd, h.err_fd})
      if (fd >= 0) ::close(fd);
    h.out_fd = h.err_fd = -1;
    // The outcome next to the output, for scripts: the exit status, then rexec's line if any.
    const std::string path = options_.out_dir + "/" + h.target.label + ".status";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    const std::string text = h.record.skipped
                                 ? "skipped\n"
                                 : fmt::format("{}\n{}", outcome.exit_status,
                                               outcome.message.empty() ? "" : outcome.message + "\n");
    if (fd < 0 || !writeAll(fd, text)) writeErr(fmt::format("rexec: {}: {}\n", path, std::strerror(errno)));
    if (fd >= 0) ::close(fd);
  }
  if (h.capture) {
    h.record.output_cut = h.capture->cut;
    if (h.capture->cut)
      writeErr(fmt::format("rexec: {}: output cut: kept {} of {} bytes (--gather-limit {})\n", h.target.label,
                           h.capture->out.size() + h.capture->err.size(),
                           h.capture->out_total + h.capture->err_total, options_.gather_limit));
  }
  if (options_.json)
    writeOut(
        jsonRecord(h.record, h.capture ? &h.capture->out : nullptr, h.capture ? &h.capture->err : nullptr) +
        "\n");
  if (options_.gather && !h.record.skipped) groups_.add(h.index, std::move(*h.capture), outcomeText(outcome));
  h.capture.reset();

  // Its command ran (whatever its exit status): the host takes our key and the key we know for
  // it, so a master started now would too. Not when the run is being stopped.
  if (masters_ && !h.via_master && !h.control_path.empty() && h.file_error.empty() && outcome.request_sent &&
      !outcome.rexec_failed && !stopping_)
    masters_->start(h.target.label, h.control_path, h.target.address);

  if (options_.fail_fast && !h.record.skipped && outcome.exit_status != 0 && !stopping_) {
    stopStarting();
    signalRunning("TERM");
  }
  startMore();
  maybeFinish();
}

void Fanout::onClosed(Host& h) {
  h.exec.reset();  // from its own close callback, which returns at once
  --closing_;
}

void Fanout::stopStarting() {
  stopping_ = true;
  for (; next_ < hosts_.size(); ++next_) {
    Host& h = *hosts_[next_];
    h.phase = Host::Phase::Done;
    h.record.skipped = true;
    ++done_;
    if (options_.json) writeOut(jsonRecord(h.record, nullptr, nullptr) + "\n");
  }
  progress_dirty_ = true;
  maybeFinish();
}

void Fanout::signalRunning(const char* name) {
  for (auto& hp : hosts_) {
    Host& h = *hp;
    if (h.phase != Host::Phase::Running || !h.exec || h.exec->done()) continue;
    if (h.exec->requestSent()) {
      h.exec->sendSignal(name);
    } else {
      // Not asked to run anything yet: drop it, and report it as skipped.
      h.stopped_by_us = true;
      h.exec->abort("stopped before its command was sent");
    }
  }
}

void Fanout::onSignal(int signum) {
  if (finished_) return;
  if (interrupted_by_ == 0) interrupted_by_ = signum;
  if (masters_) masters_->abandon();  // no more waiting for them (they go on by themselves)
  if (signum != SIGINT) {
    stopStarting();
    signalRunning(signum == SIGTERM ? "TERM" : "HUP");
    return;
  }
  // As for one host: the first Ctrl-C asks politely, the second kills, the third disconnects.
  ++interrupts_;
  if (interrupts_ == 1) {
    stopStarting();
    signalRunning("INT");
  } else if (interrupts_ == 2) {
    signalRunning("KILL");
  } else {
    for (auto& hp : hosts_)
      if (hp->phase == Host::Phase::Running && hp->exec && !hp->exec->done())
        hp->exec->abort("interrupted three times; disconnecting (the server kills the command)");
  }
}

void Fanout::writeOut(std::string_view data) {
  clearProgress();
  if (!stdout_.write(data)) {
    // Our reader went away (`rexec -H ... cmd | head`): as for one host, the remote commands get
    // SIGPIPE, as local ones in a pipeline would, and no new host starts to write into nothing.
    // The summary on stderr still tells what happened.
    if (!stdout_broken_) {
      stdout_broken_ = true;
      // Skipped hosts ran nothing: never 0, but 141 at least, as a local writer killed by SIGPIPE.
      if (interrupted_by_ == 0) interrupted_by_ = SIGPIPE;
      stopStarting();
      signalRunning("PIPE");
    }
    return;
  }
  updateOutputPause();
}

void Fanout::writeErr(std::string_view data) {
  clearProgress();
  stderr_.write(data);
  updateOutputPause();
}

void Fanout::updateOutputPause() {
  if (finished_) return;
  const size_t queued = stdout_.queued() + stderr_.queued();
  const bool paused = localOutputShouldPause(queued, output_paused_);
  if (paused == output_paused_) return;
  output_paused_ = paused;
  // Resumed, the sockets are read in the order they start reading again (libuv adds them to epoll
  // in that order, and a ready one is reported in that order), and the first read can fill the
  // local output and pause everyone again. So the first host to resume turns round: always the
  // same one would starve the others for as long as it has output (one host flooding `yes`
  // into a slow reader kept every other host's lines back for good).
  const size_t n = hosts_.size();
  if (n == 0) return;
  const size_t first = paused ? 0 : resume_turn_++ % n;
  for (size_t i = 0; i < n; ++i) {
    Host& h = *hosts_[(first + i) % n];
    if (h.phase == Host::Phase::Running && h.exec) h.exec->setOutputPaused(paused);
  }
}

void Fanout::drawProgress() {
  if (finished_ || (progress_shown_ && !progress_dirty_)) return;
  progress_dirty_ = false;
  progress_shown_ = true;
  stderr_.write(fmt::format("\r\033[K[done {}/{}, failed {}, running {}, left {}]", done_, hosts_.size(),
                            failed_, running_, hosts_.size() - next_));
}

void Fanout::clearProgress() {
  if (!progress_shown_) return;
  progress_shown_ = false;
  progress_dirty_ = true;
  stderr_.write("\r\033[K");
}

void Fanout::maybeFinish() {
  if (done_ == hosts_.size() && !finished_ && (!masters_ || masters_->starting() == 0)) finishRun();
}

void Fanout::finishRun() {
  clearProgress();
  finished_ = true;
  if (progress_) uv_close(reinterpret_cast<uv_handle_t*>(&progress_timer_), nullptr);
  for (uv_signal_t* s : {&sig_int_, &sig_term_, &sig_hup_})
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(s)))
      uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
  std::vector<HostRecord> records;
  records.reserve(hosts_.size());
  for (auto& hp : hosts_) records.push_back(hp->record);
  if (options_.gather) {
    std::vector<std::string> labels;
    labels.reserve(hosts_.size());
    for (auto& hp : hosts_) labels.push_back(hp->target.label);
    std::string out, err;
    renderGroups(groups_, labels, out, err);
    stdout_.write(out);
    stderr_.write(err);
  }
  stderr_.write(summaryText(records));
  exit_status_ = fanoutExitStatus(records);
  if (interrupted_by_ != 0 && exit_status_ != kExitFailure)
    exit_status_ = std::max(exit_status_, 128 + interrupted_by_);
  stdout_.close([] {});
  stderr_.close([] {});
}

}  // namespace rx
