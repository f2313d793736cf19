#pragma once
// systemd integration through libsystemd: readiness (Type=notify), status lines, the watchdog,
// stopping and reloading notices, and listening sockets passed by socket activation. Outside
// systemd (no NOTIFY_SOCKET, no LISTEN_FDS) every call does nothing.
#include <uv.h>

#include <cstdint>
#include <string>
#include <vector>

namespace rx {

class ServiceManager {
 public:
  explicit ServiceManager(uv_loop_t* loop);
  ~ServiceManager();
  ServiceManager(const ServiceManager&) = delete;
  ServiceManager& operator=(const ServiceManager&) = delete;

  // Listening sockets systemd passed us (rexecd.socket), in order; empty when not activated.
  static std::vector<int> inheritedListeners();

  // READY=1 with a status line; starts the watchdog pings when WatchdogSec= is set. The pings
  // come from a timer on the event loop, so a stuck loop stops them and systemd restarts us.
  void ready(const std::string& status);
  void status(const std::string& status);
  void reloading();
  void stopping();
  // Stops the watchdog timer and closes its handle (call before the loop ends).
  void close();

 private:
  uv_loop_t* loop_;
  uv_timer_t watchdog_{};
  bool timer_open_ = false;
  uint64_t watchdog_usec_ = 0;
};

}  // namespace rx
