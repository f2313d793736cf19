#include "common/ip_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace rx {
namespace {

constexpr std::array<uint8_t, 12> kMappedPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

IpAddress fromV6Bytes(const uint8_t* b) {
  IpAddress a;
  if (std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), b)) {
    a.family = IpAddress::Family::V4;
    std::copy(b + 12, b + 16, a.bytes.begin());
  } else {
    a.family = IpAddress::Family::V6;
    std::copy(b, b + 16, a.bytes.begin());
  }
  return a;
}

}  // namespace

std::optional<IpAddress> parseIpAddress(std::string_view text) {
  // inet_pton needs a NUL-terminated string; no address is longer than this.
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN] = {};
  std::memcpy(buf, text.data(), text.size());
  uint8_t raw[16];
  if (text.find(':') == std::string_view::npos) {
    if (inet_pton(AF_INET, buf, raw) != 1) return std::nullopt;
    IpAddress a;
    std::copy(raw, raw + 4, a.bytes.begin());
    return a;
  }
  if (inet_pton(AF_INET6, buf, raw) != 1) return std::nullopt;
  return fromV6Bytes(raw);
}

std::optional<IpAddress> ipAddressFromSockaddr(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    sockaddr_in in;
    std::memcpy(&in, sa, sizeof in);
    IpAddress a;
    std::memcpy(a.bytes.data(), &in.sin_addr, 4);
    return a;
  }
  if (sa->sa_family == AF_INET6) {
    sockaddr_in6 in6;
    std::memcpy(&in6, sa, sizeof in6);
    return fromV6Bytes(reinterpret_cast<const uint8_t*>(&in6.sin6_addr));
  }
  return std::nullopt;
}

std::string formatIpAddress(const IpAddress& address) {
  char buf[INET6_ADDRSTRLEN] = "?";
  inet_ntop(address.family == IpAddress::Family::V4 ? AF_INET : AF_INET6, address.bytes.data(), buf,
            sizeof buf);
  return buf;
}

}  // namespace rx
