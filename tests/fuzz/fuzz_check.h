#pragma once
// Invariant checks for the fuzz targets: a violation names itself on stderr and traps, which
// libFuzzer reports as a crash (and saves the input that caused it).
#include <cstdio>

#define RX_FUZZ_CHECK(cond)                                                               \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #cond); \
      __builtin_trap();                                                                   \
    }                                                                                     \
  } while (0)
