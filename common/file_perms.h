#pragma once
#include <string>

#include "common/status.h"

namespace rx {

// Reads a file that holds secrets, as OpenSSH's StrictModes would accept it: a regular file,
// owned by us or root, with no permission bits for group or others. The checks run on the open
// descriptor (fstat), so the file cannot be swapped between check and read.
Status readPrivateFile(const std::string& path, size_t max_size, std::string& contents);

}  // namespace rx
