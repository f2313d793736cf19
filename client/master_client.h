#pragma once
// One local `rexec -S PATH HOST cmd` connected to a master (client/master.h): its one command,
// relayed over the master's shared connection under an id the master picks. It owns its socket
// and a timer; the master frees it once both are closed and the command's result has come (a
// client that leaves early still has its command stopped: TERM, then KILL after a grace, as
// rexecd does for a lost connection).
#include <uv.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/data_frame_reader.h"

namespace rx {

class Master;

class MasterClient final : private DataFrameReader::Sink {
 public:
  // How long a command whose client left has after TERM before KILL (rexecd's own grace).
  static constexpr uint64_t kKillGraceMs = 2000;

  MasterClient(uv_loop_t* loop, Master& master);
  MasterClient(const MasterClient&) = delete;
  MasterClient& operator=(const MasterClient&) = delete;

  // Takes the next connection from `server`, checks that its peer is this user, sends the
  // master's greeting and starts reading. False: refused (the object closes itself).
  bool accept(uv_stream_t* server, std::string_view greeting);

  // From the server, for this client's command, exec id already rewritten to the client's.
  void write(std::string_view bytes);
  // Output data (after its header went through write()): acknowledged to the server as the
  // local socket takes it (FEATURE_OUTPUT_CREDIT), or at once when the client has gone.
  void writeOutput(std::string_view data);
  // The command's result (its frame as the client gets it): written, and the command is over.
  void finishWith(std::string_view result_frame);
  // The master's connection ended: an Error frame with `message`, then close.
  void end(const std::string& message);
  // Stdin back-pressure from the shared connection.
  void setReadPaused(bool paused);

  uint32_t remoteId() const { return remote_id_; }
  // Both handles closed and the command (if any) over: the master may free it.
  bool closed() const { return open_handles_ == 0; }

 private:
  // DataFrameReader::Sink. Stdin comes as whole frames (never streamed): the master must not
  // put another client's frames in the middle of one on the shared connection.
  bool reading() const override { return !socket_closing_; }
  size_t maxPayload() const override;
  bool streamingData() const override { return false; }
  bool onDataHeader(const DataFrameHeader&) override { return false; }
  void onData(std::string_view, bool) override {}
  void onFrame(rxpb::v1::Frame& frame) override;
  void onError(const std::string& error) override;

  void onRead(ssize_t nread, const uv_buf_t* buf);
  void updateReading();
  // A local failure: the client hears `message` as a server error; its command is stopped.
  void refuse(const std::string& message);
  // The client is gone or refused: stop its command (if one runs) and close the socket.
  void leave();
  // graceful: what is queued is written first (the result, an error); else at once.
  void closeSocket(bool graceful);
  void updateFull();
  void consumed(size_t bytes);
  void closeHandle(uv_handle_t* handle);

  uv_loop_t* loop_;
  Master& master_;
  uv_pipe_t pipe_{};
  uv_timer_t kill_timer_{};
  int open_handles_ = 0;
  bool socket_closing_ = false;
  bool read_paused_ = false;
  bool reading_ = false;
  DataFrameReader reader_{peekStdinFrameHeader};
  uint32_t remote_id_ = 0;  // the command's id on the shared connection; 0 before its request
  bool result_in_ = false;
  bool stdin_closed_ = false;
  size_t queued_ = 0;
  bool full_ = false;     // its output queue is over the mark (Master::onClientFull)
  uint64_t unacked_ = 0;  // output data the socket took that the server has not heard of yet
  std::string read_buffer_;
};

}  // namespace rx
