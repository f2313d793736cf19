#include "daemon/source_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

namespace rx {

SourceAddress SourceAddress::ipv4(uint32_t host_order) {
  SourceAddress a;
  a.family_ = Family::V4;
  const uint32_t net = htonl(host_order);
  std::memcpy(a.bytes_.data(), &net, 4);
  return a;
}

SourceAddress SourceAddress::ipv6(const std::array<uint8_t, 16>& bytes) {
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(bytes.data(), kMappedPrefix, sizeof kMappedPrefix) == 0) {
    uint32_t net;
    std::memcpy(&net, bytes.data() + 12, 4);
    return ipv4(ntohl(net));
  }
  SourceAddress a;
  a.family_ = Family::V6;
  std::memcpy(a.bytes_.data(), bytes.data(), 8);
  return a;
}

SourceAddress SourceAddress::fromSockaddr(const void* sockaddr) {
  const auto* sa = static_cast<const struct sockaddr*>(sockaddr);
  if (sa->sa_family == AF_INET) {
    const auto* in = static_cast<const sockaddr_in*>(sockaddr);
    return ipv4(ntohl(in->sin_addr.s_addr));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = static_cast<const sockaddr_in6*>(sockaddr);
    std::array<uint8_t, 16> bytes;
    std::memcpy(bytes.data(), &in6->sin6_addr, 16);
    return ipv6(bytes);
  }
  return SourceAddress();
}

std::string SourceAddress::toString() const {
  char buf[INET6_ADDRSTRLEN] = "?";
  switch (family_) {
    case Family::V4:
      inet_ntop(AF_INET, bytes_.data(), buf, sizeof buf);
      return buf;
    case Family::V6: {
      unsigned char full[16] = {};
      std::memcpy(full, bytes_.data(), 8);
      inet_ntop(AF_INET6, full, buf, sizeof buf);
      return std::string(buf) + "/64";
    }
    case Family::Unknown:
      break;
  }
  return "unknown";
}

}  // namespace rx
