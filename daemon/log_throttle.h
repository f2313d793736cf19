#pragma once
// Keeps a flood (of refused connections, say) from flooding the log: at most `burst` lines per
// `window_ms`, and the next line let through says how many were held back.
#include <cstdint>

namespace rx {

class LogThrottle {
 public:
  LogThrottle(uint32_t burst, uint64_t window_ms) : burst_(burst), window_ms_(window_ms) {}

  // True when a line may be logged now; `held_back` is then how many were not since the last one.
  bool allow(uint64_t now_ms, uint64_t& held_back) {
    if (!started_ || now_ms - window_start_ms_ >= window_ms_) {
      started_ = true;
      window_start_ms_ = now_ms;
      in_window_ = 0;
    }
    if (in_window_ >= burst_) {
      ++held_back_;
      return false;
    }
    ++in_window_;
    held_back = held_back_;
    held_back_ = 0;
    return true;
  }

 private:
  uint32_t burst_;
  uint64_t window_ms_;
  bool started_ = false;
  uint64_t window_start_ms_ = 0;
  uint32_t in_window_ = 0;
  uint64_t held_back_ = 0;
};

}  // namespace rx
