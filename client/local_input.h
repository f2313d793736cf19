#pragma once
// The client's stdin, read as the remote command can take it: pipes, sockets and terminals
// through libuv streams; regular files and devices (/dev/null) with plain read() on the loop, as
// OpenSSH does (they never wait for a writer). A closed or unusable descriptor reads as empty.
#include <uv.h>

#include <functional>
#include <memory>
#include <string_view>

namespace rx {

class LocalInput {
 public:
  using DataFn = std::function<void(std::string_view)>;
  using EofFn = std::function<void()>;

  LocalInput(uv_loop_t* loop, int fd, DataFn on_data, EofFn on_eof);
  ~LocalInput();
  LocalInput(const LocalInput&) = delete;
  LocalInput& operator=(const LocalInput&) = delete;

  // Back-pressure: pause while the connection's queue is full. Starts paused. For a file, resume()
  // reads the first chunk at once, so that a short file (or /dev/null: its end of file) goes out
  // in the same write as the request.
  void pause();
  void resume();
  // Stops for good and releases the handle; `done` runs when it is safe to destroy this.
  void close(std::function<void()> done);

 private:
  enum class Kind { Stream, File, None };
  void startStream();
  void readFileChunk();
  void finish();

  int fd_;
  Kind kind_ = Kind::None;
  DataFn on_data_;
  EofFn on_eof_;
  bool paused_ = true;
  bool eof_ = false;
  bool closing_ = false;
  int saved_flags_ = -1;
  union {
    uv_pipe_t pipe;
    uv_tty_t tty;
    uv_idle_t idle;  // File: reads one chunk per loop iteration while running
  } handle_{};
  std::unique_ptr<char[]> buffer_;
  std::function<void()> on_closed_;
};

}  // namespace rx
