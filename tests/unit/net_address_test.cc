// parseHostPort: every accepted shape and the errors.
#include "common/net_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <string>

namespace rx {
namespace {

constexpr uint16_t kDefault = 5512;

HostPort parseOk(const std::string& text) {
  HostPort hp;
  const Status s = parseHostPort(text, kDefault, hp);
  EXPECT_TRUE(s) << text << ": " << s.message();
  return hp;
}

Status parseErr(const std::string& text) {
  HostPort hp;
  return parseHostPort(text, kDefault, hp);
}

TEST(ParseHostPort, HostAloneGetsTheDefaultPort) {
  const HostPort hp = parseOk("h");
  EXPECT_EQ(hp.host, "h");
  EXPECT_EQ(hp.port, kDefault);
}

TEST(ParseHostPort, HostAndPort) {
  const HostPort hp = parseOk("h:22");
  EXPECT_EQ(hp.host, "h");
  EXPECT_EQ(hp.port, 22);
}

TEST(ParseHostPort, Ipv4AndPort) {
  const HostPort hp = parseOk("1.2.3.4:5");
  EXPECT_EQ(hp.host, "1.2.3.4");
  EXPECT_EQ(hp.port, 5);
}

TEST(ParseHostPort, BracketedIpv6AndPort) {
  const HostPort hp = parseOk("[::1]:7");
  EXPECT_EQ(hp.host, "::1");
  EXPECT_EQ(hp.port, 7);
}

TEST(ParseHostPort, BracketedIpv6Alone) {
  const HostPort hp = parseOk("[::1]");
  EXPECT_EQ(hp.host, "::1");
  EXPECT_EQ(hp.port, kDefault);
}

TEST(ParseHostPort, BareIpv6) {
  const HostPort hp = parseOk("::1");
  EXPECT_EQ(hp.host, "::1");
  EXPECT_EQ(hp.port, kDefault);
}

TEST(ParseHostPort, HighestPort) { EXPECT_EQ(parseOk("h:65535").port, 65535); }

TEST(ParseHostPort, EmptyPortIsAnError) {
  EXPECT_FALSE(parseErr("h:"));
  EXPECT_FALSE(parseErr("[::1]:"));
}

TEST(ParseHostPort, PortOutOfRangeIsAnError) {
  const Status s = parseErr("h:99999");
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("99999"), std::string::npos) << s.message();
  EXPECT_FALSE(parseErr("h:65536"));
  EXPECT_FALSE(parseErr("h:99999999999999999999"));
}

TEST(ParseHostPort, NonNumericPortIsAnError) {
  EXPECT_FALSE(parseErr("h:x"));
  EXPECT_FALSE(parseErr("h:22x"));
  EXPECT_FALSE(parseErr("h:-1"));
  EXPECT_FALSE(parseErr("h: 22"));
}

TEST(ParseHostPort, MissingClosingBracketIsAnError) {
  const Status s = parseErr("[::1");
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("]"), std::string::npos) << s.message();
}

TEST(ParseHostPort, TextAfterClosingBracketIsAnError) { EXPECT_FALSE(parseErr("[::1]7")); }

TEST(ParseHostPort, EmptyTextIsAnError) { EXPECT_FALSE(parseErr("")); }

TEST(ParseHostPort, EmptyHostIsAnError) {
  EXPECT_FALSE(parseErr(":22"));
  EXPECT_FALSE(parseErr("[]:22"));
}

TEST(FormatSockaddr, Ipv4) {
  sockaddr_storage storage{};
  auto* in = reinterpret_cast<sockaddr_in*>(&storage);
  in->sin_family = AF_INET;
  in->sin_port = htons(5512);
  ASSERT_EQ(inet_pton(AF_INET, "192.0.2.7", &in->sin_addr), 1);
  EXPECT_EQ(formatSockaddr(&storage), "192.0.2.7:5512");
}

TEST(FormatSockaddr, Ipv6InBrackets) {
  sockaddr_storage storage{};
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(22);
  ASSERT_EQ(inet_pton(AF_INET6, "::1", &in6->sin6_addr), 1);
  EXPECT_EQ(formatSockaddr(&storage), "[::1]:22");
}

TEST(FormatSockaddr, OtherFamiliesAreUnknown) {
  sockaddr_storage storage{};
  storage.ss_family = AF_UNIX;
  EXPECT_EQ(formatSockaddr(&storage), "unknown");
}

}  // namespace
}  // namespace rx
