#include "client/background_masters.h"

#include <algorithm>

#include <fmt/format.h>

#include "client/known_hosts.h"

namespace rx {
namespace {

// A master's line is its own ("rexec: why"); here it is one host's among many.
constexpr std::string_view kOwnPrefix = "rexec: ";
// Longer lines are passed on in pieces: a master cannot make us hold unbounded memory.
constexpr size_t kMaxLine = 4096;

}  // namespace

struct BackgroundMasters::Starting {
  BackgroundMasters* owner;
  std::string label;
  uv_process_t process{};
  uv_pipe_t err{};    // the master's stderr, until it listens
  uv_pipe_t ready{};  // its fd 3: 'R' once it listens, then closed
  bool err_done = false;
  bool ready_done = false;
  bool settled = false;
  int handles = 3;  // not yet closed
  std::string partial;
  char buf[kMaxLine];

  void line(std::string_view text) {
    if (text.substr(0, kOwnPrefix.size()) == kOwnPrefix) text.remove_prefix(kOwnPrefix.size());
    owner->on_line_(fmt::format("rexec: {}: master: {}\n", label, text));
  }
  void onErr(ssize_t nread) {
    if (nread > 0) {
      partial.append(buf, static_cast<size_t>(nread));
      size_t nl;
      while ((nl = partial.find('\n')) != std::string::npos) {
        line(std::string_view(partial).substr(0, nl));
        partial.erase(0, nl + 1);
      }
      while (partial.size() >= kMaxLine) {
        line(std::string_view(partial).substr(0, kMaxLine));
        partial.erase(0, kMaxLine);
      }
      return;
    }
    if (nread == 0) return;
    if (!partial.empty()) line(partial);
    partial.clear();
    err_done = true;
    closePipe(err);
    maybeSettled();
  }
  void onReady(ssize_t nread) {
    if (nread >= 0) return;  // 'R' or 'S': what matters is that it is done starting
    ready_done = true;
    closePipe(ready);
    maybeSettled();
  }
  void closePipe(uv_pipe_t& pipe) {
    auto* h = reinterpret_cast<uv_handle_t*>(&pipe);
    if (!uv_is_closing(h)) uv_close(h, closed);
  }
  void maybeSettled() {
    if (settled || !err_done || !ready_done) return;
    settle();
  }
  // Stops watching: the master, started or not, goes on by itself (it is in a session of its own
  // and exits on its own; if it ends before this process, it is reaped when this one exits).
  void settle() {
    settled = true;
    closePipe(err);
    closePipe(ready);
    auto* h = reinterpret_cast<uv_handle_t*>(&process);
    if (!uv_is_closing(h)) uv_close(h, closed);
    owner->settled(*this);
  }
  static void closed(uv_handle_t* h) {
    auto* s = static_cast<Starting*>(h->data);
    if (--s->handles > 0) return;
    auto& live = s->owner->live_;
    live.erase(std::remove(live.begin(), live.end(), s), live.end());
    delete s;
  }
};

BackgroundMasters::BackgroundMasters(uv_loop_t* loop, double persist_s,
                                     std::vector<std::string> master_options,
                                     std::function<void(std::string_view)> on_line,
                                     std::function<void()> on_settled, std::string program)
    : loop_(loop),
      program_(std::move(program)),
      persist_(fmt::format("{}", persist_s)),
      master_options_(std::move(master_options)),
      on_line_(std::move(on_line)),
      on_settled_(std::move(on_settled)) {}

// Every master is closed by the time the loop has run out (Fanout::run), which frees it.
BackgroundMasters::~BackgroundMasters() = default;

void BackgroundMasters::start(const std::string& label, const std::string& path, const HostPort& target) {
  auto* s = new Starting{};
  s->owner = this;
  s->label = label;
  uv_pipe_init(loop_, &s->err, 0);
  uv_pipe_init(loop_, &s->ready, 0);
  s->process.data = s->err.data = s->ready.data = s;
  live_.push_back(s);

  std::vector<std::string> args = {"rexec", "-M", "-S", escapeControlPath(path), "--persist", persist_};
  args.insert(args.end(), master_options_.begin(), master_options_.end());
  // HOST as its known_hosts label ("[h]:p", or "h" on the default port): it parses back the same.
  args.insert(args.end(), {"--ready-fd", "3", "--", knownHostLabel(target.host, target.port)});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  uv_stdio_container_t stdio[4];
  stdio[0].flags = UV_IGNORE;  // /dev/null
  stdio[1].flags = UV_IGNORE;
  stdio[2].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[2].data.stream = reinterpret_cast<uv_stream_t*>(&s->err);
  stdio[3].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[3].data.stream = reinterpret_cast<uv_stream_t*>(&s->ready);
  uv_process_options_t options{};
  // This same program (/proc/self/exe), whatever name it was started by.
  options.file = program_.c_str();
  options.args = argv.data();
  options.stdio = stdio;
  options.stdio_count = 4;
  options.flags = UV_PROCESS_DETACHED;  // a session of its own: a Ctrl-C here is not for it
  options.exit_cb = [](uv_process_t*, int64_t, int) {};
  ++starting_;
  if (const int err = uv_spawn(loop_, &s->process, &options); err != 0) {
    on_line_(fmt::format("rexec: {}: cannot start a master: {}\n", label, uv_strerror(err)));
    s->settle();
    return;
  }
  // The master may outlive this run by hours: the loop does not wait for it to exit.
  uv_unref(reinterpret_cast<uv_handle_t*>(&s->process));
  auto alloc = [](uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* st = static_cast<Starting*>(h->data);
    *buf = uv_buf_init(st->buf, sizeof st->buf);
  };
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&s->err), alloc,
      [](uv_stream_t* h, ssize_t n, const uv_buf_t*) { static_cast<Starting*>(h->data)->onErr(n); });
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&s->ready), alloc,
      [](uv_stream_t* h, ssize_t n, const uv_buf_t*) { static_cast<Starting*>(h->data)->onReady(n); });
}

void BackgroundMasters::abandon() {
  const std::vector<Starting*> live = live_;
  for (Starting* s : live)
    if (!s->settled) s->settle();
}

void BackgroundMasters::settled(Starting&) {
  if (--starting_ == 0 && on_settled_) on_settled_();
}

std::string escapeControlPath(const std::string& path) {
  std::string out;
  for (char c : path) {
    out += c;
    if (c == '%') out += '%';
  }
  return out;
}

}  // namespace rx
