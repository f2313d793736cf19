#pragma once
// Host lists as pdsh and ClusterShell write them: "a,b:5513,node[01-40],rack[1-2]-n[1,3-4]",
// expanded in order (zero padding kept: node[08-10] is node08 node09 node10), and folded back
// the same way for messages (node01 node02 node03 node07 -> node[01-03,07]). Pure functions,
// unit-tested without sockets.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace rx {

// No list grows beyond this many hosts: a typo like node[1-1000000] is an error, not a hang.
inline constexpr size_t kMaxHosts = 100000;

// Named groups, as in ~/.config/rexec/hosts: one "NAME: PATTERN..." per line (patterns split by
// spaces or commas, "@OTHER" refers to another group), '#' starts a comment.
using HostGroups = std::map<std::string, std::vector<std::string>, std::less<>>;

// One pattern (no top-level commas) to hosts, appended to `out`.
Status expandHostPattern(std::string_view pattern, std::vector<std::string>& out);

// A comma-separated list ("a,node[1-3,7],@web"); commas inside brackets belong to the range.
// "@NAME" expands the group NAME from `groups`.
Status expandHostList(std::string_view list, const HostGroups& groups, std::vector<std::string>& out);

// The groups file's text; `origin` names it in errors ("FILE line N: ...").
Status parseHostGroups(std::string_view text, const std::string& origin, HostGroups& out);

// A hosts file (-f): one pattern (or list) a line, '#' comments, blank lines ignored.
Status parseHostFile(std::string_view text, const std::string& origin, const HostGroups& groups,
                     std::vector<std::string>& out);

// Removes repeated entries, keeping the first of each (and the order).
void removeDuplicateHosts(std::vector<std::string>& hosts);

// The inverse of expandHostList for display: hosts sharing a name around their last number are
// folded into one range expression; order of first appearance kept between names.
std::string foldHosts(const std::vector<std::string>& hosts);

}  // namespace rx
