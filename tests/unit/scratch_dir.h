#pragma once
// A private folder for one test (mkdtemp: mode 0700), removed with everything in it when the test
// ends, even folders the test closed to itself.
#include <stdlib.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

namespace rx {

class ScratchDir {
 public:
  // `prefix`: the folder is /tmp/PREFIX.XXXXXX.
  explicit ScratchDir(const std::string& prefix) {
    std::string tmpl = "/tmp/" + prefix + ".XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr)
      path_ = tmpl;
    else
      ADD_FAILURE() << "mkdtemp " << tmpl << ": " << std::strerror(errno);
  }
  ~ScratchDir() {
    if (path_.empty()) return;
    namespace fs = std::filesystem;
    std::error_code ec;
    // The way back in first: a test may have taken its own permissions away.
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    for (auto it = fs::recursive_directory_iterator(path_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      if (it->is_directory(ec) && !it->is_symlink(ec))
        fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace rx
