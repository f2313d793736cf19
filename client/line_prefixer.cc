#include "client/line_prefixer.h"

#include <algorithm>

namespace rx {

LinePrefixer::LinePrefixer(std::string prefix, size_t max_line)
    : prefix_(std::move(prefix)), max_line_(std::max<size_t>(max_line, 1)) {}

void LinePrefixer::emit(std::string_view line, std::string& out) {
  out.append(prefix_);
  out.append(line);
  out.push_back('\n');
}

void LinePrefixer::feed(std::string_view data, std::string& out) {
  while (!data.empty()) {
    const size_t nl = data.find('\n');
    if (nl == std::string_view::npos) {
      // No newline yet: hold it, but never more than one line's bound.
      while (partial_.size() + data.size() >= max_line_) {
        const size_t take = max_line_ - partial_.size();
        partial_.append(data.substr(0, take));
        data.remove_prefix(take);
        emit(partial_, out);
        partial_.clear();
      }
      partial_.append(data);
      return;
    }
    if (partial_.empty()) {
      emit(data.substr(0, nl), out);
    } else {
      partial_.append(data.substr(0, nl));
      emit(partial_, out);
      partial_.clear();
    }
    data.remove_prefix(nl + 1);
  }
}

void LinePrefixer::finish(std::string& out) {
  if (partial_.empty()) return;
  emit(partial_, out);
  partial_.clear();
}

}  // namespace rx
