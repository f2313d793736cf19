#include "client/fanout_targets.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "client/fanout_options.h"
#include "client/host_list.h"
#include "common/file_perms.h"
#include "common/limits.h"

namespace rx {
namespace {

constexpr size_t kMaxListFile = 16 * 1024 * 1024;

// A host list given on the command line may be any readable file (a pipe too: -f <(...)).
Status readListFile(const std::string& path, std::string& text) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return Status::Error(fmt::format("{}: {}", path, std::strerror(errno)));
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    if (text.size() + n > kMaxListFile) {
      std::fclose(f);
      return Status::Error(fmt::format("{}: larger than {} bytes", path, kMaxListFile));
    }
    text.append(buf, n);
  }
  const bool failed = std::ferror(f);
  std::fclose(f);
  if (failed) return Status::Error(fmt::format("{}: read error", path));
  return Status::Ok();
}

bool wantsGroups(const FanoutOptions& o) {
  if (!o.groups.empty()) return true;
  for (const auto& l : o.host_lists)
    if (l.find('@') != std::string::npos) return true;
  return !o.host_files.empty();  // a hosts file may name groups too: read it when present
}

}  // namespace

std::string defaultGroupsPath() {
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg) return std::string(xdg) + "/rexec/hosts";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + "/.config/rexec/hosts";
}

Status collectFanoutTargets(const FanoutOptions& options, std::vector<FanoutTarget>& out) {
  HostGroups groups;
  if (wantsGroups(options)) {
    const std::string path = options.groups_file.empty() ? defaultGroupsPath() : options.groups_file;
    std::string text;
    // Who can write this file chooses where our commands run: refuse it when others can.
    Status s = readCheckedFile(path, kMaxListFile, FileAccess::NotWritable, text);
    // Without -g or @NAME a missing groups file is no error (a hosts file only may name groups).
    if (s) {
      if (Status p = parseHostGroups(text, path, groups); !p) return p;
    } else if (!options.groups.empty() || !options.groups_file.empty()) {
      return s;
    } else {
      for (const auto& l : options.host_lists)
        if (l.find('@') != std::string::npos) return s;
    }
  }
  std::vector<std::string> names;
  for (const auto& list : options.host_lists)
    if (Status s = expandHostList(list, groups, names); !s) return s;
  for (const auto& file : options.host_files) {
    std::string text;
    if (Status s = readListFile(file, text); !s) return s;
    if (Status s = parseHostFile(text, file, groups, names); !s) return s;
  }
  for (const auto& g : options.groups) {
    // -g a,b is two groups.
    std::string list;
    size_t start = 0;
    for (size_t i = 0; i <= g.size(); ++i) {
      if (i < g.size() && g[i] != ',') continue;
      if (i > start) list += (list.empty() ? "@" : ",@") + g.substr(start, i - start);
      start = i + 1;
    }
    if (Status s = expandHostList(list, groups, names); !s) return s;
  }
  if (names.size() > kMaxHosts) return Status::Error(fmt::format("more than {} hosts", kMaxHosts));
  removeDuplicateHosts(names);
  // The same host written two ways ("h" and "h:5512") is still one host.
  std::set<std::pair<std::string, uint16_t>> seen;
  for (auto& name : names) {
    FanoutTarget t;
    if (Status s = parseHostPort(name, kDefaultPort, t.address); !s)
      return Status::Error(fmt::format("host {}: {}", name, s.message()));
    if (!seen.insert({t.address.host, t.address.port}).second) continue;
    t.label = std::move(name);
    out.push_back(std::move(t));
  }
  if (out.empty()) return Status::Error("the host list is empty");
  return Status::Ok();
}

}  // namespace rx
