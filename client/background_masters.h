#pragma once
// `rexec -H ... -S PATH --persist SECONDS cmd`: a host that ran its command directly, because no
// master answered on its PATH, gets a master started in the background for the next runs, as each
// `ssh` under pdsh with ControlMaster auto and ControlPersist would start one. The single-host
// case forks before the client has a loop (client/auto_master.h); the fan-out's loop is running
// by then, so this starts the master as a new process of this same program instead
// (`rexec -M -S PATH --persist SECONDS HOST`, in a session of its own).
//
// A master is started only once its host has taken its command: the key is known there, the key
// file works, so a host that is down or refuses us gets no master bound to fail. Until the master
// listens, its stderr comes here and goes on line by line with the host's label; then it writes
// 'R' on fd 3 and gives up both (Master::notifyWhenReady). The fan-out waits for every master it
// started to listen or to give up (each bounded by its own --connect-timeout) before its summary,
// so that a run right after it finds them there.
#include <uv.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/net_address.h"

namespace rx {

class BackgroundMasters {
 public:
  // `master_options`: what every master is given besides -M, -S, --persist and its host (the key
  // file, known hosts, connect timeout of the run). `on_line`: one of a master's lines, labelled
  // ("rexec: LABEL: master: ...\n"). `on_settled`: the last master started has settled.
  // `program`: this same program; another only in tests.
  BackgroundMasters(uv_loop_t* loop, double persist_s, std::vector<std::string> master_options,
                    std::function<void(std::string_view)> on_line, std::function<void()> on_settled,
                    std::string program = "/proc/self/exe");
  ~BackgroundMasters();
  BackgroundMasters(const BackgroundMasters&) = delete;
  BackgroundMasters& operator=(const BackgroundMasters&) = delete;

  // Starts a master for `target` listening on `path` (already expanded).
  void start(const std::string& label, const std::string& path, const HostPort& target);
  // Masters started that have not yet listened nor given up.
  size_t starting() const { return starting_; }
  // Stops waiting for them (the run is interrupted); they go on by themselves.
  void abandon();

  struct Starting;

 private:
  friend struct Starting;
  void settled(Starting& s);

  uv_loop_t* loop_;
  std::string program_;
  std::string persist_;
  std::vector<std::string> master_options_;
  std::function<void(std::string_view)> on_line_;
  std::function<void()> on_settled_;
  std::vector<Starting*> live_;  // each frees itself once its handles are closed
  size_t starting_ = 0;
};

// PATH for -S, with each % doubled: the master expands the tokens of what it is given again.
std::string escapeControlPath(const std::string& path);

}  // namespace rx
