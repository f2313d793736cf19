#pragma once
// The client's side of the protocol as a state machine over bytes, for one command: answers the
// challenge, sends the ExecRequest in the same write (pipelined), checks the server's proof,
// relays output, and checks the final byte counts so truncation can never pass for success.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/data_frame_reader.h"
#include "common/frame_codec.h"
#include "common/key_file.h"
#include "common/limits.h"
#include "common/pty_request.h"

namespace rx {

// A pseudo-terminal for the command (rexec -t): the terminal type and the window size at start.
struct PtyParams {
  std::string term;  // sent only when valid (common/pty_request.h); else empty
  TerminalSize size;
};

struct ExecParams {
  std::vector<std::string> argv;
  bool shell = false;
  std::string cwd;
  std::vector<std::pair<std::string, std::string>> env;
  bool stdin_open = true;
  uint32_t timeout_ms = 0;
  std::optional<PtyParams> pty;  // used only when the server offers FEATURE_PTY
};

class ClientSessionHost {
 public:
  virtual ~ClientSessionHost() = default;
  // The host is done with the bytes when this returns. `then` follows `bytes` on the wire (a
  // frame's header and its data, sent without first being joined).
  virtual void send(std::string_view bytes, std::string_view then = {}) = 0;
  // The ExecRequest is on its way: stdin may flow now.
  virtual void onRequestSent() = 0;
  virtual void onOutput(rxpb::v1::Stream stream, std::string_view data) = 0;
  // The command's final result; byte counts already checked.
  virtual void onResult(const rxpb::v1::ExecResult& result) = 0;
  // Role::Master only: what the server sends for the commands it relays, untouched (client/master.h).
  // Output data streams as a header, then its parts; any other frame comes whole.
  virtual bool onRelayDataHeader(const DataFrameHeader&) { return false; }
  virtual void onRelayData(std::string_view, bool) {}
  virtual void onRelayFrame(const rxpb::v1::Frame&) {}
  // Anything that means rexec itself failed (auth, protocol, truncation): one line, no prefix.
  virtual void onFailure(const std::string& message) = 0;
};

class ClientSession : private DataFrameReader::Sink {
 public:
  static constexpr uint32_t kExecId = 1;

  enum class Role {
    OneCommand,  // authenticate and run params' command (the usual rexec)
    // rexec -M: authenticate only, then relay frames for the commands of local clients.
    Master,
    // rexec -S with a master answering: no TLS, no authentication (the master's connection is
    // authenticated); the master's greeting names the host it leads to, then the command runs.
    ViaMaster,
  };

  ClientSession(ClientKey key, ExecParams params, ClientSessionHost& host);

  // Before any bytes. `target` (ViaMaster): the HOST:PORT the master must lead to.
  void setRole(Role role, std::string target = {}) {
    role_ = role;
    master_target_ = std::move(target);
  }
  Role role() const { return role_; }
  // Master: the features agreed with the server (known once authenticated).
  uint64_t features() const { return features_; }

  // Finishes the key (see KeyDerivation); the host calls it while the handshake is in flight.
  void prepareKey() { completeKey(key_); }

  // The TLS handshake finished and the server's key was accepted: `channel_binding` is the
  // connection's exporter, which the proofs cover. Bytes are accepted only after this.
  void onSecureChannel(std::string channel_binding);

  void onBytes(std::string_view bytes);
  // The connection ended; a failure unless the result already arrived.
  void onClosed(const std::string& why);

  void sendStdin(std::string_view data);
  void closeStdin();
  void sendSignal(std::string_view name);
  // The local window changed size (sent only when the command runs on a terminal).
  void sendWindowChange(const TerminalSize& size);

  // Whether the request asked for a terminal: params.pty was set and the server offers one.
  // Known once the request is sent.
  bool ptyActive() const { return pty_active_; }

  // How much of the Output frame being read is certainly still to come (see ReceiveLowWater).
  uint64_t outputStillComing() const { return reader_.dataLeft(); }

  bool requestSent() const { return state_ >= State::AwaitAuthResult; }
  bool done() const { return state_ == State::Done; }

 private:
  enum class State { AwaitChallenge, AwaitAuthResult, Running, Done };
  // DataFrameReader::Sink: Output data goes to the host as it arrives (see DataFrameReader);
  // other frames go to dispatch().
  bool reading() const override { return state_ != State::Done; }
  size_t maxPayload() const override { return kMaxFramePostAuth; }
  bool streamingData() const override { return state_ == State::Running; }
  bool onDataHeader(const DataFrameHeader& header) override;
  void onData(std::string_view part, bool last) override {
    if (role_ == Role::Master)
      host_.onRelayData(part, last);
    else
      host_.onOutput(output_stream_, part);
  }
  void onFrame(rxpb::v1::Frame& frame) override { dispatch(frame); }
  void onError(const std::string& error) override;

  // Whether stdin, signals and window changes for the command may be sent now: its request is out
  // and it has not ended. Never for a master, which has no command of its own (it relays others').
  bool ownCommand() const {
    return role_ != Role::Master && state_ != State::Done && state_ != State::AwaitChallenge;
  }
  void dispatch(const rxpb::v1::Frame& frame);
  void answerChallenge(const rxpb::v1::AuthChallenge& c);
  void answerMaster(const rxpb::v1::AuthChallenge& c);
  void appendExecRequest(std::string& out);
  // Checks an Output's command and stream and counts its bytes; false failed the session.
  bool countOutput(uint32_t exec_id, uint32_t stream, size_t size);
  void fail(const std::string& message);

  Role role_ = Role::OneCommand;
  std::string master_target_;
  uint64_t features_ = 0;
  ClientKey key_;
  std::string channel_binding_;
  ExecParams params_;
  ClientSessionHost& host_;
  State state_ = State::AwaitChallenge;
  DataFrameReader reader_{peekOutputFrameHeader};
  // The stream of the Output frame being read.
  rxpb::v1::Stream output_stream_ = rxpb::v1::STREAM_STDOUT;
  std::string server_nonce_;
  std::string client_nonce_;
  uint64_t stdout_bytes_ = 0;
  uint64_t stderr_bytes_ = 0;
  bool pty_active_ = false;
  // StdinData frames being built; its capacity is kept between chunks of a stream.
  std::string stdin_out_;
};

}  // namespace rx
