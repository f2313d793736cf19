#pragma once
// Server key pinning, as OpenSSH's known_hosts: one "LABEL SHA256:fingerprint" per line, where
// LABEL is the host as typed, or "[host]:port" for a port other than 5512.
#include <functional>
#include <string>

#include "common/status.h"

namespace rx {

std::string knownHostLabel(const std::string& host, uint16_t port);
std::string defaultKnownHostsPath();

struct KnownHost {
  enum class State { Match, Unknown, Mismatch } state = State::Unknown;
  std::string known_fingerprint;  // with Mismatch
  int line = 0;                   // with Match and Mismatch
};

// A missing file means every host is unknown.
Status lookupKnownHost(const std::string& path, const std::string& label, const std::string& fingerprint,
                       KnownHost& out);
// Appends a line (creating the folder 0700 and the file 0600 as needed).
Status addKnownHost(const std::string& path, const std::string& label, const std::string& fingerprint);

struct HostKeyPolicy {
  std::string path;
  bool accept_new = false;  // record an unknown key without asking
  // Asks the user whether to trust an unknown key; unset when there is no terminal.
  std::function<bool(const std::string& question)> ask;
  // Tells the user a key was recorded (a line without "rexec: "); unset: straight to stderr.
  std::function<void(const std::string& line)> notice;
};

// The whole decision: Ok to go on (the key matched, or was accepted and recorded), or an error
// message for the user. A changed key is always fatal.
Status verifyHostKey(const HostKeyPolicy& policy, const std::string& label, const std::string& fingerprint);

// Asks on /dev/tty; nullptr-equivalent (empty function) when stdin is not a terminal.
std::function<bool(const std::string&)> terminalAsker();

}  // namespace rx
