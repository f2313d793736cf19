#pragma once
// An IP address in the form that source-address rules (key option from=) are matched against.
//
// An IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack socket reports for an IPv4
// client) is stored as the IPv4 address it carries, so the same IPv4 rules hold whichever kind of
// socket accepted the client.
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rx {

struct IpAddress {
  enum class Family { V4, V6 };
  Family family = Family::V4;
  std::array<uint8_t, 16> bytes{};  // network order; IPv4 uses the first 4

  size_t size() const { return family == Family::V4 ? 4 : 16; }
  bool operator==(const IpAddress&) const = default;
};

// Dotted-quad IPv4 ("127.0.0.1", nothing shorter) or IPv6 text ("::1"), as inet_pton reads them.
std::optional<IpAddress> parseIpAddress(std::string_view text);
// From an accepted socket's peer address; nullopt for anything but AF_INET and AF_INET6.
std::optional<IpAddress> ipAddressFromSockaddr(const sockaddr* sa);
std::string formatIpAddress(const IpAddress& address);

}  // namespace rx
