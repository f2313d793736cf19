#include "common/cidr.h"

#include <charconv>

#include <fmt/format.h>

#include "common/encoding.h"

namespace rx {
namespace {

constexpr unsigned kMappedPrefixBits = 96;

// Whether the first `prefix` bits of a and b are equal.
bool samePrefix(const IpAddress& a, const IpAddress& b, unsigned prefix) {
  for (unsigned i = 0; i < prefix; ++i) {
    const unsigned byte = i / 8;
    const unsigned mask = 0x80u >> (i % 8);
    if ((a.bytes[byte] & mask) != (b.bytes[byte] & mask)) return false;
  }
  return true;
}

bool hostBitsZero(const IpAddress& a, unsigned prefix) {
  for (unsigned i = prefix; i < a.size() * 8; ++i)
    if (a.bytes[i / 8] & (0x80u >> (i % 8))) return false;
  return true;
}

}  // namespace

Status parseCidr(std::string_view text, Cidr& out) {
  const size_t slash = text.find('/');
  const std::string_view addr_text = text.substr(0, slash);
  const std::optional<IpAddress> addr = parseIpAddress(addr_text);
  if (!addr) return Status::Error(fmt::format("{}: not an IP address", quoteForLog(text)));
  // parseIpAddress stores a mapped address as IPv4; the prefix written after it still counts the
  // bits of the IPv6 form.
  const bool written_as_v6 = addr_text.find(':') != std::string_view::npos;
  const unsigned written_bits = written_as_v6 ? 128 : 32;
  unsigned prefix = written_bits;
  if (slash != std::string_view::npos) {
    const std::string_view p = text.substr(slash + 1);
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (p.empty() || p.size() > 3 || ec != std::errc() || ptr != p.data() + p.size() || prefix > written_bits)
      return Status::Error(fmt::format("{}: the prefix length must be a number from 0 to {}",
                                       quoteForLog(text), written_bits));
  }
  Cidr block;
  block.network = *addr;
  if (written_as_v6 && addr->family == IpAddress::Family::V4) {
    // A mapped block shorter than /96 would reach beyond the mapped range (and has host bits set
    // in the ffff part anyway).
    if (prefix < kMappedPrefixBits)
      return Status::Error(
          fmt::format("{}: an IPv4-mapped block needs a prefix of at least /96", quoteForLog(text)));
    prefix -= kMappedPrefixBits;
  }
  if (!hostBitsZero(block.network, prefix))
    return Status::Error(fmt::format(
        "{}: bits are set after the /{} prefix", quoteForLog(text),
        written_as_v6 && addr->family == IpAddress::Family::V4 ? prefix + kMappedPrefixBits : prefix));
  block.prefix = prefix;
  out = block;
  return Status::Ok();
}

bool cidrContains(const Cidr& block, const IpAddress& address) {
  return block.network.family == address.family && samePrefix(block.network, address, block.prefix);
}

std::string formatCidr(const Cidr& block) {
  return fmt::format("{}/{}", formatIpAddress(block.network), block.prefix);
}

}  // namespace rx
