#include "daemon/source_limits.h"

#include <charconv>

#include <fmt/format.h>

namespace rx {
namespace {

bool parseNumber(std::string_view text, uint32_t& out) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && ptr == text.data() + text.size();
}

}  // namespace

Status parseMaxStartups(std::string_view text, MaxStartups& out) {
  const auto bad = [&](std::string_view why) {
    return Status::Error(fmt::format("'{}' {} (expected START:RATE:FULL, e.g. 10:30:100)", text, why));
  };
  MaxStartups m;
  const size_t c1 = text.find(':');
  if (c1 == std::string_view::npos) {
    if (!parseNumber(text, m.full)) return bad("is not a number");
    m.start = m.full;
    m.rate = 100;
  } else {
    const size_t c2 = text.find(':', c1 + 1);
    if (c2 == std::string_view::npos) return bad("has two fields");
    if (!parseNumber(text.substr(0, c1), m.start) || !parseNumber(text.substr(c1 + 1, c2 - c1 - 1), m.rate) ||
        !parseNumber(text.substr(c2 + 1), m.full))
      return bad("has a field that is not a number");
    if (m.rate < 1 || m.rate > 100) return bad("has a RATE outside 1..100");
  }
  if (m.full < 1) return bad("has FULL 0, which would refuse every connection");
  if (m.start > m.full) return bad("has START above FULL");
  out = m;
  return Status::Ok();
}

std::string toString(const MaxStartups& m) { return fmt::format("{}:{}:{}", m.start, m.rate, m.full); }

SourceLimits::SourceLimits(AdmissionConfig config, Clock clock, Dice dice)
    : config_(config), clock_(std::move(clock)), dice_(std::move(dice)), penalties_(config.penalty) {}

SourceLimits::Decision SourceLimits::admit(const SourceAddress& source) {
  Decision d;
  if (connections_ >= config_.max_connections) {
    d.verdict = Verdict::TooManyConnections;
    d.count = connections_;
    return d;
  }
  if (const uint64_t left = penalties_.remaining(source, clock_()); left > 0) {
    d.verdict = Verdict::Penalized;
    d.penalty_left_ms = left;
    return d;
  }
  if (const size_t from = unauthenticatedFrom(source); from >= config_.per_source_max_startups) {
    d.verdict = Verdict::TooManyFromSource;
    d.count = from;
    return d;
  }
  const MaxStartups& m = config_.max_startups;
  if (unauthenticated_ >= m.full) {
    d.verdict = Verdict::StartupsFull;
    d.count = unauthenticated_;
    return d;
  }
  if (unauthenticated_ >= m.start) {
    // OpenSSH's arithmetic: `rate` at `start`, rising linearly to 100 at `full` (start < full here).
    const uint64_t p = m.rate + uint64_t{100 - m.rate} * (unauthenticated_ - m.start) / (m.full - m.start);
    if (dice_() < p) {
      d.verdict = Verdict::RandomEarlyDrop;
      d.count = unauthenticated_;
      d.drop_percent = static_cast<uint32_t>(p);
      return d;
    }
  }
  ++connections_;
  ++unauthenticated_;
  ++unauthenticated_from_[source];
  return d;
}

size_t SourceLimits::unauthenticatedFrom(const SourceAddress& source) const {
  const auto it = unauthenticated_from_.find(source);
  return it == unauthenticated_from_.end() ? 0 : it->second;
}

void SourceLimits::forgetUnauthenticated(const SourceAddress& source) {
  if (unauthenticated_ > 0) --unauthenticated_;
  const auto it = unauthenticated_from_.find(source);
  if (it == unauthenticated_from_.end()) return;
  if (--it->second == 0) unauthenticated_from_.erase(it);
}

void SourceLimits::authenticated(const SourceAddress& source) { forgetUnauthenticated(source); }

uint64_t SourceLimits::authenticationFailed(const SourceAddress& source) {
  return penalties_.recordFailure(source, clock_());
}

void SourceLimits::closed(const SourceAddress& source, bool was_authenticated) {
  if (connections_ > 0) --connections_;
  if (!was_authenticated) forgetUnauthenticated(source);
}

}  // namespace rx
