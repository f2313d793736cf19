#pragma once
// The fan-out's host list from -H, -f and -g: expanded, duplicates removed (first kept), each
// parsed as HOST[:PORT].
#include <string>
#include <vector>

#include "client/fanout_options.h"
#include "common/net_address.h"
#include "common/status.h"

namespace rx {

struct FanoutTarget {
  std::string label;  // as the list gave it: output prefixes, file names, summary
  HostPort address;
};

// Reads the groups file only when a group is asked for (-g or @NAME); a missing file is then an
// error naming it.
Status collectFanoutTargets(const FanoutOptions& options, std::vector<FanoutTarget>& out);

}  // namespace rx
