#pragma once
// Who may open a connection: the daemon's admission policy, socket-free so it is unit-tested
// with a fake clock and a fake dice (tests/unit/source_limits_test.cc). The server asks admit()
// for every accepted socket and closes the ones refused at once.
//
// - a cap on all connections (authenticated or not);
// - per-source penalties after failed authentication (PenaltyTable);
// - a cap on unauthenticated connections per source (IPv4 address or IPv6 /64);
// - OpenSSH's MaxStartups start:rate:full on unauthenticated connections: below `start` every
//   connection is admitted; from `start` on, a new one is refused with probability `rate`%,
//   rising linearly to 100% at `full`.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "common/status.h"
#include "daemon/penalty_table.h"
#include "daemon/source_address.h"

namespace rx {

struct MaxStartups {
  uint32_t start = 10;
  uint32_t rate = 30;  // percent
  uint32_t full = 100;
};

// "START:RATE:FULL" (0 <= START <= FULL, 1 <= RATE <= 100, FULL >= 1), or "N" for N:100:N.
Status parseMaxStartups(std::string_view text, MaxStartups& out);
std::string toString(const MaxStartups& m);

struct AdmissionConfig {
  size_t max_connections = 20000;
  MaxStartups max_startups;
  size_t per_source_max_startups = 10;
  PenaltyConfig penalty;
};

class SourceLimits {
 public:
  using Clock = std::function<uint64_t()>;  // monotonic milliseconds
  using Dice = std::function<uint32_t()>;   // uniform in [0, 100)

  enum class Verdict {
    Admit,
    TooManyConnections,
    Penalized,
    TooManyFromSource,
    StartupsFull,
    RandomEarlyDrop
  };
  struct Decision {
    Verdict verdict = Verdict::Admit;
    uint64_t penalty_left_ms = 0;  // Penalized
    size_t count = 0;              // the count the verdict is about (connections, startups, from source)
    uint32_t drop_percent = 0;     // RandomEarlyDrop: the probability it was refused with
  };

  SourceLimits(AdmissionConfig config, Clock clock, Dice dice);

  // A new connection from `source`. Admitted connections count as unauthenticated until
  // authenticated() or closed(); refused ones are not counted at all.
  Decision admit(const SourceAddress& source);
  void authenticated(const SourceAddress& source);
  // Returns how long the source is now refused (ms; 0 when penalties are off).
  uint64_t authenticationFailed(const SourceAddress& source);
  // An admitted connection ended.
  void closed(const SourceAddress& source, bool was_authenticated);

  size_t connections() const { return connections_; }
  size_t unauthenticated() const { return unauthenticated_; }
  size_t unauthenticatedFrom(const SourceAddress& source) const;
  const AdmissionConfig& config() const { return config_; }
  // A reload: the counts of current connections and the penalties stay; the limits change.
  void setConfig(const AdmissionConfig& config) {
    config_ = config;
    penalties_.setConfig(config.penalty);
  }
  const PenaltyTable& penalties() const { return penalties_; }

 private:
  void forgetUnauthenticated(const SourceAddress& source);

  AdmissionConfig config_;
  Clock clock_;
  Dice dice_;
  PenaltyTable penalties_;
  size_t connections_ = 0;
  size_t unauthenticated_ = 0;
  // Only sources with unauthenticated connections, so bounded by the startups cap.
  std::map<SourceAddress, size_t> unauthenticated_from_;
};

}  // namespace rx
