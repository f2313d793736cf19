#include "daemon/service_manager.h"

#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>

#include "common/log.h"

namespace rx {

ServiceManager::ServiceManager(uv_loop_t* loop) : loop_(loop) {
  // 0: leave WATCHDOG_* in our environment; commands never see it, they get a clean one.
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0) watchdog_usec_ = usec;
}

ServiceManager::~ServiceManager() = default;

std::vector<int> ServiceManager::inheritedListeners() {
  std::vector<int> fds;
  const int n = sd_listen_fds(1);  // 1: unset LISTEN_* so children do not inherit them
  for (int i = 0; i < n; ++i) {
    const int fd = SD_LISTEN_FDS_START + i;
    if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) > 0) fds.push_back(fd);
  }
  return fds;
}

void ServiceManager::ready(const std::string& text) {
  sd_notifyf(0, "READY=1\nSTATUS=%s\nMAINPID=%lu", text.c_str(), static_cast<unsigned long>(getpid()));
  if (watchdog_usec_ == 0 || timer_open_) return;
  uv_timer_init(loop_, &watchdog_);
  timer_open_ = true;
  // Half the interval, as sd_watchdog_enabled(3) advises.
  const uint64_t every_ms = std::max<uint64_t>(watchdog_usec_ / 2000, 1);
  uv_timer_start(
      &watchdog_, [](uv_timer_t*) { sd_notify(0, "WATCHDOG=1"); }, every_ms, every_ms);
  // The timer alone must not keep the loop alive once everything else has stopped.
  uv_unref(reinterpret_cast<uv_handle_t*>(&watchdog_));
  log::debug("systemd watchdog: pinging every {} ms", every_ms);
}

void ServiceManager::status(const std::string& text) { sd_notifyf(0, "STATUS=%s", text.c_str()); }

void ServiceManager::reloading() { sd_notify(0, "RELOADING=1"); }

void ServiceManager::stopping() {
  sd_notify(0, "STOPPING=1\nSTATUS=stopping");
  // Keep pinging while we drain (the stop has its own timeout in the unit).
}

void ServiceManager::close() {
  if (!timer_open_) return;
  timer_open_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&watchdog_), nullptr);
}

}  // namespace rx
