#include "common/log.h"

#include <unistd.h>

#include <cerrno>
#include <string>

namespace rx::log {
namespace {
Level g_max = Level::Info;
}

void setMaxLevel(Level level) { g_max = level; }
bool enabled(Level level) { return static_cast<int>(level) <= static_cast<int>(g_max); }

void write(Level level, std::string_view line) {
  if (!enabled(level)) return;
  // Built by append, not "<" + to_string(...) + ">": that form trips g++ 12's false -Wrestrict
  // at -O3 (GCC bug 105329), which -Werror turns into a failed Release build.
  std::string out;
  out.reserve(line.size() + 5);
  out.push_back('<');
  out.push_back(static_cast<char>('0' + static_cast<int>(level)));
  out.push_back('>');
  out.append(line);
  out.push_back('\n');
  // One write() per line so lines from concurrent writers never interleave. A full stderr
  // blocks the daemon briefly rather than losing audit lines.
  size_t off = 0;
  while (off < out.size()) {
    const ssize_t n = ::write(STDERR_FILENO, out.data() + off, out.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

}  // namespace rx::log
