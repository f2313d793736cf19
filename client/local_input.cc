#include "client/local_input.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/limits.h"

namespace rx {
namespace {
// One stdin chunk (kMaxChunk) per read.
constexpr size_t kBufferSize = kMaxChunk;
}  // namespace

LocalInput::LocalInput(uv_loop_t* loop, int fd, DataFn on_data, EofFn on_eof)
    : fd_(fd), on_data_(std::move(on_data)), on_eof_(std::move(on_eof)), buffer_(new char[kBufferSize]) {
  saved_flags_ = fcntl(fd, F_GETFL);
  const uv_handle_type type = saved_flags_ < 0 ? UV_UNKNOWN_HANDLE : uv_guess_handle(fd);
  if (type == UV_TTY && uv_tty_init(loop, &handle_.tty, fd, 1) == 0) {
    kind_ = Kind::Stream;
  } else if ((type == UV_NAMED_PIPE || type == UV_TCP) && uv_pipe_init(loop, &handle_.pipe, 0) == 0) {
    if (uv_pipe_open(&handle_.pipe, fd) == 0) {
      kind_ = Kind::Stream;
    } else {
      uv_close(reinterpret_cast<uv_handle_t*>(&handle_), nullptr);
      kind_ = Kind::None;
    }
  } else if (type == UV_FILE && uv_idle_init(loop, &handle_.idle) == 0) {
    // Not the thread pool: it cost four threads for one read of /dev/null in every `rexec host
    // true` run from a script.
    kind_ = Kind::File;
  }
  handle_.pipe.data = this;
}

LocalInput::~LocalInput() {
  if (saved_flags_ >= 0) fcntl(fd_, F_SETFL, saved_flags_);
}

void LocalInput::pause() {
  if (paused_ || eof_) return;
  paused_ = true;
  if (kind_ == Kind::Stream) uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
  if (kind_ == Kind::File) uv_idle_stop(&handle_.idle);
}

void LocalInput::resume() {
  if (!paused_ || eof_ || closing_) return;
  paused_ = false;
  switch (kind_) {
    case Kind::Stream:
      startStream();
      break;
    case Kind::File:
      readFileChunk();
      if (!paused_ && !eof_ && !closing_)
        uv_idle_start(&handle_.idle,
                      [](uv_idle_t* h) { static_cast<LocalInput*>(h->data)->readFileChunk(); });
      break;
    case Kind::None:
      finish();
      break;
  }
}

void LocalInput::startStream() {
  const int err = uv_read_start(
      reinterpret_cast<uv_stream_t*>(&handle_),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        *buf = uv_buf_init(static_cast<LocalInput*>(h->data)->buffer_.get(), kBufferSize);
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        auto* in = static_cast<LocalInput*>(s->data);
        if (nread > 0) {
          in->on_data_(std::string_view(buf->base, static_cast<size_t>(nread)));
        } else if (nread < 0) {
          // EOF or a read error: either way the remote command's stdin ends here.
          in->finish();
        }
      });
  if (err != 0) finish();
}

void LocalInput::readFileChunk() {
  ssize_t n;
  do {
    n = ::read(fd_, buffer_.get(), kBufferSize);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) return;  // someone else's non-blocking device: next iteration
  if (n <= 0) {
    finish();
    return;
  }
  on_data_(std::string_view(buffer_.get(), static_cast<size_t>(n)));
}

void LocalInput::finish() {
  if (eof_) return;
  eof_ = true;
  if (kind_ == Kind::Stream) uv_read_stop(reinterpret_cast<uv_stream_t*>(&handle_));
  if (kind_ == Kind::File) uv_idle_stop(&handle_.idle);
  on_eof_();
}

void LocalInput::close(std::function<void()> done) {
  if (closing_) return;
  closing_ = true;
  if (kind_ != Kind::None) {
    on_closed_ = std::move(done);
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_), [](uv_handle_t* h) {
      auto* in = static_cast<LocalInput*>(h->data);
      if (in->on_closed_) in->on_closed_();
    });
    return;
  }
  done();
}

}  // namespace rx
