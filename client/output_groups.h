#pragma once
// --gather: hosts whose output (stdout, stderr) and outcome are identical form one group, printed
// once under its host list, as `dshbak -c` and `clush -b` do. Each distinct output is held once.
#include <cstddef>
#include <string>
#include <vector>

#include "client/host_capture.h"

namespace rx {

class OutputGroups {
 public:
  struct Group {
    std::vector<size_t> hosts;  // indexes into the run's host list, ascending
    std::string out, err;
    std::string outcome;  // e.g. "exit 0", "exit 124 (timed out)"
    bool cut = false;
  };

  // Adds host `index` (its capture is consumed).
  void add(size_t index, HostCapture&& capture, const std::string& outcome);
  // The groups in the order of their first host.
  std::vector<const Group*> ordered() const;

 private:
  std::vector<Group> groups_;
  std::vector<size_t> hashes_;
};

// The gathered report: for each group a header naming its hosts (folded into ranges) and the
// outcome, then its stdout on `out` and its stderr (under the same header) on `err`.
void renderGroups(const OutputGroups& groups, const std::vector<std::string>& labels, std::string& out,
                  std::string& err);

}  // namespace rx
