#include "common/net_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <charconv>

#include <fmt/format.h>

namespace rx {
namespace {

Status parsePort(std::string_view text, uint16_t& port) {
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value > 65535)
    return Status::Error(fmt::format("invalid port '{}'", text));
  port = static_cast<uint16_t>(value);
  return Status::Ok();
}

}  // namespace

Status parseHostPort(std::string_view text, uint16_t default_port, HostPort& out) {
  out.port = default_port;
  if (text.empty()) return Status::Error("empty host");
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return Status::Error(fmt::format("missing ']' in '{}'", text));
    out.host = std::string(text.substr(1, close - 1));
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return Status::Error(fmt::format("unexpected text after ']' in '{}'", text));
      if (Status s = parsePort(rest.substr(1), out.port); !s) return s;
    }
  } else if (text.find(':') != text.rfind(':')) {
    out.host = std::string(text);  // a bare IPv6 address
  } else if (const size_t colon = text.find(':'); colon != std::string_view::npos) {
    out.host = std::string(text.substr(0, colon));
    if (Status s = parsePort(text.substr(colon + 1), out.port); !s) return s;
  } else {
    out.host = std::string(text);
  }
  if (out.host.empty()) return Status::Error(fmt::format("empty host in '{}'", text));
  return Status::Ok();
}

std::string formatSockaddr(const void* storage) {
  const auto* sa = static_cast<const sockaddr*>(storage);
  char buf[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET) {
    const auto* in = static_cast<const sockaddr_in*>(storage);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    return fmt::format("{}:{}", buf, ntohs(in->sin_port));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = static_cast<const sockaddr_in6*>(storage);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    return fmt::format("[{}]:{}", buf, ntohs(in6->sin6_port));
  }
  return "unknown";
}

}  // namespace rx
