#pragma once
// The client's stdout or stderr. Pipes and terminals are written through libuv so a slow reader
// (`| less`) pushes back instead of filling our memory; regular files and anything else get
// plain blocking writes, which are fast and never short.
#include <uv.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace rx {

// Back-pressure from our stdout and stderr to the sockets (one host and fan-out alike): the
// sockets stop reading once `queued` bytes wait for local output at the high mark, and start
// again below the low one. Returns whether reading should be paused now, given `paused`.
inline bool localOutputShouldPause(size_t queued, bool paused) {
  constexpr size_t kHighWater = 4 * 1024 * 1024;
  constexpr size_t kLowWater = 1024 * 1024;
  return queued >= (paused ? kLowWater : kHighWater);
}

class LocalOutput {
 public:
  LocalOutput(uv_loop_t* loop, int fd);
  ~LocalOutput();
  LocalOutput(const LocalOutput&) = delete;
  LocalOutput& operator=(const LocalOutput&) = delete;

  // Queues the bytes. Returns false once the output is broken (EPIPE and the like).
  bool write(std::string_view data);
  size_t queued() const { return queued_; }
  bool broken() const { return broken_; }
  // Called whenever queued() falls (a write completed).
  void setOnDrain(std::function<void()> cb) { on_drain_ = std::move(cb); }
  // Closes the libuv handle (if any) once everything queued is written; `done` runs after.
  void close(std::function<void()> done);

 private:
  void restoreFlags();

  int fd_;
  bool use_stream_ = false;
  bool broken_ = false;
  bool closing_ = false;
  int saved_flags_ = -1;
  union {
    uv_pipe_t pipe;
    uv_tty_t tty;
  } handle_{};
  size_t queued_ = 0;
  std::function<void()> on_drain_;
  std::function<void()> on_closed_;
};

}  // namespace rx
