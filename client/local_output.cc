#include "client/local_output.h"

#include "common/owned_write.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace rx {

LocalOutput::LocalOutput(uv_loop_t* loop, int fd) : fd_(fd) {
  const uv_handle_type type = uv_guess_handle(fd);
  saved_flags_ = fcntl(fd, F_GETFL);
  if (type == UV_TTY) {
    use_stream_ = uv_tty_init(loop, &handle_.tty, fd, 0) == 0;
  } else if (type == UV_NAMED_PIPE) {
    use_stream_ = uv_pipe_init(loop, &handle_.pipe, 0) == 0 && uv_pipe_open(&handle_.pipe, fd) == 0;
  }
  if (use_stream_) handle_.pipe.data = this;
}

LocalOutput::~LocalOutput() { restoreFlags(); }

void LocalOutput::restoreFlags() {
  // libuv made the descriptor non-blocking; others may share it (a shell's pipe), so put the
  // flags back as we found them.
  if (saved_flags_ >= 0) fcntl(fd_, F_SETFL, saved_flags_);
}

bool LocalOutput::write(std::string_view data) {
  if (broken_) return false;
  if (data.empty()) return true;
  if (!use_stream_) {
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        // Someone else's non-blocking descriptor: wait until it can take more.
        fd_set set;
        FD_ZERO(&set);
        FD_SET(fd_, &set);
        select(fd_ + 1, nullptr, &set, nullptr, nullptr);
        continue;
      }
      if (n <= 0) {
        broken_ = true;
        return false;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  size_t written = 0;
  const int err =
      writeBorrowed(reinterpret_cast<uv_stream_t*>(&handle_), data, written, [this](int status, size_t n) {
        queued_ -= n;
        if (status != 0) broken_ = true;
        if (on_drain_) on_drain_();
      });
  if (err != 0) {
    broken_ = true;
    return false;
  }
  queued_ += data.size() - written;
  return true;
}

void LocalOutput::close(std::function<void()> done) {
  if (closing_) return;
  closing_ = true;
  if (!use_stream_) {
    restoreFlags();
    done();
    return;
  }
  on_closed_ = std::move(done);
  // Closing cancels queued writes, so close only once they completed (or failed).
  auto finish = [this] {
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_), [](uv_handle_t* h) {
      auto* out = static_cast<LocalOutput*>(h->data);
      out->restoreFlags();
      if (out->on_closed_) out->on_closed_();
    });
  };
  if (queued_ == 0 || broken_) {
    finish();
    return;
  }
  on_drain_ = [this, finish] {
    if (queued_ == 0) finish();
  };
}

}  // namespace rx
