#pragma once
// The fan-out's part of rexec's command line: which hosts, how many at once, and where their
// output goes.
#include <cstdint>
#include <string>
#include <vector>

namespace rx {

struct FanoutOptions {
  std::vector<std::string> host_lists;  // -H LIST (repeatable)
  std::vector<std::string> host_files;  // -f FILE (repeatable)
  std::vector<std::string> groups;      // -g NAME[,NAME] (repeatable)
  std::string groups_file;              // --groups-file (default ~/.config/rexec/hosts)
  unsigned fanout = 64;                 // --fanout: hosts running at once
  bool fail_fast = false;
  bool gather = false;
  std::string out_dir;
  bool json = false;
  uint64_t gather_limit = 4 * 1024 * 1024;  // --gather-limit: bytes held per host
  // -S PATH with %h: each host through its own master there when one answers, else directly.
  std::string control_path;
  // --persist with -S: a host whose command ran directly gets a master started there for the next
  // runs (client/background_masters.h), which exits after this long without a client.
  double persist_s = 0;
  // What such a master is given besides -M, -S, --persist and its host: the run's key file, known
  // hosts and connect timeout.
  std::vector<std::string> master_options;

  // Any of -H, -f, -g selects the fan-out (even for one host): its output is always labelled.
  bool enabled() const { return !host_lists.empty() || !host_files.empty() || !groups.empty(); }
};

std::string defaultGroupsPath();

}  // namespace rx
