#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace rx {

struct HostPort {
  std::string host;  // without brackets
  uint16_t port = 0;
};

// "host", "host:port", "1.2.3.4:port", "[::1]:port", "[::1]" or a bare IPv6 address "::1".
Status parseHostPort(std::string_view text, uint16_t default_port, HostPort& out);

// "1.2.3.4:5" or "[::1]:5" for logs, from a sockaddr_storage.
std::string formatSockaddr(const void* sockaddr_storage);

}  // namespace rx
