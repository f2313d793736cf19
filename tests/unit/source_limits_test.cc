// The daemon's admission policy with a fake clock and fake dice: no sockets.
#include "daemon/source_limits.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <deque>

#include "daemon/log_throttle.h"
#include "daemon/penalty_table.h"
#include "daemon/source_address.h"

namespace rx {
namespace {

using V = SourceLimits::Verdict;

SourceAddress v4(const char* text) {
  in_addr a{};
  EXPECT_EQ(inet_pton(AF_INET, text, &a), 1) << text;
  return SourceAddress::ipv4(ntohl(a.s_addr));
}

SourceAddress v6(const char* text) {
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  EXPECT_EQ(inet_pton(AF_INET6, text, &sa.sin6_addr), 1) << text;
  return SourceAddress::fromSockaddr(&sa);
}

// ---------------------------------------------------------------- SourceAddress

TEST(SourceAddress, Ipv4IsTheWholeAddress) {
  EXPECT_EQ(v4("192.0.2.1").toString(), "192.0.2.1");
  EXPECT_NE(v4("192.0.2.1"), v4("192.0.2.2"));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(4242);
  inet_pton(AF_INET, "192.0.2.1", &sa.sin_addr);
  EXPECT_EQ(SourceAddress::fromSockaddr(&sa), v4("192.0.2.1")) << "the port does not matter";
}

TEST(SourceAddress, Ipv6CountsByTheSlash64) {
  EXPECT_EQ(v6("2001:db8:1:2::1"), v6("2001:db8:1:2:ffff:ffff:ffff:ffff"));
  EXPECT_NE(v6("2001:db8:1:2::1"), v6("2001:db8:1:3::1"));
  EXPECT_EQ(v6("2001:db8:1:2:3:4:5:6").toString(), "2001:db8:1:2::/64");
}

TEST(SourceAddress, MappedIpv4IsTheIpv4Address) {
  EXPECT_EQ(v6("::ffff:192.0.2.7"), v4("192.0.2.7"));
  EXPECT_EQ(v6("::ffff:192.0.2.7").toString(), "192.0.2.7");
  EXPECT_NE(v6("::1"), v4("0.0.0.1"));
}

TEST(SourceAddress, UnknownFamily) {
  sockaddr_storage ss{};
  ss.ss_family = AF_UNIX;
  EXPECT_EQ(SourceAddress::fromSockaddr(&ss).toString(), "unknown");
}

// ---------------------------------------------------------------- PenaltyTable

TEST(PenaltyTable, FirstFailureGivesTheBaseThenDoublesUpToTheMax) {
  PenaltyTable t({5000, 300000, 100});
  const auto a = v4("192.0.2.1");
  uint64_t now = 1000;
  EXPECT_EQ(t.remaining(a, now), 0u);
  EXPECT_EQ(t.recordFailure(a, now), 5000u);
  EXPECT_EQ(t.remaining(a, now), 5000u);
  EXPECT_EQ(t.remaining(a, now + 4999), 1u);
  EXPECT_EQ(t.remaining(a, now + 5000), 0u) << "over exactly at its end";
  EXPECT_EQ(t.remaining(v4("192.0.2.2"), now), 0u) << "another source is not touched";
  uint64_t expected = 5000;
  for (int i = 0; i < 10; ++i) {
    now += expected;  // each failure right after the last penalty ended
    expected = std::min<uint64_t>(expected * 2, 300000);
    EXPECT_EQ(t.recordFailure(a, now), expected) << "failure " << i + 2;
  }
  EXPECT_EQ(expected, 300000u);
}

TEST(PenaltyTable, AFailureDuringAPenaltyNeverShortensIt) {
  PenaltyTable t({5000, 300000, 100});
  const auto a = v4("192.0.2.1");
  EXPECT_EQ(t.recordFailure(a, 0), 5000u);
  // A connection accepted before the penalty began fails now: doubled, counted from now.
  EXPECT_EQ(t.recordFailure(a, 1000), 10000u);
  EXPECT_EQ(t.remaining(a, 1000), 10000u);
}

TEST(PenaltyTable, ASourceThatBehavesIsForgottenAfterTheMax) {
  PenaltyTable t({5000, 300000, 100});
  const auto a = v4("192.0.2.1");
  t.recordFailure(a, 0);  // until 5 s, forgotten at 305 s
  EXPECT_EQ(t.recordFailure(a, 304999), 10000u) << "still remembered: doubled";
  // Now until 314999, forgotten at 614999.
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.remaining(a, 614999), 0u);
  EXPECT_EQ(t.size(), 0u) << "forgotten, memory freed";
  EXPECT_EQ(t.recordFailure(a, 614999), 5000u) << "a fresh start";
}

TEST(PenaltyTable, ZeroBaseTurnsPenaltiesOff) {
  PenaltyTable t({0, 300000, 100});
  EXPECT_EQ(t.recordFailure(v4("192.0.2.1"), 0), 0u);
  EXPECT_EQ(t.remaining(v4("192.0.2.1"), 0), 0u);
  EXPECT_EQ(t.size(), 0u);
}

TEST(PenaltyTable, BaseAboveTheMaxIsNotCutDown) {
  PenaltyTable t({600000, 300000, 100});
  EXPECT_EQ(t.recordFailure(v4("192.0.2.1"), 0), 600000u);
  EXPECT_EQ(t.recordFailure(v4("192.0.2.1"), 600000), 600000u);
}

TEST(PenaltyTable, SizeIsBoundedAndTheOldestEntryMakesRoom) {
  PenaltyTable t({5000, 300000, 4});
  for (uint32_t i = 0; i < 4; ++i) t.recordFailure(SourceAddress::ipv4(0xC0000200 + i), i);
  EXPECT_EQ(t.size(), 4u);
  t.recordFailure(v4("198.51.100.1"), 10);
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(t.evictions(), 1u);
  EXPECT_EQ(t.remaining(v4("192.0.2.0"), 10), 0u) << "the first one, closest to being forgotten, went";
  EXPECT_GT(t.remaining(v4("192.0.2.1"), 10), 0u);
  EXPECT_GT(t.remaining(v4("198.51.100.1"), 10), 0u) << "the new failure is recorded";
}

TEST(PenaltyTable, ManySourcesStayWithinTheBound) {
  PenaltyTable t({5000, 300000, 1000});
  for (uint32_t i = 0; i < 100000; ++i) t.recordFailure(SourceAddress::ipv4(i), i / 10);
  EXPECT_LE(t.size(), 1000u);
  // Much later everything is forgotten.
  EXPECT_EQ(t.remaining(v4("192.0.2.1"), 10'000'000), 0u);
  EXPECT_EQ(t.size(), 0u);
}

// ---------------------------------------------------------------- MaxStartups parsing

TEST(MaxStartups, ParsesStartRateFull) {
  MaxStartups m;
  ASSERT_TRUE(parseMaxStartups("10:30:100", m));
  EXPECT_EQ(m.start, 10u);
  EXPECT_EQ(m.rate, 30u);
  EXPECT_EQ(m.full, 100u);
  EXPECT_EQ(toString(m), "10:30:100");
  ASSERT_TRUE(parseMaxStartups("1:100:1", m));
  EXPECT_EQ(toString(m), "1:100:1");
  ASSERT_TRUE(parseMaxStartups("0:1:5", m));
  EXPECT_EQ(toString(m), "0:1:5");
}

TEST(MaxStartups, ASingleNumberIsAHardCap) {
  MaxStartups m;
  ASSERT_TRUE(parseMaxStartups("20", m));
  EXPECT_EQ(toString(m), "20:100:20");
}

TEST(MaxStartups, BadValuesAreRefusedAndLeaveTheOldOne) {
  for (const char* bad : {"", "10:30", "10:30:100:5", "a:30:100", "10:0:100", "10:101:100", "20:30:10", "0",
                          "0:30:0", "-1:30:100", "10:30:1e3", "10::100", " 10:30:100"}) {
    MaxStartups m;
    const Status s = parseMaxStartups(bad, m);
    EXPECT_FALSE(s) << bad;
    EXPECT_NE(s.message().find("START:RATE:FULL"), std::string::npos) << s.message();
    EXPECT_EQ(toString(m), "10:30:100") << bad;
  }
}

// ---------------------------------------------------------------- SourceLimits

struct Fixture {
  explicit Fixture(AdmissionConfig c)
      : limits(
            c, [this] { return now; },
            [this] {
              if (rolls.empty()) {
                ADD_FAILURE() << "the dice was rolled where it should not be";
                return 0u;
              }
              const uint32_t r = rolls.front();
              rolls.pop_front();
              return r;
            }) {}
  uint64_t now = 0;
  std::deque<uint32_t> rolls;
  SourceLimits limits;
};

AdmissionConfig config(MaxStartups m = {10, 30, 100}, size_t per_source = 10,
                       size_t max_connections = 20000) {
  AdmissionConfig c;
  c.max_startups = m;
  c.per_source_max_startups = per_source;
  c.max_connections = max_connections;
  c.penalty = {5000, 300000, 100};
  return c;
}

// Distinct sources, so the per-source cap stays out of the way.
SourceAddress nth(uint32_t i) { return SourceAddress::ipv4(0x0A000000 + i); }

TEST(SourceLimits, BelowStartEveryoneIsAdmittedWithoutRollingTheDice) {
  Fixture f(config());
  for (uint32_t i = 0; i < 10; ++i) EXPECT_EQ(f.limits.admit(nth(i)).verdict, V::Admit);
  EXPECT_EQ(f.limits.unauthenticated(), 10u);
  EXPECT_EQ(f.limits.connections(), 10u);
}

TEST(SourceLimits, RandomEarlyDropRisesLinearlyFromRateToFull) {
  Fixture f(config({10, 30, 100}));
  for (uint32_t i = 0; i < 10; ++i) ASSERT_EQ(f.limits.admit(nth(i)).verdict, V::Admit);
  // At 10 unauthenticated the drop probability is 30%: a roll of 29 drops, 30 admits.
  f.rolls = {29};
  auto d = f.limits.admit(nth(100));
  EXPECT_EQ(d.verdict, V::RandomEarlyDrop);
  EXPECT_EQ(d.drop_percent, 30u);
  EXPECT_EQ(d.count, 10u);
  EXPECT_EQ(f.limits.unauthenticated(), 10u) << "a refused connection is not counted";
  f.rolls = {30};
  EXPECT_EQ(f.limits.admit(nth(101)).verdict, V::Admit);
  // Fill up to 55: p = 30 + 70 * 45 / 90 = 65.
  while (f.limits.unauthenticated() < 55) {
    f.rolls = {99};
    ASSERT_EQ(f.limits.admit(nth(200 + static_cast<uint32_t>(f.limits.unauthenticated()))).verdict, V::Admit);
  }
  f.rolls = {64};
  d = f.limits.admit(nth(1000));
  EXPECT_EQ(d.verdict, V::RandomEarlyDrop);
  EXPECT_EQ(d.drop_percent, 65u);
  f.rolls = {65};
  EXPECT_EQ(f.limits.admit(nth(1001)).verdict, V::Admit);
}

TEST(SourceLimits, AtFullEveryNewConnectionIsRefused) {
  Fixture f(config({1, 100, 1}));
  EXPECT_EQ(f.limits.admit(nth(0)).verdict, V::Admit);
  const auto d = f.limits.admit(nth(1));
  EXPECT_EQ(d.verdict, V::StartupsFull);
  EXPECT_EQ(d.count, 1u);
  // Once the first one authenticates, the slot is free again.
  f.limits.authenticated(nth(0));
  EXPECT_EQ(f.limits.unauthenticated(), 0u);
  EXPECT_EQ(f.limits.admit(nth(1)).verdict, V::Admit);
  // An unauthenticated connection that closes frees its slot too.
  f.limits.closed(nth(1), false);
  EXPECT_EQ(f.limits.admit(nth(2)).verdict, V::Admit);
  EXPECT_EQ(f.limits.connections(), 2u);
}

TEST(SourceLimits, PerSourceCapCountsOnlyUnauthenticatedConnections) {
  Fixture f(config({100, 30, 200}, 2));
  const auto a = v4("192.0.2.1");
  EXPECT_EQ(f.limits.admit(a).verdict, V::Admit);
  EXPECT_EQ(f.limits.admit(a).verdict, V::Admit);
  const auto d = f.limits.admit(a);
  EXPECT_EQ(d.verdict, V::TooManyFromSource);
  EXPECT_EQ(d.count, 2u);
  EXPECT_EQ(f.limits.admit(v4("192.0.2.2")).verdict, V::Admit) << "another source is not affected";
  f.limits.authenticated(a);
  EXPECT_EQ(f.limits.unauthenticatedFrom(a), 1u);
  EXPECT_EQ(f.limits.admit(a).verdict, V::Admit);
  f.limits.closed(a, true);  // the authenticated one
  EXPECT_EQ(f.limits.unauthenticatedFrom(a), 2u) << "closing an authenticated one frees no startup slot";
  f.limits.closed(a, false);
  f.limits.closed(a, false);
  EXPECT_EQ(f.limits.unauthenticatedFrom(a), 0u);
}

TEST(SourceLimits, Ipv6SourcesAreCountedByTheSlash64) {
  Fixture f(config({100, 30, 200}, 1));
  EXPECT_EQ(f.limits.admit(v6("2001:db8::1")).verdict, V::Admit);
  EXPECT_EQ(f.limits.admit(v6("2001:db8::2")).verdict, V::TooManyFromSource);
  EXPECT_EQ(f.limits.admit(v6("2001:db8:0:1::1")).verdict, V::Admit);
}

TEST(SourceLimits, TotalCapCountsAuthenticatedConnectionsToo) {
  Fixture f(config({100, 30, 200}, 100, 3));
  for (uint32_t i = 0; i < 3; ++i) {
    ASSERT_EQ(f.limits.admit(nth(i)).verdict, V::Admit);
    f.limits.authenticated(nth(i));
  }
  const auto d = f.limits.admit(nth(9));
  EXPECT_EQ(d.verdict, V::TooManyConnections);
  EXPECT_EQ(d.count, 3u);
  f.limits.closed(nth(0), true);
  EXPECT_EQ(f.limits.admit(nth(9)).verdict, V::Admit);
}

TEST(SourceLimits, FailedAuthenticationBarsTheSourceForThePenalty) {
  Fixture f(config());
  const auto a = v4("192.0.2.1");
  ASSERT_EQ(f.limits.admit(a).verdict, V::Admit);
  EXPECT_EQ(f.limits.authenticationFailed(a), 5000u);
  f.limits.closed(a, false);
  f.now = 1500;
  auto d = f.limits.admit(a);
  EXPECT_EQ(d.verdict, V::Penalized);
  EXPECT_EQ(d.penalty_left_ms, 3500u);
  EXPECT_EQ(f.limits.admit(v4("192.0.2.9")).verdict, V::Admit) << "other sources are served";
  // Refusals do not extend the penalty.
  for (int i = 0; i < 100; ++i) f.limits.admit(a);
  f.now = 5000;
  EXPECT_EQ(f.limits.admit(a).verdict, V::Admit);
  EXPECT_EQ(f.limits.authenticationFailed(a), 10000u) << "the second failure doubles it";
}

TEST(SourceLimits, PenaltiesCanBeTurnedOff) {
  AdmissionConfig c = config();
  c.penalty.base_ms = 0;
  Fixture f(c);
  const auto a = v4("192.0.2.1");
  ASSERT_EQ(f.limits.admit(a).verdict, V::Admit);
  EXPECT_EQ(f.limits.authenticationFailed(a), 0u);
  EXPECT_EQ(f.limits.admit(a).verdict, V::Admit);
}

// ---------------------------------------------------------------- LogThrottle

TEST(LogThrottle, LetsABurstThroughPerWindowAndCountsTheRest) {
  LogThrottle t(3, 1000);
  uint64_t held = 99;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(t.allow(0, held));
    EXPECT_EQ(held, 0u);
  }
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(t.allow(500, held));
  EXPECT_FALSE(t.allow(999, held));
  EXPECT_TRUE(t.allow(1000, held));
  EXPECT_EQ(held, 51u) << "the first line of the next window says how many were held back";
  EXPECT_TRUE(t.allow(1001, held));
  EXPECT_EQ(held, 0u);
}

}  // namespace
}  // namespace rx
