#include "daemon/dir_access.h"

#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <memory>

namespace rx {
namespace {

bool searchable(const struct stat& st, uid_t uid, gid_t gid) {
  if (!S_ISDIR(st.st_mode)) return false;
  if (uid == 0) return true;
  if (st.st_uid == uid) return (st.st_mode & S_IXUSR) != 0;
  if (st.st_gid == gid) return (st.st_mode & S_IXGRP) != 0;
  return (st.st_mode & S_IXOTH) != 0;
}

}  // namespace

bool dirUsableBy(const std::string& dir, uid_t uid, gid_t gid) {
  if (dir.empty() || dir.find('\0') != std::string::npos) return false;
  std::unique_ptr<char, decltype(&std::free)> real(::realpath(dir.c_str(), nullptr), &std::free);
  if (!real) return false;
  const std::string path = real.get();  // absolute, no symlinks, no "." or ".."
  size_t end = 0;
  while (true) {
    // "/" first, then "/a", "/a/b", ... and finally the whole path.
    const std::string prefix = end == 0 ? "/" : path.substr(0, end);
    struct stat st {};
    if (::stat(prefix.c_str(), &st) != 0 || !searchable(st, uid, gid)) return false;
    if (end == path.size()) return true;
    end = path.find('/', end + 1);
    if (end == std::string::npos) end = path.size();
  }
}

}  // namespace rx
