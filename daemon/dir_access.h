#pragma once
// Whether a command that runs as another user (key option user=) may work in a directory.
//
// Why the daemon checks this itself: libuv's child calls chdir() while it is still root and only
// then changes user, so the kernel would happily put a `nobody` command inside /root/private.
// access(2) cannot answer either, because it asks about the daemon's own (root) identity.
//
// The rule, kept simple: the directory must exist, and every directory on its canonical path
// (symbolic links resolved, from "/" down to the directory itself) must grant search permission
// (x) to uid/gid by its mode bits, in the kernel's order (owner bits if uid owns it, else group
// bits if gid is its group, else the bits for others). Only the primary gid counts, because the
// command has no supplementary groups (see Credentials in daemon/launcher.h). uid 0 may use any
// directory. POSIX ACLs are not consulted: a directory opened to the user only by an ACL is
// refused (an administrator can open it with mode bits, or not set user=).
#include <sys/types.h>

#include <string>

namespace rx {

bool dirUsableBy(const std::string& dir, uid_t uid, gid_t gid);

}  // namespace rx
