#include "client/known_hosts.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "common/file_perms.h"
#include "common/limits.h"

namespace rx {

std::string knownHostLabel(const std::string& host, uint16_t port) {
  return port == kDefaultPort ? host : fmt::format("[{}]:{}", host, port);
}

std::string defaultKnownHostsPath() {
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg)
    return std::string(xdg) + "/rexec/known_hosts";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + "/.config/rexec/known_hosts";
}

Status lookupKnownHost(const std::string& path, const std::string& label, const std::string& fingerprint,
                       KnownHost& out) {
  out = KnownHost{};
  if (::access(path.c_str(), F_OK) != 0 && errno == ENOENT) return Status::Ok();
  // Whoever can write this file decides which servers we trust: refuse it when others can.
  std::string text;
  if (Status s = readCheckedFile(path, 16 * 1024 * 1024, FileAccess::NotWritable, text); !s) return s;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::istringstream words(line);
    std::string l, fp;
    if (!(words >> l) || l[0] == '#' || !(words >> fp)) continue;
    if (l != label) continue;
    if (fp == fingerprint) {
      out.state = KnownHost::State::Match;
      out.line = number;
      return Status::Ok();
    }
    // Keep looking: another line may hold the current key (after a planned key change).
    out.state = KnownHost::State::Mismatch;
    out.known_fingerprint = fp;
    out.line = number;
  }
  return Status::Ok();
}

Status addKnownHost(const std::string& path, const std::string& label, const std::string& fingerprint) {
  if (const size_t slash = path.rfind('/'); slash != std::string::npos && slash > 0) {
    const std::string dir = path.substr(0, slash);
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0 && mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
      return Status::Error(fmt::format("{}: {}", dir, std::strerror(errno)));
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Error(fmt::format("{}: {}", path, std::strerror(errno)));
  const std::string line = label + " " + fingerprint + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::close(fd);
  if (!ok) return Status::Error(fmt::format("{}: cannot write", path));
  return Status::Ok();
}

Status verifyHostKey(const HostKeyPolicy& policy, const std::string& label, const std::string& fingerprint) {
  KnownHost known;
  if (Status s = lookupKnownHost(policy.path, label, fingerprint, known); !s) return s;
  switch (known.state) {
    case KnownHost::State::Match:
      return Status::Ok();
    case KnownHost::State::Mismatch:
      return Status::Error(fmt::format(
          "HOST KEY CHANGED for {}: {} line {} says {}, the server offered {}. Someone may be intercepting "
          "the connection, or the host key was replaced; if you know it was, remove that line and connect "
          "again",
          label, policy.path, known.line, known.known_fingerprint, fingerprint));
    case KnownHost::State::Unknown:
      break;
  }
  bool trust = policy.accept_new;
  if (!trust && policy.ask) {
    trust =
        policy.ask(fmt::format("The host key of {} is not known yet.\nIts fingerprint is {}\n"
                               "(compare with `rexecd --print-fingerprint` on that host)\n"
                               "Trust it and remember it in {}? (yes/no) ",
                               label, fingerprint, policy.path));
    if (!trust) return Status::Error(fmt::format("host key of {} not accepted", label));
  }
  if (!trust)
    return Status::Error(fmt::format(
        "the host key of {} ({}) is not known; check it with `rexecd --print-fingerprint` on the host, then "
        "run once with --accept-new or add \"{} {}\" to {}",
        label, fingerprint, label, fingerprint, policy.path));
  if (Status s = addKnownHost(policy.path, label, fingerprint); !s) return s;
  const std::string line = fmt::format("added {} ({}) to {}", label, fingerprint, policy.path);
  if (policy.notice)
    policy.notice(line);
  else
    std::fprintf(stderr, "rexec: %s\n", line.c_str());
  return Status::Ok();
}

std::function<bool(const std::string&)> terminalAsker() {
  if (!isatty(STDIN_FILENO)) return {};
  return [](const std::string& question) {
    FILE* tty = std::fopen("/dev/tty", "r+");
    if (!tty) return false;
    std::fputs(question.c_str(), tty);
    std::fflush(tty);
    char answer[16] = "";
    const bool got = std::fgets(answer, sizeof answer, tty) != nullptr;
    std::fclose(tty);
    return got && (std::strcmp(answer, "yes\n") == 0 || std::strcmp(answer, "yes") == 0);
  };
}

}  // namespace rx
