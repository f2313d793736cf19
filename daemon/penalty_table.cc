#include "daemon/penalty_table.h"

#include <algorithm>

namespace rx {

void PenaltyTable::erase(Entries::iterator it) {
  by_forget_.erase({it->second.forget_ms, it->first});
  entries_.erase(it);
}

void PenaltyTable::forgetOld(uint64_t now_ms) {
  while (!by_forget_.empty() && by_forget_.begin()->first <= now_ms)
    erase(entries_.find(by_forget_.begin()->second));
}

uint64_t PenaltyTable::recordFailure(const SourceAddress& source, uint64_t now_ms) {
  if (config_.base_ms == 0) return 0;
  forgetOld(now_ms);
  const uint64_t max_ms = std::max(config_.max_ms, config_.base_ms);
  uint64_t penalty = config_.base_ms;
  uint64_t until = now_ms + penalty;
  if (auto it = entries_.find(source); it != entries_.end()) {
    penalty = std::min(it->second.penalty_ms * 2, max_ms);
    // A connection accepted before the penalty began may fail during it: never shorten it.
    until = std::max(it->second.until_ms, now_ms + penalty);
    erase(it);
  } else if (config_.max_entries == 0) {
    return 0;
  } else if (entries_.size() >= config_.max_entries) {
    erase(entries_.find(by_forget_.begin()->second));
    ++evictions_;
  }
  const Entry e{until, penalty, until + max_ms};
  entries_.emplace(source, e);
  by_forget_.emplace(e.forget_ms, source);
  return until - now_ms;
}

uint64_t PenaltyTable::remaining(const SourceAddress& source, uint64_t now_ms) {
  forgetOld(now_ms);
  const auto it = entries_.find(source);
  if (it == entries_.end() || it->second.until_ms <= now_ms) return 0;
  return it->second.until_ms - now_ms;
}

}  // namespace rx
