#pragma once
// rexec -M -S PATH HOST: one authenticated connection to HOST, shared by every `rexec -S PATH
// HOST cmd` of the same user, as OpenSSH's ControlMaster. A local client skips its own TCP and
// TLS handshake, key and authentication: it hands its command to the master over a Unix socket
// (mode 0600, and the peer's user checked with SO_PEERCRED), and the master runs it on the shared
// connection (FEATURE_MULTI_EXEC) under an id of its own, relaying the frames both ways
// (PROTOCOL.md section 13). One client's bad frame is answered to that client alone: nothing it
// sends can make the server drop the shared connection.
#include <uv.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "client/control_socket.h"
#include "client/exec_client.h"
#include "client/master_client.h"

namespace rx {

class Master final : public ExecObserver {
 public:
  // `persist_ms`: exit (0) after this long without any local client; 0: run until stopped.
  Master(uv_loop_t* loop, HostPort target, std::string control_path, ClientKey key, ClientTimeouts timeouts,
         SSL_CTX* tls, HostKeyPolicy host_keys, uint64_t persist_ms = 0);
  ~Master() override;
  Master(const Master&) = delete;
  Master& operator=(const Master&) = delete;

  // Runs until stopped (SIGINT, SIGTERM, SIGHUP: exit 0; the server then stops the commands
  // still running) or until the shared connection fails (255, with a "rexec: ..." line).
  int run();

  // Started by a client for its own command (rexec -S PATH --persist, client/auto_master.h):
  // once the socket is in place, write 'R' to `fd`, close it, and leave the client's terminal
  // and standard streams (a new session, /dev/null), instead of announcing itself on stderr. A
  // master that cannot have the socket writes nothing; socketUnavailable() then says so.
  void notifyWhenReady(int fd) { ready_fd_ = fd; }
  // The socket could not be had (a path that is not a socket, another master there, no
  // permission): the client can still run its command directly.
  bool socketUnavailable() const { return failure_.has_value(); }

  // For MasterClient. The features agreed with the server.
  uint64_t features() const { return conn_.features(); }
  // Sends the local client's ExecRequest as a new command; returns its id on the shared connection.
  uint32_t startCommand(MasterClient& client, rxpb::v1::Frame& request);
  void sendToServer(const rxpb::v1::Frame& frame);
  // A client's output queue went over its mark (or back under it). With FEATURE_CREDIT
  // (rexecd offers it) nothing needs doing: the server stops that one command once a window of its
  // output is unacknowledged (MasterClient acknowledges what the client's socket takes). With a
  // server without it, the shared connection is read only while no client is full: that bounds
  // the master's memory, but one client that does not read then holds up the others.
  void onClientFull(bool full);
  // The client's handles are closed: free it (if its command is over).
  void onClientClosed(MasterClient& client);

  // ExecObserver
  void onExecStarted(ExecClient& exec) override;
  void onExecOutput(ExecClient&, rxpb::v1::Stream, std::string_view) override {}
  void onExecSendQueue(ExecClient& exec) override;
  void onExecDone(ExecClient& exec, const ExecOutcome& outcome) override;
  bool onRelayDataHeader(ExecClient& exec, const DataFrameHeader& header) override;
  void onRelayData(ExecClient& exec, std::string_view part, bool last) override;
  void onRelayFrame(ExecClient& exec, const rxpb::v1::Frame& frame) override;

 private:
  void onConnection(int status);
  void stop(const char* why);
  // --persist: armed while no local client is connected.
  void updateIdleTimer();
  void closeListener();
  // The socket cannot be had (`taken`: another master is there): what to say about it, once and
  // for both moments it can fail (before connecting, and when publishing it).
  std::string socketFailureLine(const Status& status, bool taken) const;
  // Ends the master for that reason, saying socketFailureLine() ("" for nothing) at its end.
  void failSocket(const Status& status, bool taken);
  void becomeReady(const std::string& label);

  uv_loop_t* loop_;
  HostPort target_;
  std::string path_;
  std::string bound_path_;  // the listener's own name until published at path_
  bool published_ = false;
  PublishedSocket published_as_;
  int ready_fd_ = -1;
  // The socket could not be had: the line said instead of the connection's end ("" for none).
  std::optional<std::string> failure_;
  ExecClient conn_;
  std::string greeting_;
  uv_pipe_t listener_{};
  bool listening_ = false;
  bool listener_closed_ = true;
  uv_signal_t sig_int_{}, sig_term_{}, sig_hup_{};
  bool stopping_ = false;
  uint64_t persist_ms_;
  uv_timer_t idle_timer_{};
  bool ended_ = false;
  int exit_status_ = 255;

  // Every local client, by address; each is freed once closed (onClientClosed).
  std::map<MasterClient*, std::unique_ptr<MasterClient>> clients_;
  // Commands running on the server, by their id there.
  std::map<uint32_t, MasterClient*> commands_;
  uint32_t last_id_ = 0;
  // The client the Output frame being relayed belongs to.
  MasterClient* relay_to_ = nullptr;
  int full_clients_ = 0;
  bool stdin_paused_ = false;
};

}  // namespace rx
