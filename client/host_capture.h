#pragma once
// One host's stdout and stderr held in memory (for --gather and --json), up to a limit over both
// streams; what goes beyond is counted, not kept, and the capture says it was cut.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

namespace rx {

struct HostCapture {
  explicit HostCapture(uint64_t max_bytes) : limit(max_bytes) {}

  void add(bool is_stdout, std::string_view data) {
    (is_stdout ? out_total : err_total) += data.size();
    const uint64_t room = limit - std::min<uint64_t>(limit, out.size() + err.size());
    if (data.size() > room) {
      cut = true;
      data = data.substr(0, room);
    }
    (is_stdout ? out : err).append(data);
  }

  uint64_t limit;
  std::string out, err;
  uint64_t out_total = 0, err_total = 0;
  bool cut = false;
};

}  // namespace rx
