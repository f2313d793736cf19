#pragma once
// An address block in CIDR notation ("10.0.0.0/8", "2001:db8::/32"); a bare address is a block
// of one (/32 or /128).
//
// Strict on purpose, because a typo in a from= rule changes who may log in:
//   - the host bits must be zero ("10.0.0.1/8" is refused, not silently widened);
//   - IPv4 is dotted-quad only, as inet_pton reads it;
//   - an IPv4-mapped block (::ffff:10.0.0.0/104) is stored as the IPv4 block it describes
//     (10.0.0.0/8), to match IpAddress, which stores mapped peers as IPv4.
// An IPv4 peer is matched by IPv4 blocks only: "::/0" means every IPv6 address, not every address.
#include <string>
#include <string_view>

#include "common/ip_address.h"
#include "common/status.h"

namespace rx {

struct Cidr {
  IpAddress network;  // host bits zero
  unsigned prefix = 0;

  bool operator==(const Cidr&) const = default;
};

Status parseCidr(std::string_view text, Cidr& out);
bool cidrContains(const Cidr& block, const IpAddress& address);
std::string formatCidr(const Cidr& block);

}  // namespace rx
