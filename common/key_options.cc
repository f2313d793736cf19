#include "common/key_options.h"

#include <charconv>

#include <fmt/format.h>

#include "common/encoding.h"

namespace rx {

bool validEnvName(std::string_view name) {
  if (name.empty() || name.size() > 256) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok =
        c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}
namespace {

struct RawOption {
  std::string name;
  std::optional<std::string> value;  // unquoted and unescaped
};

std::string_view trimBlanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// An option name for an error message: as written when it is a plain word, else quoted and
// escaped (it may be any bytes).
std::string nameForError(std::string_view name) {
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return quoteForLog(name);
  return std::string(name);
}

// Reads a double-quoted value starting at text[pos] == '"'; pos ends after the closing quote.
Status readQuoted(std::string_view text, size_t& pos, std::string& value) {
  for (++pos; pos < text.size(); ++pos) {
    const char c = text[pos];
    if (c == '"') {
      ++pos;
      return Status::Ok();
    }
    if (c == '\\' && pos + 1 < text.size() && (text[pos + 1] == '"' || text[pos + 1] == '\\')) ++pos;
    value.push_back(text[pos]);
  }
  return Status::Error("the closing double quote is missing");
}

// Splits "a,b=c,d=\"x,y\"" into options.
Status splitOptions(std::string_view text, std::vector<RawOption>& out) {
  size_t pos = 0;
  while (true) {
    RawOption opt;
    const size_t name_end = text.find_first_of("=,", pos);
    opt.name = std::string(text.substr(pos, name_end - pos));
    if (opt.name.empty())
      return Status::Error(pos == 0 ? "empty option at the start" : "empty option after ','");
    pos = name_end == std::string_view::npos ? text.size() : name_end;
    if (pos < text.size() && text[pos] == '=') {
      ++pos;
      std::string value;
      if (pos < text.size() && text[pos] == '"') {
        if (Status s = readQuoted(text, pos, value); !s)
          return Status::Error(fmt::format("option {}: {}", nameForError(opt.name), s.message()));
        if (pos < text.size() && text[pos] != ',')
          return Status::Error(fmt::format("option {}: unexpected text after the closing double quote",
                                           nameForError(opt.name)));
      } else {
        const size_t end = text.find(',', pos);
        value = std::string(text.substr(pos, end - pos));
        pos = end == std::string_view::npos ? text.size() : end;
        if (value.find('"') != std::string::npos)
          return Status::Error(
              fmt::format("option {}: a double quote inside a value must open it", nameForError(opt.name)));
      }
      opt.value = std::move(value);
    }
    out.push_back(std::move(opt));
    if (pos >= text.size()) return Status::Ok();
    ++pos;  // the comma
    if (pos >= text.size()) return Status::Error("empty option after ','");
  }
}

// Splits a comma-separated list inside one option's value; blanks around items are ignored.
std::vector<std::string_view> splitList(std::string_view value) {
  std::vector<std::string_view> items;
  while (true) {
    const size_t comma = value.find(',');
    items.push_back(trimBlanks(value.substr(0, comma)));
    if (comma == std::string_view::npos) return items;
    value.remove_prefix(comma + 1);
  }
}

bool validEnvPattern(std::string_view p) {
  if (!p.empty() && p.back() == '*') p.remove_suffix(1);
  return validEnvName(p);
}

Status parseCommand(const std::string& value, KeyOptions& out) {
  if (value.empty()) return Status::Error("the command is empty");
  if (value.find('\0') != std::string::npos) return Status::Error("the command contains a NUL byte");
  out.command = value;
  return Status::Ok();
}

Status parseFrom(const std::string& value, KeyOptions& out) {
  for (std::string_view item : splitList(value)) {
    if (item.empty()) return Status::Error("an empty address in the list");
    Cidr block;
    if (Status s = parseCidr(item, block); !s) return s;
    out.from.push_back(block);
  }
  return Status::Ok();
}

Status parseUser(const std::string& value, KeyOptions& out) {
  RunAsUser user;
  if (Status s = lookupRunAsUser(value, user); !s) return s;
  out.user = std::move(user);
  return Status::Ok();
}

Status parseEnv(const std::string& value, KeyOptions& out) {
  std::vector<std::string> patterns;
  if (!trimBlanks(value).empty()) {
    for (std::string_view item : splitList(value)) {
      // A lone "*" would let the client set LD_PRELOAD, PATH and the like, and so run its own
      // code under a forced command.
      if (item == "*")
        return Status::Error("\"*\" would accept every name (LD_PRELOAD too); list names or PREFIX*");
      if (!validEnvPattern(item))
        return Status::Error(fmt::format("{} is not a variable name or PREFIX*", quoteForLog(item)));
      patterns.emplace_back(item);
    }
  }
  out.env = std::move(patterns);
  return Status::Ok();
}

Status parseMaxJobs(const std::string& value, KeyOptions& out) {
  size_t n = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || ec != std::errc() || ptr != value.data() + value.size() || n < 1 ||
      n > kMaxKeyOptionJobs)
    return Status::Error(
        fmt::format("{} is not a whole number from 1 to {}", quoteForLog(value), kMaxKeyOptionJobs));
  out.max_jobs = n;
  return Status::Ok();
}

struct OptionSpec {
  std::string_view name;
  bool takes_value;
  Status (*parse)(const std::string& value, KeyOptions& out);  // null for flags
};

Status setNoStdin(const std::string&, KeyOptions& out) {
  out.no_stdin = true;
  return Status::Ok();
}

Status setNoPty(const std::string&, KeyOptions& out) {
  out.no_pty = true;
  return Status::Ok();
}

constexpr OptionSpec kOptions[] = {
    {"command", true, parseCommand}, {"from", true, parseFrom},       {"user", true, parseUser},
    {"env", true, parseEnv},         {"no-stdin", false, setNoStdin}, {"max-jobs", true, parseMaxJobs},
    {"no-pty", false, setNoPty},
};

}  // namespace

bool KeyOptions::allowsSource(const std::optional<IpAddress>& peer) const {
  if (from.empty()) return true;
  if (!peer) return false;
  for (const Cidr& block : from)
    if (cidrContains(block, *peer)) return true;
  return false;
}

Status parseKeyOptions(std::string_view text, KeyOptions& out) {
  out = KeyOptions{};
  if (text.empty()) return Status::Ok();
  std::vector<RawOption> raw;
  if (Status s = splitOptions(text, raw); !s) return s;
  std::vector<std::string_view> seen;
  KeyOptions parsed;
  for (const RawOption& opt : raw) {
    const OptionSpec* spec = nullptr;
    for (const OptionSpec& candidate : kOptions)
      if (candidate.name == opt.name) spec = &candidate;
    if (spec == nullptr)
      return Status::Error(
          fmt::format("unknown option {} (known: command, from, user, env, no-stdin, no-pty, max-jobs)",
                      quoteForLog(opt.name)));
    for (std::string_view s : seen)
      if (s == spec->name) return Status::Error(fmt::format("option {} appears twice", spec->name));
    seen.push_back(spec->name);
    if (spec->takes_value && !opt.value)
      return Status::Error(fmt::format("option {} needs a value ({}=...)", spec->name, spec->name));
    if (!spec->takes_value && opt.value)
      return Status::Error(fmt::format("option {} takes no value", spec->name));
    if (Status s = spec->parse(opt.value.value_or(""), parsed); !s)
      return Status::Error(fmt::format("option {}: {}", spec->name, s.message()));
  }
  out = std::move(parsed);
  return Status::Ok();
}

}  // namespace rx
