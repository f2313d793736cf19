#include "common/run_as_user.h"

#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "common/encoding.h"

namespace rx {

Status lookupRunAsUser(std::string_view name, RunAsUser& out) {
  if (name.empty()) return Status::Error("empty user name");
  if (name.find('\0') != std::string_view::npos)
    return Status::Error(fmt::format("no such user {}", quoteForLog(name)));
  const std::string n(name);
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<size_t>(size) : 16384);
  passwd pw{};
  passwd* found = nullptr;
  int err = 0;
  while ((err = ::getpwnam_r(n.c_str(), &pw, buf.data(), buf.size(), &found)) == ERANGE)
    buf.resize(buf.size() * 2);
  if (err != 0)
    return Status::Error(fmt::format("cannot look up user {}: {}", quoteForLog(name), std::strerror(err)));
  if (found == nullptr) return Status::Error(fmt::format("no such user {}", quoteForLog(name)));
  out.name = pw.pw_name;
  out.uid = pw.pw_uid;
  out.gid = pw.pw_gid;
  out.home = pw.pw_dir && *pw.pw_dir ? pw.pw_dir : "/";
  out.shell = pw.pw_shell && *pw.pw_shell ? pw.pw_shell : "/bin/sh";
  return Status::Ok();
}

Status checkMayRunAs(const RunAsUser& user, uid_t daemon_euid) {
  if (daemon_euid == 0 || user.uid == daemon_euid) return Status::Ok();
  return Status::Error(
      fmt::format("user={}: the daemon runs as uid {}, not root, so it can only run commands as itself",
                  user.name, daemon_euid));
}

}  // namespace rx
