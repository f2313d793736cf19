#include "daemon/config_file.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace rx {
namespace {

std::string optionName(const std::string& key) {
  std::string name = "--" + key;
  std::replace(name.begin(), name.end(), '_', '-');
  return name;
}

// A scalar as the command line would spell it; nullopt for tables and arrays.
std::optional<std::string> scalarWord(const toml::node& n) {
  if (auto s = n.value<std::string>()) return *s;
  if (n.is_integer()) return std::to_string(*n.value<int64_t>());
  if (n.is_floating_point()) return fmt::format("{}", *n.value<double>());
  if (n.is_boolean()) return *n.value<bool>() ? "true" : "false";
  return std::nullopt;
}

}  // namespace

ConfigWords configFileWords(const std::string& path, const CLI::App& app, bool optional) {
  ConfigWords out;
  {
    std::ifstream probe(path);
    if (!probe) {
      if (!(optional && errno == ENOENT))
        out.problems.push_back(fmt::format("{}: {}", path, std::strerror(errno)));
      return out;
    }
  }
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    out.problems.push_back(
        fmt::format("{}:{}:{}: {}", path, e.source().begin.line, e.source().begin.column, e.description()));
    return out;
  }
  for (const auto& [key_view, node] : table) {
    const std::string key(key_view.str());
    const auto& pos = node.source().begin;
    const std::string at = fmt::format("{}:{}", path, pos.line);
    const std::string name = optionName(key);
    const CLI::Option* opt = app.get_option_no_throw(name);
    if (!opt || std::find(kNotInConfig.begin(), kNotInConfig.end(), name) != kNotInConfig.end()) {
      out.problems.push_back(fmt::format("{}: unknown key '{}'", at, key));
      continue;
    }
    if (opt->count() > 0) continue;  // given on the command line, which wins
    out.where[name] = fmt::format("{}:{}: {}", path, pos.line, key);
    const bool is_flag = opt->get_expected_min() == 0;
    if (is_flag) {
      if (!node.is_boolean()) {
        out.problems.push_back(fmt::format("{}: '{}' takes true or false", at, key));
      } else if (*node.value<bool>()) {
        out.words.push_back(name);
      }
      continue;
    }
    if (const toml::array* arr = node.as_array()) {
      if (opt->get_expected_max() <= 1) {
        out.problems.push_back(fmt::format("{}: '{}' takes one value, not a list", at, key));
        continue;
      }
      for (const auto& item : *arr) {
        auto word = scalarWord(item);
        if (!word) {
          out.problems.push_back(fmt::format("{}: '{}' must be a list of plain values", at, key));
          break;
        }
        out.words.push_back(name);
        out.words.push_back(*word);
      }
      continue;
    }
    auto word = scalarWord(node);
    if (!word) {
      out.problems.push_back(fmt::format("{}: '{}' must be a plain value", at, key));
      continue;
    }
    out.words.push_back(name);
    out.words.push_back(*word);
  }
  return out;
}

}  // namespace rx
