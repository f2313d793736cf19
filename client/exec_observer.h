#pragma once
// How one ExecClient (one command on one host) reports to whoever runs it: the one-host rexec
// (OneHostCommand) or the fan-out over many hosts (Fanout), both on the same libuv loop.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/frame_codec.h"
#include "rexec.pb.h"

namespace rx {

class ExecClient;

// The end of one command, as the one-host rexec turns it into an exit status.
struct ExecOutcome {
  int exit_status = 255;  // what `rexec HOST cmd` returns (see exit_status.h)
  std::string message;    // text for a "rexec: HOST: ..." line; empty when none is due
  // rexec's own failure: resolve, connect, host key, authentication, protocol, lost connection.
  bool rexec_failed = false;
  bool request_sent = false;  // the command was asked for (it may have run)
  bool timed_out = false;
  int exit_code = -1;        // the command's own exit code, when it exited
  std::string signal_name;   // "TERM" when a signal ended it
  bool core_dumped = false;  // and it left a core file
  uint64_t stdout_bytes = 0;
  uint64_t stderr_bytes = 0;
};

class ExecObserver {
 public:
  virtual ~ExecObserver() = default;
  // The ExecRequest is on its way: stdin may flow now.
  virtual void onExecStarted(ExecClient&) {}
  virtual void onExecOutput(ExecClient& exec, rxpb::v1::Stream stream, std::string_view data) = 0;
  // The socket's send queue shrank or grew (for stdin back-pressure).
  virtual void onExecSendQueue(ExecClient&) {}
  // The command is over (called once). The object still closes its handles after this.
  virtual void onExecDone(ExecClient& exec, const ExecOutcome& outcome) = 0;
  // Every handle is closed: the object may be destroyed now, from inside this call (and the
  // caller returns at once).
  virtual void onExecClosed(ExecClient&) {}
  // A master's connection (ExecClient::startAsMaster): what the server sends for the commands it
  // relays. Output data as a header (false: no such command; the connection fails) and its parts,
  // any other frame whole.
  virtual bool onRelayDataHeader(ExecClient&, const DataFrameHeader&) { return false; }
  virtual void onRelayData(ExecClient&, std::string_view, bool) {}
  virtual void onRelayFrame(ExecClient&, const rxpb::v1::Frame&) {}
};

}  // namespace rx
