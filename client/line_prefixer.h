#pragma once
// One host's stdout or stderr as whole lines, each prefixed with the host ("node07: text\n"), for
// the fan-out's live output. A partial line is held until its newline (or the end of the stream,
// where it gets a newline added), so a line of one host is never cut by another host's. A line
// longer than `max_line` is let out in pieces of that size, each ended with a newline, so one host
// cannot make us hold unbounded memory.
#include <cstddef>
#include <string>
#include <string_view>

namespace rx {

class LinePrefixer {
 public:
  static constexpr size_t kDefaultMaxLine = 64 * 1024;

  explicit LinePrefixer(std::string prefix, size_t max_line = kDefaultMaxLine);

  // Appends to `out` every line `data` completes, each as prefix + line + '\n'.
  void feed(std::string_view data, std::string& out);
  // End of the stream: what is held, with a newline added.
  void finish(std::string& out);
  size_t held() const { return partial_.size(); }

 private:
  void emit(std::string_view line, std::string& out);

  std::string prefix_;
  size_t max_line_;
  std::string partial_;
};

}  // namespace rx
