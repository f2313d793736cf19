#include "common/file_perms.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace rx {

Status readCheckedFile(const std::string& path, size_t max_size, FileAccess access, std::string& contents,
                       mode_t* mode) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return Status::Error(fmt::format("{}: {}", path, std::strerror(errno)));
  struct stat st {};
  Status result = Status::Ok();
  if (::fstat(fd, &st) != 0) {
    result = Status::Error(fmt::format("{}: {}", path, std::strerror(errno)));
  } else if (!S_ISREG(st.st_mode)) {
    result = Status::Error(fmt::format("{}: not a regular file", path));
  } else if (access == FileAccess::Secret && (st.st_mode & 077) != 0) {
    result = Status::Error(
        fmt::format("{}: permissions {:04o} are too open; it holds a secret key and must not be accessible "
                    "by group or others (chmod 600 {})",
                    path, st.st_mode & 07777, path));
  } else if (access == FileAccess::NotWritable && (st.st_mode & 022) != 0) {
    result = Status::Error(fmt::format(
        "{}: permissions {:04o} are too open; it must not be writable by group or others (chmod go-w {})",
        path, st.st_mode & 07777, path));
  } else if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    result =
        Status::Error(fmt::format("{}: owned by uid {}, expected {} or root", path, st.st_uid, ::geteuid()));
  } else if (static_cast<size_t>(st.st_size) > max_size) {
    result = Status::Error(fmt::format("{}: larger than {} bytes", path, max_size));
  } else {
    contents.clear();
    char buf[8192];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        result = Status::Error(fmt::format("{}: {}", path, std::strerror(errno)));
        break;
      }
      if (n == 0) break;
      contents.append(buf, static_cast<size_t>(n));
      if (contents.size() > max_size) {
        result = Status::Error(fmt::format("{}: larger than {} bytes", path, max_size));
        break;
      }
    }
  }
  ::close(fd);
  if (mode) *mode = st.st_mode & 07777;
  return result;
}

Status writeNewPrivateFile(const std::string& path, const std::string& contents) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::Error(fmt::format("{}: {}", path, std::strerror(errno)));
  // The umask could only narrow 0600, but be explicit: the file must be exactly 0600.
  ::fchmod(fd, 0600);
  size_t off = 0;
  while (off < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + off, contents.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(path.c_str());
      return Status::Error(fmt::format("{}: {}", path, std::strerror(err)));
    }
    off += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  const int sync_errno = errno;
  if (::close(fd) != 0 || !synced)
    return Status::Error(fmt::format("{}: {}", path, std::strerror(synced ? errno : sync_errno)));
  return Status::Ok();
}

}  // namespace rx
