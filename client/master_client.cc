#include "client/master_client.h"

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

#include "client/client_session.h"
#include "client/control_socket.h"
#include "client/local_output.h"
#include "client/master.h"
#include "client/master_log.h"
#include "common/encoding.h"
#include "common/limits.h"
#include "common/owned_write.h"
#include "common/pty_request.h"
#include "common/signal_names.h"

namespace rx {
namespace {

using rxpb::v1::Frame;

// Local reads: a stdin chunk is at most kMaxChunk; smaller reads only mean more of them.
constexpr size_t kReadSize = 64 * 1024;

}  // namespace

MasterClient::MasterClient(uv_loop_t* loop, Master& master) : loop_(loop), master_(master) {
  uv_pipe_init(loop_, &pipe_, 0);
  uv_timer_init(loop_, &kill_timer_);
  pipe_.data = kill_timer_.data = this;
  open_handles_ = 2;
}

size_t MasterClient::maxPayload() const { return kMaxFramePostAuth; }

bool MasterClient::accept(uv_stream_t* server, std::string_view greeting) {
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&pipe_)) != 0) {
    leave();
    return false;
  }
  uv_os_fd_t fd = -1;
  std::string who;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&pipe_), &fd) != 0 || !peerIsThisUser(fd, who)) {
    // Only this user may use the connection this user authenticated (the socket's mode says the
    // same; this holds even if someone loosened it).
    masterSay(fmt::format("master: refused a local connection from {}: not this user", who));
    leave();
    return false;
  }
  write(greeting);
  updateReading();
  return true;
}

void MasterClient::updateReading() {
  // While closing gracefully, read on (and drop) until the client's end of file.
  const bool want = !peer_gone_ && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&pipe_)) &&
                    (socket_closing_ || (!read_paused_ && held_.empty()));
  if (want == reading_) return;
  reading_ = want;
  if (!want) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&pipe_));
    return;
  }
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&pipe_),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* c = static_cast<MasterClient*>(h->data);
        if (!c->read_buffer_) c->read_buffer_.reset(new char[kReadSize]);
        *buf = uv_buf_init(c->read_buffer_.get(), kReadSize);
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        static_cast<MasterClient*>(s->data)->onRead(nread, buf);
      });
}

void MasterClient::setReadPaused(bool paused) {
  read_paused_ = paused;
  updateReading();
}

void MasterClient::onRead(ssize_t nread, const uv_buf_t* buf) {
  if (nread == 0) return;
  if (nread < 0) {
    peer_gone_ = true;
    reading_ = false;  // libuv stops reading at end of file
    if (socket_closing_)
      closeHandle(reinterpret_cast<uv_handle_t*>(&pipe_));
    else
      leave();  // the local rexec ended (or died): its command must not outlive it
    return;
  }
  if (socket_closing_) return;  // lingering: dropped
  reader_.feed(std::string_view(buf->base, static_cast<size_t>(nread)), *this);
}

void MasterClient::onError(const std::string& error) { refuse("protocol error: " + error); }

void MasterClient::onFrame(Frame& frame) {
  if (result_in_) return;  // the command is over: late stdin or signals mean nothing now
  if (remote_id_ == 0) {
    if (frame.msg_case() != Frame::kExecRequest || frame.exec_request().exec_id() != ClientSession::kExecId) {
      refuse("protocol error: expected the command's ExecRequest");
      return;
    }
    // What the server would take as a protocol error ends the whole shared connection: checked
    // here, so that it ends this client alone.
    const uint64_t features = master_.features();
    if (frame.exec_request().shell() && !(features & rxpb::v1::FEATURE_SHELL)) {
      refuse("the server does not offer shell mode");
      return;
    }
    if (frame.exec_request().has_pty() && !(features & rxpb::v1::FEATURE_PTY)) {
      refuse("the server does not offer terminals");
      return;
    }
    remote_id_ = master_.startCommand(*this, frame);
    return;
  }
  // The client's id (always kExecId) becomes the command's id on the shared connection.
  uint32_t id = 0;
  switch (frame.msg_case()) {
    case Frame::kStdinData:
      if (stdin_closed_) return;
      id = frame.stdin_data().exec_id();
      frame.mutable_stdin_data()->set_exec_id(remote_id_);
      break;
    case Frame::kStdinClose:
      if (stdin_closed_) return;
      id = frame.stdin_close().exec_id();
      frame.mutable_stdin_close()->set_exec_id(remote_id_);
      break;
    case Frame::kSignal:
      if (!signalFromName(frame.signal().name())) {
        refuse(fmt::format("unknown signal {}", printableText(frame.signal().name().substr(0, 32))));
        return;
      }
      if (!(master_.features() & rxpb::v1::FEATURE_SIGNALS)) return;
      id = frame.signal().exec_id();
      frame.mutable_signal()->set_exec_id(remote_id_);
      break;
    case Frame::kWindowChange:
      if (Status s = checkWindowSize(frame.window_change().size()); !s) {
        refuse("invalid window change: " + s.message());
        return;
      }
      if (!(master_.features() & rxpb::v1::FEATURE_PTY)) return;
      id = frame.window_change().exec_id();
      frame.mutable_window_change()->set_exec_id(remote_id_);
      break;
    default:
      refuse(fmt::format("protocol error: unexpected message type {}", static_cast<int>(frame.msg_case())));
      return;
  }
  if (id != ClientSession::kExecId) {
    refuse(fmt::format("protocol error: unknown command {}", id));
    return;
  }
  if (frame.has_stdin_data() || frame.has_stdin_close()) {
    stdin_closed_ = frame.has_stdin_close();
    sendStdin(std::move(frame));  // in order, within the stdin window
    return;
  }
  master_.sendToServer(frame);
}

void MasterClient::sendStdin(Frame frame) {
  held_.push_back(std::move(frame));
  sendHeldStdin();
}

void MasterClient::sendHeldStdin() {
  const bool credit = master_.features() & rxpb::v1::FEATURE_CREDIT;
  while (!held_.empty()) {
    Frame& f = held_.front();
    if (f.has_stdin_data()) {
      const uint64_t size = f.stdin_data().data().size();
      // A frame that does not fit waits for acknowledgements (the server sends one whenever the
      // command has taken all it was given, so it never waits for good).
      if (credit && stdin_outstanding_ + size > kStdinWindow) break;
      stdin_outstanding_ += size;
    }
    master_.sendToServer(f);
    held_.pop_front();
  }
  updateReading();
}

void MasterClient::onStdinAck(uint64_t bytes) {
  stdin_outstanding_ -= std::min(bytes, stdin_outstanding_);
  sendHeldStdin();
}

void MasterClient::write(std::string_view bytes) { send(bytes, false); }

void MasterClient::writeOutput(std::string_view data) { send(data, true); }

void MasterClient::send(std::string_view bytes, bool output) {
  if (bytes.empty()) return;
  if (socket_closing_) {
    if (output) consumed(bytes.size());  // nobody to read it: it must not hold the command up
    return;
  }
  size_t written = 0;
  const int err =
      writeBorrowed(reinterpret_cast<uv_stream_t*>(&pipe_), bytes, written, [this, output](int, size_t n) {
        queued_ -= n;
        if (output) consumed(n);
        updateFull();
      });
  if (err != 0) {
    if (output) consumed(bytes.size());
    leave();
    return;
  }
  queued_ += bytes.size() - written;
  if (output) consumed(written);
  updateFull();
}

void MasterClient::consumed(size_t bytes) {
  // An acknowledgement every kCreditAckStep: well inside the server's window, so a client that
  // keeps reading never sees its command paused, and a small output costs no frame at all.
  unacked_ += bytes;
  if (unacked_ < kCreditAckStep || remote_id_ == 0 || result_in_ ||
      !(master_.features() & rxpb::v1::FEATURE_CREDIT))
    return;
  Frame f;
  f.mutable_output_ack()->set_exec_id(remote_id_);
  f.mutable_output_ack()->set_bytes(unacked_);
  unacked_ = 0;
  master_.sendToServer(f);
}

void MasterClient::updateFull() {
  const bool full = !socket_closing_ && localOutputShouldPause(queued_, full_);
  if (full == full_) return;
  full_ = full;
  master_.onClientFull(full);
}

void MasterClient::finishWith(std::string_view result_frame) {
  result_in_ = true;
  write(result_frame);
  closeHandle(reinterpret_cast<uv_handle_t*>(&kill_timer_));
  closeSocket(true);
}

void MasterClient::end(const std::string& message) {
  result_in_ = true;
  Frame f;
  f.mutable_error()->set_message(message);
  write(encodeFrame(f));
  closeHandle(reinterpret_cast<uv_handle_t*>(&kill_timer_));
  // At once: a client that does not read must not keep the master from exiting.
  closeSocket(false);
}

void MasterClient::refuse(const std::string& message) {
  Frame f;
  f.mutable_error()->set_message("master: " + message);
  write(encodeFrame(f));
  leave();
}

void MasterClient::leave() {
  if (socket_closing_) return;
  held_.clear();  // stdin of a client that has gone: nobody wants it delivered now
  if (remote_id_ != 0 && !result_in_) {
    // Stopped as rexecd stops the commands of a lost connection: stdin closed, TERM (and CONT,
    // for a stopped one), KILL after the grace unless the result came first.
    if (!stdin_closed_) {
      stdin_closed_ = true;
      Frame f;
      f.mutable_stdin_close()->set_exec_id(remote_id_);
      master_.sendToServer(f);
    }
    if (master_.features() & rxpb::v1::FEATURE_SIGNALS) {
      for (const char* name : {"TERM", "CONT"}) {
        Frame f;
        f.mutable_signal()->set_exec_id(remote_id_);
        f.mutable_signal()->set_name(name);
        master_.sendToServer(f);
      }
      uv_timer_start(
          &kill_timer_,
          [](uv_timer_t* t) {
            auto* c = static_cast<MasterClient*>(t->data);
            Frame f;
            f.mutable_signal()->set_exec_id(c->remote_id_);
            f.mutable_signal()->set_name("KILL");
            c->master_.sendToServer(f);
          },
          kKillGraceMs, 0);
    }
  } else {
    closeHandle(reinterpret_cast<uv_handle_t*>(&kill_timer_));
  }
  closeSocket(true);
}

void MasterClient::closeSocket(bool graceful) {
  auto* handle = reinterpret_cast<uv_handle_t*>(&pipe_);
  if (uv_is_closing(handle)) return;
  const bool was_closing = socket_closing_;
  socket_closing_ = true;
  updateFull();
  if (!graceful) {
    closeHandle(handle);
    return;
  }
  if (was_closing) return;  // a graceful close is under way
  updateReading();
  auto* req = new uv_shutdown_t;
  req->data = this;
  if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&pipe_), [](uv_shutdown_t* r, int status) {
        auto* c = static_cast<MasterClient*>(r->data);
        delete r;
        // Written; the client's end of file closes it (onRead), unless that came already.
        if (status != 0 || c->peer_gone_) c->closeHandle(reinterpret_cast<uv_handle_t*>(&c->pipe_));
      }) != 0) {
    delete req;
    closeHandle(handle);
  }
}

void MasterClient::closeHandle(uv_handle_t* handle) {
  if (uv_is_closing(handle)) return;
  uv_close(handle, [](uv_handle_t* h) {
    auto* c = static_cast<MasterClient*>(h->data);
    if (--c->open_handles_ == 0) c->master_.onClientClosed(*c);  // frees it
  });
}

}  // namespace rx
