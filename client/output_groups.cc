#include "client/output_groups.h"

#include <algorithm>
#include <functional>

#include <fmt/format.h>

#include "client/host_list.h"

namespace rx {
namespace {

size_t hashOf(const HostCapture& c, const std::string& outcome) {
  const std::hash<std::string> h;
  return h(c.out) ^ (h(c.err) * 31) ^ (h(outcome) * 131) ^ (c.cut ? 0x9e3779b9u : 0);
}

void appendBlock(const std::string& header, const std::string& body, std::string& to) {
  const std::string rule(std::min<size_t>(std::max<size_t>(header.size(), 15), 78), '-');
  to += rule + '\n' + header + '\n' + rule + '\n' + body;
  if (!body.empty() && body.back() != '\n') to += '\n';
}

}  // namespace

void OutputGroups::add(size_t index, HostCapture&& capture, const std::string& outcome) {
  const size_t hash = hashOf(capture, outcome);
  for (size_t g = 0; g < groups_.size(); ++g) {
    Group& group = groups_[g];
    if (hashes_[g] == hash && group.cut == capture.cut && group.outcome == outcome &&
        group.out == capture.out && group.err == capture.err) {
      group.hosts.insert(std::upper_bound(group.hosts.begin(), group.hosts.end(), index), index);
      return;
    }
  }
  groups_.push_back(Group{{index}, std::move(capture.out), std::move(capture.err), outcome, capture.cut});
  hashes_.push_back(hash);
}

std::vector<const OutputGroups::Group*> OutputGroups::ordered() const {
  std::vector<const Group*> all;
  for (const Group& g : groups_) all.push_back(&g);
  std::sort(all.begin(), all.end(), [](const Group* a, const Group* b) { return a->hosts[0] < b->hosts[0]; });
  return all;
}

void renderGroups(const OutputGroups& groups, const std::vector<std::string>& labels, std::string& out,
                  std::string& err) {
  for (const OutputGroups::Group* g : groups.ordered()) {
    std::vector<std::string> names;
    for (size_t i : g->hosts) names.push_back(labels[i]);
    const std::string header =
        fmt::format("{} ({} host{}, {}{})", foldHosts(names), names.size(), names.size() == 1 ? "" : "s",
                    g->outcome, g->cut ? ", output cut at --gather-limit" : "");
    appendBlock(header, g->out, out);
    if (!g->err.empty()) appendBlock(header + " stderr", g->err, err);
  }
}

}  // namespace rx
