#pragma once
// Per-source penalties after failed authentication, as OpenSSH's PerSourcePenalties: the first
// failure bars the source for `base_ms`, each further one doubles that up to `max_ms`. A source
// is forgotten `max_ms` after its penalty ended, so the doubling starts over for a source that
// behaved for that long. Socket-free and clock-free: the caller passes the time.
//
// Memory is bounded: at most `max_entries` sources; when full, the entry closest to being
// forgotten makes room, so a new failure is always recorded.
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <utility>

#include "daemon/source_address.h"

namespace rx {

struct PenaltyConfig {
  uint64_t base_ms = 5000;  // 0: no penalties
  uint64_t max_ms = 300000;
  size_t max_entries = 65536;
};

class PenaltyTable {
 public:
  explicit PenaltyTable(PenaltyConfig config) : config_(config) {}

  // Records one failed authentication from `source`; returns how long it is now refused (ms, 0
  // when penalties are off).
  uint64_t recordFailure(const SourceAddress& source, uint64_t now_ms);
  // How much longer `source` is refused (ms); 0 when it is not.
  uint64_t remaining(const SourceAddress& source, uint64_t now_ms);

  size_t size() const { return entries_.size(); }
  uint64_t evictions() const { return evictions_; }
  const PenaltyConfig& config() const { return config_; }
  // A reload: new penalties use the new figures; the sources already penalized keep theirs.
  void setConfig(const PenaltyConfig& config) { config_ = config; }

 private:
  struct Entry {
    uint64_t until_ms;
    uint64_t penalty_ms;  // the last one given, which the next failure doubles
    uint64_t forget_ms;
  };
  using Entries = std::map<SourceAddress, Entry>;
  void forgetOld(uint64_t now_ms);
  void erase(Entries::iterator it);

  PenaltyConfig config_;
  Entries entries_;
  std::set<std::pair<uint64_t, SourceAddress>> by_forget_;  // (forget_ms, source)
  uint64_t evictions_ = 0;
};

}  // namespace rx
