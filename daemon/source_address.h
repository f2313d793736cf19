#pragma once
// The unit the daemon's per-source limits count by: an IPv4 address, or an IPv6 /64 (one
// customer's network: a host that has one /64 can use any of its 2^64 addresses). IPv4-mapped
// IPv6 addresses count as the IPv4 address they carry.
#include <array>
#include <compare>
#include <cstdint>
#include <string>

namespace rx {

class SourceAddress {
 public:
  SourceAddress() = default;
  // From a sockaddr_storage (or sockaddr_in / sockaddr_in6); unknown families give "unknown".
  static SourceAddress fromSockaddr(const void* sockaddr);
  static SourceAddress ipv4(uint32_t host_order);
  // The first 8 bytes of an IPv6 address; the rest is ignored.
  static SourceAddress ipv6(const std::array<uint8_t, 16>& bytes);

  // "192.0.2.1", "2001:db8:1:2::/64" or "unknown".
  std::string toString() const;

  auto operator<=>(const SourceAddress&) const = default;
  bool operator==(const SourceAddress&) const = default;

 private:
  enum class Family : uint8_t { Unknown, V4, V6 };
  Family family_ = Family::Unknown;
  std::array<uint8_t, 8> bytes_{};  // V4: the first 4; V6: the /64 prefix
};

}  // namespace rx
