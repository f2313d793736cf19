#include "client/host_list.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <set>

#include <fmt/format.h>

namespace rx {
namespace {

constexpr int kMaxGroupDepth = 16;
constexpr size_t kMaxNumberDigits = 9;  // below 10^9: no overflow, and no host list needs more

bool isDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// "a-b", "a-b/step" or "a" inside brackets, each number kept as text for its padding.
struct RangePart {
  uint64_t first = 0, last = 0, step = 1;
  size_t width = 0;  // zero-padded to this many digits (0: no padding)
};

Status parseRangePart(std::string_view part, std::string_view pattern, RangePart& out) {
  std::string_view body = part;
  std::string_view step_text;
  if (const size_t slash = body.find('/'); slash != std::string_view::npos) {
    step_text = body.substr(slash + 1);
    body = body.substr(0, slash);
  }
  const size_t dash = body.find('-');
  const std::string_view a = body.substr(0, dash);
  const std::string_view b = dash == std::string_view::npos ? a : body.substr(dash + 1);
  if (!isDigits(a) || !isDigits(b) || (!step_text.empty() && !isDigits(step_text)) ||
      (body.find('/') != std::string_view::npos))
    return Status::Error(fmt::format("bad range \"{}\" in {} (expected N, N-M or N-M/STEP)", part, pattern));
  if (a.size() > kMaxNumberDigits || b.size() > kMaxNumberDigits || step_text.size() > kMaxNumberDigits)
    return Status::Error(fmt::format("number too long in {}", pattern));
  out.first = std::stoull(std::string(a));
  out.last = std::stoull(std::string(b));
  out.step = step_text.empty() ? 1 : std::stoull(std::string(step_text));
  if (out.step == 0) return Status::Error(fmt::format("range step 0 in {}", pattern));
  if (out.first > out.last)
    return Status::Error(fmt::format("bad range \"{}\" in {}: {} is above {}", part, pattern, a, b));
  // ClusterShell's rule: a leading zero makes the width of the first number the padding.
  out.width = a.size() > 1 && a[0] == '0' ? a.size() : 0;
  return Status::Ok();
}

// A bracket holding only digits, '-', '/' and ',' is a range; anything else ("[::1]") is text.
bool isRangeBody(std::string_view body) {
  return !body.empty() && std::all_of(body.begin(), body.end(), [](unsigned char c) {
    return std::isdigit(c) || c == '-' || c == ',' || c == '/';
  });
}

Status expandGroup(std::string_view name, const HostGroups& groups, int depth, std::vector<std::string>& out);

Status expandList(std::string_view list, const HostGroups& groups, int depth, std::vector<std::string>& out) {
  size_t start = 0;
  int bracket = 0;
  for (size_t i = 0; i <= list.size(); ++i) {
    if (i < list.size()) {
      if (list[i] == '[') ++bracket;
      if (list[i] == ']') --bracket;
      if (list[i] != ',' || bracket > 0) continue;
    }
    std::string_view item = list.substr(start, i - start);
    start = i + 1;
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front()))) item.remove_prefix(1);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back()))) item.remove_suffix(1);
    if (item.empty()) continue;
    Status s =
        item[0] == '@' ? expandGroup(item.substr(1), groups, depth + 1, out) : expandHostPattern(item, out);
    if (!s) return s;
  }
  return Status::Ok();
}

Status expandGroup(std::string_view name, const HostGroups& groups, int depth,
                   std::vector<std::string>& out) {
  if (depth > kMaxGroupDepth)
    return Status::Error(fmt::format("group @{} nests more than {} deep (a loop?)", name, kMaxGroupDepth));
  const auto it = groups.find(name);
  if (it == groups.end()) return Status::Error(fmt::format("unknown host group @{}", name));
  for (const std::string& item : it->second)
    if (Status s = expandList(item, groups, depth, out); !s) return s;
  return Status::Ok();
}

}  // namespace

Status expandHostPattern(std::string_view pattern, std::vector<std::string>& out) {
  for (unsigned char c : pattern)
    if (std::isspace(c) || c < 0x20 || c == 0x7f)
      return Status::Error(fmt::format("bad character in host \"{}\"", pattern));
  // Find the first range; expand it and recurse on the rest, so rack[1-2]-n[1-3] is a product.
  size_t open = 0;
  for (;;) {
    open = pattern.find('[', open);
    if (open == std::string_view::npos) break;
    const size_t close = pattern.find(']', open);
    if (close == std::string_view::npos) return Status::Error(fmt::format("unclosed '[' in {}", pattern));
    if (isRangeBody(pattern.substr(open + 1, close - open - 1))) break;
    open = close + 1;
  }
  if (open == std::string_view::npos) {
    if (pattern.find(']') != std::string_view::npos && pattern.find('[') == std::string_view::npos)
      return Status::Error(fmt::format("unmatched ']' in {}", pattern));
    // '/' is a range step inside brackets, and never part of a name (names become file names).
    if (pattern.find('/') != std::string_view::npos)
      return Status::Error(fmt::format("bad character in host \"{}\"", pattern));
    if (out.size() >= kMaxHosts) return Status::Error(fmt::format("more than {} hosts", kMaxHosts));
    out.emplace_back(pattern);
    return Status::Ok();
  }
  const size_t close = pattern.find(']', open);
  const std::string_view prefix = pattern.substr(0, open);
  const std::string_view body = pattern.substr(open + 1, close - open - 1);
  const std::string_view rest = pattern.substr(close + 1);
  std::vector<RangePart> parts;
  uint64_t count = 0;
  size_t start = 0;
  for (size_t i = 0; i <= body.size(); ++i) {
    if (i < body.size() && body[i] != ',') continue;
    RangePart part;
    if (Status s = parseRangePart(body.substr(start, i - start), pattern, part); !s) return s;
    start = i + 1;
    count += (part.last - part.first) / part.step + 1;
    // Checked before a single name is made: node[1-1000000000] fails at once.
    if (count > kMaxHosts || out.size() + count > kMaxHosts)
      return Status::Error(
          fmt::format("{} expands to more than {} hosts (the most one run takes)", pattern, kMaxHosts));
    parts.push_back(part);
  }
  for (const RangePart& part : parts) {
    for (uint64_t n = part.first; n <= part.last; n += part.step) {
      const std::string name = fmt::format("{}{:0{}}{}", prefix, n, part.width, rest);
      if (Status s = expandHostPattern(name, out); !s) return s;
    }
  }
  return Status::Ok();
}

Status expandHostList(std::string_view list, const HostGroups& groups, std::vector<std::string>& out) {
  return expandList(list, groups, 0, out);
}

namespace {

// Calls `each(line, number)` for every line of `text` (numbered from 1) with its # comment cut
// off, until `each` returns an error. The groups file and host files share this layout.
template <class Each>
Status forEachLine(std::string_view text, Each each) {
  int number = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++number;
    if (const size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    if (Status s = each(line, number); !s) return s;
  }
  return Status::Ok();
}

// Calls `each(word)` for every word of `text` split by white space, until it returns an error.
template <class Each>
Status forEachWord(std::string_view text, Each each) {
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) continue;
    if (i > start)
      if (Status s = each(text.substr(start, i - start)); !s) return s;
    start = i + 1;
  }
  return Status::Ok();
}

}  // namespace

Status parseHostGroups(std::string_view text, const std::string& origin, HostGroups& out) {
  return forEachLine(text, [&](std::string_view line, int number) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.remove_prefix(1);
    if (line.empty()) return Status::Ok();
    const size_t colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && std::isspace(static_cast<unsigned char>(name.back()))) name.remove_suffix(1);
    const bool good_name = !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
      return std::isalnum(c) || c == '_' || c == '-' || c == '.';
    });
    if (colon == std::string_view::npos || !good_name)
      return Status::Error(fmt::format("{} line {}: expected \"NAME: HOST...\"", origin, number));
    std::vector<std::string>& items = out[std::string(name)];
    items.clear();  // a later line for the same name replaces it
    return forEachWord(line.substr(colon + 1), [&items](std::string_view word) {
      items.emplace_back(word);
      return Status::Ok();
    });
  });
}

Status parseHostFile(std::string_view text, const std::string& origin, const HostGroups& groups,
                     std::vector<std::string>& out) {
  return forEachLine(text, [&](std::string_view line, int number) {
    // Words split by spaces: "node01 node02" on one line is two hosts, as pdsh -w ^FILE takes it.
    return forEachWord(line, [&](std::string_view word) {
      if (Status s = expandHostList(word, groups, out); !s)
        return Status::Error(fmt::format("{} line {}: {}", origin, number, s.message()));
      return Status::Ok();
    });
  });
}

void removeDuplicateHosts(std::vector<std::string>& hosts) {
  std::set<std::string_view> seen;
  std::vector<std::string> kept;
  kept.reserve(hosts.size());
  for (std::string& h : hosts) {
    if (seen.count(h)) continue;
    kept.push_back(std::move(h));
    seen.insert(kept.back());  // strings in `kept` never move again: reserved above
  }
  hosts = std::move(kept);
}

namespace {

// "08", "09", "10" -> "08-10"; numbers are joined when expanding the range gives them back: the
// same width when padded, any width when neither has a leading zero.
std::string foldNumbers(std::vector<std::string> numbers) {
  std::sort(numbers.begin(), numbers.end(), [](const std::string& a, const std::string& b) {
    const uint64_t x = std::stoull(a), y = std::stoull(b);
    return x != y ? x < y : a.size() < b.size();
  });
  numbers.erase(std::unique(numbers.begin(), numbers.end()), numbers.end());
  auto padded = [](const std::string& n) { return n.size() > 1 && n[0] == '0'; };
  std::string body;
  size_t i = 0;
  while (i < numbers.size()) {
    size_t j = i;
    while (j + 1 < numbers.size() && std::stoull(numbers[j + 1]) == std::stoull(numbers[j]) + 1 &&
           (numbers[j + 1].size() == numbers[i].size() || (!padded(numbers[i]) && !padded(numbers[j + 1]))))
      ++j;
    if (!body.empty()) body += ',';
    body += numbers[i];
    if (j > i) body += '-' + numbers[j];
    i = j + 1;
  }
  return body;
}

// The digit runs of a name, as [begin, end) pairs from the last one backwards.
std::vector<std::pair<size_t, size_t>> digitRunsFromEnd(const std::string& h) {
  std::vector<std::pair<size_t, size_t>> runs;
  size_t end = h.size();
  for (;;) {
    while (end > 0 && !std::isdigit(static_cast<unsigned char>(h[end - 1]))) --end;
    if (end == 0) break;
    size_t begin = end;
    while (begin > 0 && std::isdigit(static_cast<unsigned char>(h[begin - 1]))) --begin;
    runs.emplace_back(begin, end);
    end = begin;
  }
  return runs;
}

}  // namespace

std::string foldHosts(const std::vector<std::string>& input) {
  std::vector<std::string> hosts = input;
  removeDuplicateHosts(hosts);
  // Fold on the last number first (node[01-40]); names left alone there are tried on the number
  // before it, so 10.0.0.[1-9]:5513 folds on the address, not the port.
  std::vector<std::pair<size_t, std::string>> entries;  // first host's position, text
  std::vector<size_t> pending(hosts.size());
  for (size_t i = 0; i < hosts.size(); ++i) pending[i] = i;
  for (size_t run = 0; !pending.empty(); ++run) {
    std::map<std::pair<std::string, std::string>, std::vector<size_t>> by_shape;
    for (size_t i : pending) {
      const std::string& h = hosts[i];
      const auto runs = digitRunsFromEnd(h);
      // Names that hold brackets already stay as they are: folding them again would be ambiguous.
      if (run >= runs.size() || h.find_first_of("[]") != std::string::npos ||
          runs[run].second - runs[run].first > kMaxNumberDigits) {
        entries.emplace_back(i, h);
        continue;
      }
      by_shape[{h.substr(0, runs[run].first), h.substr(runs[run].second)}].push_back(i);
    }
    pending.clear();
    for (auto& [shape, members] : by_shape) {
      if (members.size() == 1) {
        pending.push_back(members[0]);  // alone here: tried again on the number before
        continue;
      }
      const auto& [prefix, suffix] = shape;
      std::vector<std::string> numbers;
      for (size_t i : members)
        numbers.push_back(hosts[i].substr(prefix.size(), hosts[i].size() - prefix.size() - suffix.size()));
      entries.emplace_back(*std::min_element(members.begin(), members.end()),
                           prefix + '[' + foldNumbers(std::move(numbers)) + ']' + suffix);
    }
  }
  std::sort(entries.begin(), entries.end());
  std::string out;
  for (const auto& [pos, text] : entries) {
    if (!out.empty()) out += ',';
    out += text;
  }
  return out;
}

}  // namespace rx
