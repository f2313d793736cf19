#pragma once
// One local `rexec -S PATH HOST cmd` connected to a master (client/master.h): its one command,
// relayed over the master's shared connection under an id the master picks. It owns its socket
// and a timer; the master frees it once both are closed and the command's result has come (a
// client that leaves early still has its command stopped: TERM, then KILL after a grace, as
// rexecd does for a lost connection).
#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
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
  // local socket takes it (FEATURE_CREDIT), or at once when the client has gone.
  void writeOutput(std::string_view data);
  // The command's result (its frame as the client gets it): written, and the command is over.
  void finishWith(std::string_view result_frame);
  // The master's connection ended: an Error frame with `message`, then close.
  void end(const std::string& message);
  // Stdin back-pressure from the shared connection.
  void setReadPaused(bool paused);
  // FEATURE_CREDIT: the server is done with `bytes` more of this command's stdin.
  void onStdinAck(uint64_t bytes);

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
  // graceful: what is queued is written first (the result, an error), then our side is shut
  // down and what the client still sends is read and dropped until its end of file: closing at
  // once could fail the client's last write (its end of stdin, say) with EPIPE before it has read
  // the result, and it would report a lost connection instead (as rexecd's lingering close). Not
  // graceful: at once.
  void closeSocket(bool graceful);
  // write() and writeOutput(): `output` counts the bytes as command output the socket took.
  void send(std::string_view bytes, bool output);
  void updateFull();
  void consumed(size_t bytes);
  // Stdin and its end go to the server in order, and within the command's stdin window
  // (FEATURE_CREDIT); what does not fit waits in held_, and the client is not read meanwhile.
  void sendStdin(rxpb::v1::Frame frame);
  void sendHeldStdin();
  void closeHandle(uv_handle_t* handle);

  uv_loop_t* loop_;
  Master& master_;
  uv_pipe_t pipe_{};
  uv_timer_t kill_timer_{};
  int open_handles_ = 0;
  bool socket_closing_ = false;
  bool peer_gone_ = false;  // end of file (or an error) from the client
  bool read_paused_ = false;
  bool reading_ = false;
  DataFrameReader reader_{peekStdinFrameHeader};
  uint32_t remote_id_ = 0;  // the command's id on the shared connection; 0 before its request
  bool result_in_ = false;
  bool stdin_closed_ = false;
  size_t queued_ = 0;
  bool full_ = false;               // its output queue is over the mark (Master::onClientFull)
  uint64_t unacked_ = 0;            // output data the socket took that the server has not heard of yet
  uint64_t stdin_outstanding_ = 0;  // stdin sent to the server and not yet acknowledged
  std::deque<rxpb::v1::Frame> held_;
  // Allocated at the first read, and not zero-filled: a std::string resized to 64 KiB cleared it
  // for every command (8% of the master's CPU at 50 commands in parallel, perf).
  std::unique_ptr<char[]> read_buffer_;
};

}  // namespace rx
