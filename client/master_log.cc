#include "client/master_log.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

namespace rx {
namespace {

int g_log_fd = -1;

}  // namespace

Status openMasterLog(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd < 0) return Status::Error(fmt::format("-E {}: {}", path, std::strerror(errno)));
  if (g_log_fd >= 0) ::close(g_log_fd);
  g_log_fd = fd;
  return Status::Ok();
}

void masterSay(const std::string& line) {
  std::fprintf(stderr, "rexec: %s\n", line.c_str());
  masterLog(line);
}

void masterLog(const std::string& line) {
  if (g_log_fd < 0) return;
  const time_t now = time(nullptr);
  tm local{};
  localtime_r(&now, &local);
  char when[32];
  strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &local);
  // One write per line (O_APPEND): lines of masters sharing the file never mix.
  const std::string text = fmt::format("{} rexec[{}]: {}\n", when, getpid(), line);
  while (::write(g_log_fd, text.data(), text.size()) < 0 && errno == EINTR) {
  }
}

}  // namespace rx
