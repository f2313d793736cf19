#pragma once
// Bytes the process has allocated with malloc and not freed yet: what a test measures to see
// what an object holds on to. ASan replaces malloc (and glibc's counters then read zero), so
// under it the sanitizer's own count is used.
#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
// Exported by libasan; g++ 12 does not ship clang's <sanitizer/allocator_interface.h>.
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#else
#include <malloc.h>
#endif

namespace rx {

inline size_t liveHeapBytes() {
#if defined(__SANITIZE_ADDRESS__)
  return __sanitizer_get_current_allocated_bytes();
#else
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;  // in use in the heap, and in chunks of their own (mmap)
#endif
}

}  // namespace rx
