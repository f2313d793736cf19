#pragma once
#include <sys/types.h>

#include <string>

#include "common/status.h"

namespace rx {

enum class FileAccess {
  Secret,       // no permission bits at all for group or others (chmod 600)
  NotWritable,  // group and others may read, never write (chmod 644 at most)
};

// Reads a file that holds keys, checked as OpenSSH's StrictModes would: a regular file, owned by
// us or root, with the permissions `access` allows. The checks run on the open descriptor
// (fstat), so the file cannot be swapped between check and read. `mode` gets the permission bits.
Status readCheckedFile(const std::string& path, size_t max_size, FileAccess access, std::string& contents,
                       mode_t* mode = nullptr);

inline Status readPrivateFile(const std::string& path, size_t max_size, std::string& contents) {
  return readCheckedFile(path, max_size, FileAccess::Secret, contents);
}

// Writes a new file with mode 0600 (O_EXCL: never overwrites), synced to disk.
Status writeNewPrivateFile(const std::string& path, const std::string& contents);

}  // namespace rx
