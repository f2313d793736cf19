#pragma once
// The daemon's side of one connection as a state machine over bytes: it consumes the client's
// bytes, produces frames for the client, and drives jobs through a Launcher. No sockets here, so
// tests and fuzzers can feed it directly.
//
// States: AwaitAuth (only AuthResponse is accepted, frames limited to kMaxFramePreAuth) ->
// Authenticated (ExecRequest, StdinData, StdinClose, Signal, WindowChange) -> Closing.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/data_frame_reader.h"
#include "common/frame_codec.h"
#include "common/ip_address.h"
#include "common/key_options.h"
#include "daemon/launcher.h"
#include "daemon/session_config.h"

namespace rx {

class SessionHost {
 public:
  virtual ~SessionHost() = default;
  // Bytes for the client, `then` right after `bytes` in the same write (a frame's header and its
  // data, which live apart); the host is done with both when this returns (the session reuses
  // its buffer, the job its read buffer).
  virtual void send(std::string_view bytes, std::string_view then) = 0;
  virtual size_t queuedBytes() const = 0;
  virtual void setReading(bool on) = 0;
  // The session is done: send what is queued, then close.
  virtual void closeAfterFlush() = 0;
  // The client proved its key (called before the session answers it).
  virtual void onAuthenticated() {}
  // The client's authentication failed (called before the session answers it, so whatever the
  // failure costs its source is in force by the time the client learns of it).
  virtual void onAuthenticationFailed() {}
  // No command is running any more, and everything the session had queued has been handed to
  // send(): the moment to give back what a stream made the connection's buffers grow to.
  virtual void onIdle() {}
};

class Session final : public JobObserver, private DataFrameReader::Sink {
 public:
  // `peer` names the client in logs; `peer_address` is its address for the keys' from= rules
  // (nullopt when unknown: then no key with from= is accepted, so a caller that does not pass it
  // fails closed). `channel_binding` is the TLS exporter of this connection; every proof must
  // cover it. It may be empty here (the session starts before the TLS handshake is complete, to
  // send its challenge early) and be given by onSecureChannel() once the handshake is done; no
  // AuthResponse is accepted before.
  Session(const SessionConfig& config, Launcher& launcher, SessionHost& host, std::string peer,
          std::string channel_binding, std::optional<IpAddress> peer_address = std::nullopt);
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start();
  void onSecureChannel(std::string channel_binding) { channel_binding_ = std::move(channel_binding); }
  void onBytes(std::string_view bytes);
  // The host's write queue fell below the low watermark.
  void onWriteQueueDrained();
  // The client went away (EOF or error): the session's process groups are terminated.
  void onPeerClosed();
  // The connection is being closed for `why` (the daemon's decision, e.g. a stalled client): the
  // session's process groups are terminated, and nothing more is sent.
  void abort(const char* why);
  // The daemon is stopping: terminate the jobs, send their results, then close.
  void shutdown();

  bool authenticated() const { return state_ == State::Authenticated; }
  // How much of the StdinData frame being read is certainly still to come (see ReceiveLowWater).
  uint64_t stdinStillComing() const { return reader_.dataLeft(); }
  size_t jobCount() const { return jobs_.size(); }
  const std::string& keyId() const { return key_id_; }

  // JobObserver
  void onJobOutput(JobHandle& job, rxpb::v1::Stream stream, std::string_view data) override;
  void onJobStdinDrained(JobHandle& job) override;
  void onJobStarted(JobHandle& job) override;
  void onJobStartFailed(JobHandle& job, const StartError& error) override;
  void onJobFinished(JobHandle& job, const rxpb::v1::ExecResult& result) override;
  void onJobLost(JobHandle& job, const std::string& why) override;

 private:
  // A job's last report is in: takes it out of jobs_ and returns its argv for the log ("?" if it
  // was not there).
  std::string forgetJob(uint32_t exec_id);
  // A job's last report is in (result or start failure): reading may resume, the answer goes out.
  void afterJobEnded();
  enum class State { AwaitAuth, Authenticated, Closing };
  struct JobEntry {
    JobHandle* handle;
    std::string argv_for_log;
    bool stdin_open;  // false: StdinData and StdinClose for it are ignored
    bool pty;         // runs on a terminal: WindowChange applies
    // FEATURE_CREDIT: Output data sent and not yet acknowledged, and whether that is a
    // whole window (the job's output is then paused until acknowledgements come).
    uint64_t unacked = 0;
    bool window_full = false;
    bool output_paused = false;  // what the job was last told
    // FEATURE_CREDIT, stdin: received and not yet acknowledged (at most kStdinWindow), and of
    // that, what the job is done with (acknowledged in steps, or whenever its queue is empty).
    uint64_t stdin_outstanding = 0;
    uint64_t stdin_done = 0;
  };

  // DataFrameReader::Sink: StdinData is streamed once authenticated; other frames go to
  // dispatch().
  bool reading() const override { return state_ != State::Closing; }
  size_t maxPayload() const override;
  bool streamingData() const override { return state_ == State::Authenticated; }
  bool onDataHeader(const DataFrameHeader& header) override;
  void onData(std::string_view part, bool last) override;
  void onFrame(rxpb::v1::Frame& frame) override { dispatch(frame); }
  void onError(const std::string& error) override { protocolError(error); }

  void dispatch(rxpb::v1::Frame& frame);
  void deliverStdin(uint32_t exec_id, std::string_view data);
  void handleAuth(const rxpb::v1::AuthResponse& auth);
  void handleExec(const rxpb::v1::ExecRequest& req);
  void handleWindowChange(const rxpb::v1::WindowChange& change);
  void handleOutputAck(const rxpb::v1::OutputAck& ack);
  void onJobStdinWritten(JobHandle& job, size_t bytes) override;
  // Pauses or resumes the job's output: paused while the connection is full or its window is.
  void updateJobOutput(JobEntry& entry);
  void refuseExec(uint32_t exec_id, rxpb::v1::StartFailed::Reason reason, std::string message,
                  const std::string& argv_for_log);
  void protocolError(const std::string& message);
  void queue(const rxpb::v1::Frame& frame);
  // Sends out_ (and `then` behind it) and checks the client's back-pressure.
  void flush(std::string_view then = {});
  void closeSession();
  void updateReading();
  void terminateAll(const char* why);
  void audit(uint32_t exec_id, const std::string& argv, const std::string& outcome, uint64_t wall_us,
             uint64_t out_bytes, uint64_t err_bytes);

  const SessionConfig& config_;
  Launcher& launcher_;
  SessionHost& host_;
  std::string peer_;
  std::optional<IpAddress> peer_address_;
  State state_ = State::AwaitAuth;
  DataFrameReader reader_;
  // The command of the StdinData frame being read.
  uint32_t stdin_exec_id_ = 0;
  std::string channel_binding_;
  std::string server_nonce_;
  std::string key_id_;
  KeyOptions key_options_;  // of the key that authenticated (a copy: a reload may swap the keys)
  uint64_t features_ = 0;   // what the client said it uses
  uint32_t last_exec_id_ = 0;
  // Frames not yet handed to the host. Its capacity is kept while commands run, so streaming
  // output does not allocate (and fault in) a fresh buffer per chunk.
  std::string out_;
  std::map<uint32_t, JobEntry> jobs_;
  bool output_paused_ = false;
  bool shutting_down_ = false;
  bool in_dispatch_ = false;
};

}  // namespace rx
