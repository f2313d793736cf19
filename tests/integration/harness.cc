#include "tests/integration/harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>

#include "common/auth_proof.h"
#include "common/frame_codec.h"
#include "common/limits.h"
#include "common/tls_engine.h"

extern char** environ;

namespace rxtest {
namespace {

std::string hex(const unsigned char* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s.push_back(d[p[i] >> 4]);
    s.push_back(d[p[i] & 15]);
  }
  return s;
}

int pidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

// Waits until `pid` exits or the timeout passes, without polling in a loop: a pidfd becomes
// readable when the process exits.
bool waitExit(pid_t pid, std::chrono::milliseconds timeout) {
  const int fd = pidfdOpen(pid);
  if (fd < 0) return true;  // already reaped
  pollfd p{fd, POLLIN, 0};
  const int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
  ::close(fd);
  return r > 0;
}

pid_t spawn(const std::vector<std::string>& argv, int in_fd, int out_fd, int err_fd,
            const std::vector<std::string>& extra_env = {}, int fd3 = -1, int fd9 = -1) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
  posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
  if (fd3 >= 0) posix_spawn_file_actions_adddup2(&fa, fd3, 3);
  if (fd9 >= 0) posix_spawn_file_actions_adddup2(&fa, fd9, 9);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) env_store.push_back(*e);
  for (auto& e : extra_env) env_store.push_back(e);
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const int err = posix_spawn(&pid, args[0], &fa, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (err != 0) throw std::runtime_error("posix_spawn " + argv[0] + ": " + std::strerror(err));
  return pid;
}

void makePipe(int fds[2]) {
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
}

}  // namespace

std::string rexecPath() { return REXEC_PATH; }
std::string rexecdPath() { return REXECD_PATH; }
std::string keygenPath() { return REXEC_KEYGEN_PATH; }

std::string sha256Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  return hex(md, n);
}

// ---------------------------------------------------------------- Subprocess

Subprocess::Subprocess(std::vector<std::string> argv, Options options) : options_(std::move(options)) {
  int in[2], out[2], err[2];
  makePipe(in);
  if (options_.stdin_pipe_size > 0 && fcntl(in[1], F_SETPIPE_SZ, options_.stdin_pipe_size) < 0)
    throw std::runtime_error(std::string("F_SETPIPE_SZ: ") + std::strerror(errno));
  makePipe(out);
  makePipe(err);
  makePipe(wake_fd_);
  pid_ = spawn(argv, in[0], out[1], err[1]);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  in_fd_ = in[1];
  out_fd_ = out[0];
  err_fd_ = err[0];
  for (int fd : {in_fd_, out_fd_, err_fd_, wake_fd_[0]}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  stdout_paused_ = options_.pause_stdout;
  close_stdin_ = !options_.keep_stdin_open;
  if (options_.hash_stdout) {
    auto* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    sha_ctx_ = ctx;
  }
  thread_ = std::thread([this] { pump(); });
}

Subprocess::~Subprocess() {
  if (!reaped_) {
    ::kill(pid_, SIGKILL);
    wait(30s);
  }
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  if (wake_fd_[1] >= 0) (void)!::write(wake_fd_[1], "x", 1);
  if (thread_.joinable()) thread_.join();
  for (int fd : {in_fd_, out_fd_, err_fd_, wake_fd_[0], wake_fd_[1]})
    if (fd >= 0) ::close(fd);
  if (sha_ctx_) EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(sha_ctx_));
}

void Subprocess::pump() {
  size_t in_off = 0;
  std::vector<char> buf(1 << 16);
  for (;;) {
    bool paused, want_close_stdin;
    {
      std::lock_guard lock(mu_);
      if (stop_ || (out_closed_ && err_closed_)) break;
      paused = stdout_paused_;
      want_close_stdin = close_stdin_;
    }
    if (in_fd_ >= 0 && in_off == options_.stdin_data.size() && want_close_stdin) {
      ::close(in_fd_);
      in_fd_ = -1;
    }
    pollfd fds[4];
    int n = 0;
    const int wake_i = n;
    fds[n++] = {wake_fd_[0], POLLIN, 0};
    int in_i = -1, out_i = -1, err_i = -1;
    if (in_fd_ >= 0 && in_off < options_.stdin_data.size()) {
      in_i = n;
      fds[n++] = {in_fd_, POLLOUT, 0};
    }
    if (!out_closed_ && !paused) {
      out_i = n;
      fds[n++] = {out_fd_, POLLIN, 0};
    }
    if (!err_closed_) {
      err_i = n;
      fds[n++] = {err_fd_, POLLIN, 0};
    }
    if (::poll(fds, n, -1) < 0 && errno != EINTR) break;
    if (fds[wake_i].revents) {
      char tmp[64];
      while (::read(wake_fd_[0], tmp, sizeof tmp) > 0) {
      }
    }
    if (in_i >= 0 && fds[in_i].revents) {
      const ssize_t w =
          ::write(in_fd_, options_.stdin_data.data() + in_off, options_.stdin_data.size() - in_off);
      if (w > 0) {
        in_off += static_cast<size_t>(w);
      } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        ::close(in_fd_);  // the reader is gone
        in_fd_ = -1;
      }
    }
    for (int idx : {out_i, err_i}) {
      if (idx < 0 || !fds[idx].revents) continue;
      const bool is_out = idx == out_i;
      const ssize_t r = ::read(fds[idx].fd, buf.data(), buf.size());
      std::lock_guard lock(mu_);
      if (r > 0) {
        if (is_out) {
          out_bytes_ += static_cast<uint64_t>(r);
          if (sha_ctx_)
            EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(sha_ctx_), buf.data(), static_cast<size_t>(r));
          else
            out_.append(buf.data(), static_cast<size_t>(r));
        } else {
          err_.append(buf.data(), static_cast<size_t>(r));
        }
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        (is_out ? out_closed_ : err_closed_) = true;
      }
      cv_.notify_all();
    }
  }
  std::lock_guard lock(mu_);
  cv_.notify_all();
}

bool Subprocess::waitForStdout(const std::string& needle, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return out_.find(needle) != std::string::npos || out_closed_; }) &&
         out_.find(needle) != std::string::npos;
}

bool Subprocess::waitForStderr(const std::string& needle, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return err_.find(needle) != std::string::npos || err_closed_; }) &&
         err_.find(needle) != std::string::npos;
}

void Subprocess::closeStdin() {
  {
    std::lock_guard lock(mu_);
    close_stdin_ = true;
  }
  (void)!::write(wake_fd_[1], "x", 1);
}

void Subprocess::resumeStdout() {
  {
    std::lock_guard lock(mu_);
    stdout_paused_ = false;
  }
  (void)!::write(wake_fd_[1], "x", 1);
}

void Subprocess::signal(int signo) {
  if (!reaped_) ::kill(pid_, signo);
}

Subprocess::Result Subprocess::wait(std::chrono::milliseconds timeout) {
  if (reaped_) return result_;
  if (!waitExit(pid_, timeout)) {
    ADD_FAILURE() << "process " << pid_ << " did not exit within " << timeout.count() << " ms; killing it";
    ::kill(pid_, SIGKILL);
  }
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  {
    // The child is gone; its pipes reach EOF unless a grandchild holds them.
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return out_closed_ && err_closed_; }))
      ADD_FAILURE() << "output pipes of " << pid_ << " still open after it exited";
    result_.out = out_;
    result_.err = err_;
    result_.out_bytes = out_bytes_;
    if (sha_ctx_) {
      unsigned char md[EVP_MAX_MD_SIZE];
      unsigned int n = 0;
      EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(sha_ctx_), md, &n);
      result_.out_sha256 = hex(md, n);
    }
  }
  if (WIFEXITED(status)) result_.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result_.term_signal = WTERMSIG(status);
  return result_;
}

Subprocess::Result run(std::vector<std::string> argv, Subprocess::Options options) {
  Subprocess p(std::move(argv), std::move(options));
  return p.wait();
}

// ---------------------------------------------------------------- files

TempDir::TempDir() {
  char tmpl[] = "/tmp/rexec-test-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  // Only our own folder, which holds no subfolders we did not make.
  run({"/bin/rm", "-rf", "--one-file-system", path_});
}

std::string makeKey(const std::string& path, const std::string& comment, const std::string& type) {
  auto r = run({keygenPath(), "-f", path, "-C", comment, "-t", type}, {});
  if (r.exit_code != 0) throw std::runtime_error("rexec-keygen failed: " + r.err);
  return r.out;
}

void writeFile(const std::string& path, const std::string& contents, int mode) {
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << contents;
  }
  ::chmod(path.c_str(), static_cast<mode_t>(mode));
}

std::string readFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// ---------------------------------------------------------------- Daemon

Daemon::Daemon(const std::string& authorized_keys, const std::string& dir, Options options) {
  static int counter = 0;
  const std::string port_file = dir + "/port." + std::to_string(++counter);
  std::vector<std::string> argv{rexecdPath(),    "--listen",    options.listen,    "--authorized-keys",
                                authorized_keys, "--host-key",  dir + "/host_key", "--port-file",
                                port_file,       "--log-level", options.log_level};
  // Never the machine's own /etc/rexecd/rexecd.conf: an empty config unless the test brings one.
  if (std::find(options.extra_args.begin(), options.extra_args.end(), "--config") ==
      options.extra_args.end()) {
    argv.push_back("--config");
    argv.push_back("/dev/null");
  }
  for (auto& a : options.extra_args) argv.push_back(a);
  if (options.activation_fd >= 0) {
    // Socket activation as systemd does it: fd 3, LISTEN_FDS=1, LISTEN_PID = the daemon's own
    // pid, which only a shell that then execs the daemon can know.
    argv.erase(argv.begin() + 1, argv.begin() + 3);  // no --listen
    std::string cmd = "LISTEN_PID=$$ LISTEN_FDS=1 exec";
    for (auto& a : argv) cmd += " '" + a + "'";
    argv = {"/bin/sh", "-c", cmd};
  }
  int err[2];
  makePipe(err);
  const int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  pid_ = spawn(argv, devnull, devnull, err[1], options.env, options.activation_fd, options.stray_fd);
  ::close(devnull);
  ::close(err[1]);
  err_fd_ = err[0];
  reader_ = std::thread([this] { readLog(); });
  const auto ready = waitForLog({"rexecd ready"});
  if (!ready) {
    for (auto& l : logLines()) fprintf(stderr, "rexecd: %s\n", l.c_str());
    throw std::runtime_error("rexecd did not become ready");
  }
  fingerprint_ = ready->substr(ready->find("SHA256:"));
  std::istringstream ports(readFile(port_file));
  for (int p; ports >> p;) ports_.push_back(static_cast<uint16_t>(p));
  if (ports_.empty()) throw std::runtime_error("rexecd wrote no port");
  port_ = ports_[0];
}

Daemon::~Daemon() {
  if (!exited_) stop();
  if (reader_.joinable()) reader_.join();
  if (err_fd_ >= 0) ::close(err_fd_);
}

void Daemon::readLog() {
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(err_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    std::lock_guard lock(mu_);
    if (n <= 0) {
      eof_ = true;
      cv_.notify_all();
      return;
    }
    partial_.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = partial_.find('\n')) != std::string::npos) {
      lines_.push_back(partial_.substr(0, nl));
      partial_.erase(0, nl + 1);
    }
    cv_.notify_all();
  }
}

pid_t startedPid(Daemon& d, const std::string& marker) {
  std::vector<std::string> needles = {"started pid"};
  if (!marker.empty()) needles.push_back(marker);
  const auto line = d.waitForLog(needles);
  if (!line) return -1;
  return static_cast<pid_t>(std::stol(line->substr(line->find("started pid ") + 12)));
}

std::optional<std::string> Daemon::waitForLog(const std::vector<std::string>& needles,
                                              std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  std::optional<std::string> found;
  size_t checked = 0;
  cv_.wait_for(lock, timeout, [&] {
    for (; checked < lines_.size(); ++checked) {
      bool all = true;
      for (auto& n : needles) all = all && lines_[checked].find(n) != std::string::npos;
      if (all) {
        found = lines_[checked];
        return true;
      }
    }
    return eof_;
  });
  return found;
}

bool Daemon::waitForLogState(const std::function<bool(const std::vector<std::string>&)>& done,
                             std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return done(lines_) || eof_; });
  return done(lines_);
}

std::vector<std::string> Daemon::logLines() {
  std::lock_guard lock(mu_);
  return lines_;
}

size_t Daemon::countLog(const std::string& needle) {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (auto& l : lines_) n += l.find(needle) != std::string::npos;
  return n;
}

int Daemon::stop(std::chrono::milliseconds timeout) {
  if (exited_) return exit_status_;
  ::kill(pid_, SIGTERM);
  return waitExit(timeout);
}

int Daemon::waitExit(std::chrono::milliseconds timeout) {
  if (exited_) return exit_status_;
  if (!rxtest::waitExit(pid_, timeout)) {
    ADD_FAILURE() << "rexecd did not stop within " << timeout.count() << " ms after SIGTERM";
    ::kill(pid_, SIGKILL);
  }
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exited_ = true;
  exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return exit_status_;
}

void Daemon::kill9() {
  if (exited_) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exited_ = true;
  exit_status_ = -1;
}

// ---------------------------------------------------------------- /proc

std::vector<ProcInfo> processes() {
  std::vector<ProcInfo> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    const std::string base = std::string("/proc/") + e->d_name;
    const std::string stat = readFile(base + "/stat");
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    ProcInfo p{};
    p.pid = std::atoi(e->d_name);
    std::istringstream rest(stat.substr(close + 2));
    rest >> p.state >> p.ppid >> p.pgid;
    p.cmdline = readFile(base + "/cmdline");
    for (char& c : p.cmdline)
      if (c == '\0') c = ' ';
    out.push_back(p);
  }
  ::closedir(d);
  return out;
}

bool waitGroupGone(pid_t pgid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  // Bounded: a group being killed cannot grow for long.
  for (int round = 0; round < 100; ++round) {
    std::vector<pid_t> alive;
    for (const auto& p : processes())
      if (p.pgid == pgid && p.state != 'Z' && p.state != 'X') alive.push_back(p.pid);
    if (alive.empty()) return true;
    for (pid_t pid : alive) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0 || !waitExit(pid, left)) return false;
    }
  }
  return false;
}

bool waitProcessGone(pid_t pid, std::chrono::milliseconds timeout) { return waitExit(pid, timeout); }

static std::optional<long> statusField(pid_t pid, const std::string& field) {
  std::istringstream in(readFile("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  return std::nullopt;
}

std::optional<long> rssKiB(pid_t pid) { return statusField(pid, "VmRSS"); }
std::optional<long> hwmKiB(pid_t pid) { return statusField(pid, "VmHWM"); }

// ---------------------------------------------------------------- sockets

int connectLoopback(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

TlsTestClient::TlsTestClient(uint16_t port)
    : fd_(connectLoopback(port)),
      ctx_(nullptr),
      engine_(nullptr),
      decoder_(new rx::FrameDecoder(rx::kMaxFramePostAuth)) {
  rx::SslCtxPtr ctx;
  if (rx::makeClientTlsContext(ctx)) {
    engine_ = new rx::TlsEngine(ctx.get(), rx::TlsEngine::Role::Client);
    ctx_ = ctx.release();
  }
}

TlsTestClient::~TlsTestClient() {
  delete static_cast<rx::FrameDecoder*>(decoder_);
  delete static_cast<rx::TlsEngine*>(engine_);
  SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
  if (fd_ >= 0) ::close(fd_);
}

bool TlsTestClient::readSome() {
  auto* tls = static_cast<rx::TlsEngine*>(engine_);
  char buf[65536];
  const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
  if (n <= 0) return false;
  if (!tls->feed(std::string_view(buf, static_cast<size_t>(n)), plain_)) return false;
  const std::string out = tls->takeOutput();
  if (!out.empty()) sendRaw(out);
  return true;
}

bool TlsTestClient::handshake() {
  auto* tls = static_cast<rx::TlsEngine*>(engine_);
  if (fd_ < 0 || !tls || !tls->start()) return false;
  sendRaw(tls->takeOutput());
  while (!tls->handshakeDone())
    if (!readSome()) return false;
  return true;
}

std::string TlsTestClient::channelBinding() const {
  return static_cast<rx::TlsEngine*>(engine_)->channelBinding();
}
std::string TlsTestClient::peerFingerprint() const {
  return static_cast<rx::TlsEngine*>(engine_)->peerKeyFingerprint();
}

bool TlsTestClient::send(const std::string& plain) {
  auto* tls = static_cast<rx::TlsEngine*>(engine_);
  return tls->write(plain) && sendRaw(tls->takeOutput());
}

bool TlsTestClient::sendRaw(const std::string& bytes) {
  return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

bool TlsTestClient::next(rxpb::v1::Frame& frame) {
  auto* dec = static_cast<rx::FrameDecoder*>(decoder_);
  for (;;) {
    if (!plain_.empty()) {
      dec->feed(plain_);
      plain_.clear();
    }
    const auto r = dec->next(frame);
    if (r == rx::FrameDecoder::Result::Frame) return true;
    if (r == rx::FrameDecoder::Result::Error) return false;
    if (!readSome()) return false;
  }
}

bool TlsTestClient::waitClosed(std::chrono::milliseconds timeout) {
  return readUntilClosed(fd_, timeout).second;
}

bool authenticateRaw(TlsTestClient& c, const rx::ClientKey& key, uint64_t features) {
  if (!c.handshake()) return false;
  rxpb::v1::Frame f;
  if (!c.next(f) || !f.has_auth_challenge()) return false;
  const std::string server_nonce = f.auth_challenge().server_nonce();
  const std::string client_nonce = rx::randomBytes(32);
  const std::string binding = c.channelBinding();
  // ProofInput holds views: every string it names lives to the end of this function.
  const rx::ProofInput in{server_nonce, client_nonce, binding, key.key_id};
  rxpb::v1::Frame a;
  auto* r = a.mutable_auth_response();
  r->set_protocol_version(rx::kProtocolVersion);
  r->set_features(features);
  r->set_key_id(key.key_id);
  r->set_client_nonce(client_nonce);
  r->set_proof(rx::clientProof(key, in));
  if (!c.send(rx::encodeFrame(a))) return false;
  if (!c.next(f) || !f.has_auth_result() || !f.auth_result().ok()) return false;
  return rx::checkServerProof(key, in, f.auth_result().server_proof());
}

std::string execFrame(uint32_t id, const std::vector<std::string>& argv, bool stdin_open) {
  rxpb::v1::Frame f;
  auto* r = f.mutable_exec_request();
  r->set_exec_id(id);
  for (const auto& a : argv) r->add_argv(a);
  r->set_stdin_open(stdin_open);
  return rx::encodeFrame(f);
}

std::pair<std::string, bool> readUntilClosed(int fd, std::chrono::milliseconds timeout) {
  std::string got;
  const auto deadline = Clock::now() + timeout;
  char buf[4096];
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (::poll(&p, 1, static_cast<int>(std::max<long>(left.count(), 0))) <= 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) return {got, true};
    if (n < 0) return {got, errno == ECONNRESET};
    got.append(buf, static_cast<size_t>(n));
  }
  return {got, false};
}

}  // namespace rxtest

namespace {
// A write to a pipe whose reader exited must fail with EPIPE, not kill the test binary.
const bool kIgnoreSigpipe = [] {
  ::signal(SIGPIPE, SIG_IGN);
  return true;
}();
}  // namespace
