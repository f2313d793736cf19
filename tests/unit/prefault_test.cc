// prefaultOwnCode(): the executable's code is in the page tables afterwards, all of it.
#include "client/prefault.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

namespace {

struct Mapping {
  bool found = false;
  uint64_t size_kb = 0;
  uint64_t rss_kb = 0;
};

// The /proc/self/smaps entry of the mapping that holds `addr`.
Mapping mappingOf(const void* addr) {
  const auto a = reinterpret_cast<uintptr_t>(addr);
  std::ifstream in("/proc/self/smaps");
  Mapping m;
  bool inside = false;
  std::string line;
  while (std::getline(in, line)) {
    // A mapping's entry starts with its address range; none of its field lines ("Size:",
    // "AnonHugePages:"...) reads as one.
    unsigned long begin = 0, end = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &begin, &end) == 2) {
      inside = begin <= a && a < end;
      if (inside) m.found = true;
      continue;
    }
    if (!inside) continue;
    unsigned long kb = 0;
    if (std::sscanf(line.c_str(), "Size: %lu kB", &kb) == 1) m.size_kb = kb;
    if (std::sscanf(line.c_str(), "Rss: %lu kB", &kb) == 1) m.rss_kb = kb;
  }
  return m;
}

TEST(Prefault, MapsAllOfTheExecutablesCode) {
  // This test binary's code is many MB; a test process has run a small part of it.
  const void* code = reinterpret_cast<const void*>(&rx::prefaultOwnCode);
  const Mapping before = mappingOf(code);
  ASSERT_TRUE(before.found);
  ASSERT_GT(before.size_kb, 1024u);
  EXPECT_LT(before.rss_kb, before.size_kb) << "already all mapped: the test would prove nothing";

  EXPECT_TRUE(rx::prefaultOwnCode());
  const Mapping after = mappingOf(code);
  EXPECT_EQ(after.rss_kb, after.size_kb);
}

}  // namespace
