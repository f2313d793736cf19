#pragma once
// Test harness for the real binaries: start rexecd on 127.0.0.1:0 and drive it with the real
// rexec. Waits are on events (a log line, bytes on a pipe, a process exit), each bounded by a
// deadline; nothing sleeps to synchronise.
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/key_file.h"
#include "rexec.pb.h"

namespace rxtest {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A child process with stdin/stdout/stderr on pipes, pumped by a thread.
class Subprocess {
 public:
  struct Options {
    std::string stdin_data;        // written, then stdin is closed (unless keep_stdin_open)
    bool keep_stdin_open = false;  // leave stdin open until closeStdin()
    bool pause_stdout = false;     // do not read stdout until resumeStdout()
    bool hash_stdout = false;      // keep only a SHA-256 and a count of stdout, not the bytes
    int stdin_pipe_size = 0;       // F_SETPIPE_SZ for the stdin pipe (0: the kernel's 64 KiB)
  };
  struct Result {
    int exit_code = -1;   // WEXITSTATUS, or -1 when killed by a signal
    int term_signal = 0;  // WTERMSIG, or 0
    std::string out;
    std::string err;
    uint64_t out_bytes = 0;
    std::string out_sha256;  // with hash_stdout
  };

  Subprocess(std::vector<std::string> argv, Options options);
  Subprocess(std::vector<std::string> argv) : Subprocess(std::move(argv), Options{}) {}
  ~Subprocess();  // kills the child (SIGKILL) if it still runs, then reaps it

  pid_t pid() const { return pid_; }
  // Waits until stdout contains `needle` (true) or the deadline passes / the child closed stdout.
  bool waitForStdout(const std::string& needle, std::chrono::milliseconds timeout = 60s);
  // The same for stderr.
  bool waitForStderr(const std::string& needle, std::chrono::milliseconds timeout = 60s);
  void closeStdin();
  void resumeStdout();
  void signal(int signo);
  // Waits for exit and the end of both output pipes; kills the child at the deadline.
  Result wait(std::chrono::milliseconds timeout = 300s);

 private:
  void pump();

  pid_t pid_ = -1;
  int in_fd_ = -1, out_fd_ = -1, err_fd_ = -1, wake_fd_[2] = {-1, -1};
  Options options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string out_, err_;
  uint64_t out_bytes_ = 0;
  void* sha_ctx_ = nullptr;
  std::string sha_;
  bool out_closed_ = false, err_closed_ = false;
  bool close_stdin_ = false, stdout_paused_ = false;
  bool stop_ = false;
  std::thread thread_;
  bool reaped_ = false;
  Result result_;
};

Subprocess::Result run(std::vector<std::string> argv, Subprocess::Options options = {});

// A private temporary folder, removed at the end.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Makes a key with the real rexec-keygen; returns the authorized-keys line.
std::string makeKey(const std::string& path, const std::string& comment = "test",
                    const std::string& type = "ed25519");
void writeFile(const std::string& path, const std::string& contents, int mode = 0600);
std::string readFile(const std::string& path);

// A real rexecd on 127.0.0.1 port 0, with its stderr (the log) collected line by line.
class Daemon {
 public:
  struct Options {
    std::vector<std::string> extra_args;
    std::string log_level = "debug";
    std::string listen = "127.0.0.1:0";
    std::vector<std::string> env;  // extra NAME=VALUE for the daemon's environment
    int activation_fd = -1;        // a listening socket handed over as systemd would (fd 3)
    int stray_fd = -1;             // inherited at fd 9 unannounced, as a careless launcher leaks one
  };
  Daemon(const std::string& authorized_keys, const std::string& dir, Options options);
  Daemon(const std::string& authorized_keys, const std::string& dir)
      : Daemon(authorized_keys, dir, Options{}) {}
  ~Daemon();  // SIGTERM, then SIGKILL if it does not stop in time

  uint16_t port() const { return port_; }
  // Every bound port, in the order of the --listen options (the first is port()).
  const std::vector<uint16_t>& ports() const { return ports_; }
  // The host key's fingerprint, from the daemon's "ready" log line.
  const std::string& fingerprint() const { return fingerprint_; }
  pid_t pid() const { return pid_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  // Waits for a log line containing every one of `needles`; returns it.
  std::optional<std::string> waitForLog(const std::vector<std::string>& needles,
                                        std::chrono::milliseconds timeout = 60s);
  std::vector<std::string> logLines();
  // Waits until `done` holds for the log lines so far; false at the deadline or the log's end.
  bool waitForLogState(const std::function<bool(const std::vector<std::string>&)>& done,
                       std::chrono::milliseconds timeout = 60s);
  size_t countLog(const std::string& needle);
  // SIGTERM and wait for the exit status (-1 when killed by a signal).
  int stop(std::chrono::milliseconds timeout = 30s);
  // Waits for an exit the test caused itself (it sent the signal); the exit status, -1 when killed.
  int waitExit(std::chrono::milliseconds timeout = 30s);
  void kill9();

 private:
  void readLog();
  pid_t pid_ = -1;
  int err_fd_ = -1;
  uint16_t port_ = 0;
  std::vector<uint16_t> ports_;
  std::string fingerprint_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  std::string partial_;
  bool eof_ = false;
  bool exited_ = false;
  int exit_status_ = -1;
  std::thread reader_;
};

// The pid the daemon logged ("started pid N ...") for the command whose log line also holds
// `marker` (any command when empty), once it is logged; -1 if it never is.
pid_t startedPid(Daemon& d, const std::string& marker = "");

// The memory bound the tests hold the daemon and client to: 64 MiB of RSS. Under ASan the same
// process carries a fixed extra weight (shadow memory, ASan's allocator, a 16 MiB quarantine), so
// the sanitizer build checks a bound of 160 MiB: still bounded, whatever the output size.
#ifdef REXEC_SANITIZE_BUILD
inline constexpr long kRssBoundKiB = 160 * 1024;
#else
inline constexpr long kRssBoundKiB = 64 * 1024;
#endif

// /proc helpers.
struct ProcInfo {
  pid_t pid;
  pid_t ppid;
  pid_t pgid;
  char state;
  std::string cmdline;  // NULs replaced by spaces
};
std::vector<ProcInfo> processes();
// Waits until no member of process group `pgid` is alive (zombies count as gone): each member
// still found is waited for through a pidfd, which becomes readable when it exits. A member can
// be dying (its pipes already closed) for a moment after the daemon has logged the group's end.
bool waitGroupGone(pid_t pgid, std::chrono::milliseconds timeout = 30s);
// Waits until process `pid` has exited (a zombie counts as gone).
bool waitProcessGone(pid_t pid, std::chrono::milliseconds timeout = 30s);
std::optional<long> rssKiB(pid_t pid);  // VmRSS
std::optional<long> hwmKiB(pid_t pid);  // VmHWM (peak RSS)

// A blocking TLS client over a loopback socket (the real TLS engine), for tests that speak the
// protocol themselves. Pins nothing: tests that need pinning use the real rexec.
class TlsTestClient {
 public:
  explicit TlsTestClient(uint16_t port);
  ~TlsTestClient();
  bool connected() const { return fd_ >= 0; }
  // Runs the handshake; false on failure.
  bool handshake();
  std::string channelBinding() const;
  std::string peerFingerprint() const;
  bool send(const std::string& plain);
  // Raw bytes straight onto the socket (to send garbage under or inside TLS).
  bool sendRaw(const std::string& bytes);
  // Next protocol frame from the server; false on close, error or timeout (30 s).
  bool next(rxpb::v1::Frame& frame);
  // Waits for the server to close the connection; true when it did within the timeout.
  bool waitClosed(std::chrono::milliseconds timeout = 30s);
  int fd() const { return fd_; }

 private:
  bool readSome();
  int fd_;
  void* ctx_;      // SSL_CTX*
  void* engine_;   // rx::TlsEngine*
  void* decoder_;  // rx::FrameDecoder*
  std::string plain_;
};

// The protocol's authentication with `key`, by hand, on a TlsTestClient (for tests the real
// client cannot serve: several commands on one connection, never reading, malformed requests).
// Runs the TLS handshake first; true when the server accepted and (HMAC) proved itself.
bool authenticateRaw(TlsTestClient& c, const rx::ClientKey& key,
                     uint64_t features = rxpb::v1::FEATURE_MULTI_EXEC | rxpb::v1::FEATURE_SIGNALS);
// An ExecRequest frame for argv mode.
std::string execFrame(uint32_t id, const std::vector<std::string>& argv, bool stdin_open = false);

// A connected TCP socket to 127.0.0.1:port with a receive timeout; -1 on failure.
int connectLoopback(uint16_t port);
// Reads until EOF or error or the deadline; returns what arrived and whether EOF was seen.
std::pair<std::string, bool> readUntilClosed(int fd, std::chrono::milliseconds timeout = 30s);

std::string sha256Hex(const std::string& data);
std::string rexecPath();
std::string rexecdPath();
std::string keygenPath();

}  // namespace rxtest
