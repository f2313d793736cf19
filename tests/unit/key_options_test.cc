// Per-key options of the authorized keys file: the parser, addresses and CIDR blocks, run-as
// users, and how the options reach loadAuthorizedKeys' "FILE:LINE: reason".
#include "common/key_options.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "common/cidr.h"
#include "common/ip_address.h"
#include "common/key_file.h"
#include "common/run_as_user.h"

#include "tests/unit/scratch_dir.h"

namespace rx {
namespace {

using ::testing::HasSubstr;

KeyOptions parseOk(const std::string& text) {
  KeyOptions o;
  const Status s = parseKeyOptions(text, o);
  EXPECT_TRUE(s) << text << ": " << s.message();
  return o;
}

std::string parseError(const std::string& text) {
  KeyOptions o;
  o.no_stdin = true;
  const Status s = parseKeyOptions(text, o);
  EXPECT_FALSE(s) << text;
  return s.message();
}

IpAddress ip(const std::string& text) {
  const auto a = parseIpAddress(text);
  EXPECT_TRUE(a) << text;
  return a.value_or(IpAddress{});
}

Cidr cidr(const std::string& text) {
  Cidr c;
  const Status s = parseCidr(text, c);
  EXPECT_TRUE(s) << text << ": " << s.message();
  return c;
}

// --- each option ---

TEST(KeyOptions, EmptyTextMeansNoRestrictions) {
  const KeyOptions o = parseOk("");
  EXPECT_FALSE(o.command);
  EXPECT_TRUE(o.from.empty());
  EXPECT_FALSE(o.user);
  EXPECT_FALSE(o.env);
  EXPECT_FALSE(o.no_stdin);
  EXPECT_FALSE(o.max_jobs);
  EXPECT_TRUE(o.allowsSource(std::nullopt));
}

TEST(KeyOptions, CommandQuotedWithBlanksAndCommas) {
  const KeyOptions o = parseOk(R"(command="/usr/bin/backup --daily, --quiet")");
  ASSERT_TRUE(o.command);
  EXPECT_EQ(*o.command, "/usr/bin/backup --daily, --quiet");
}

TEST(KeyOptions, CommandBare) {
  const KeyOptions o = parseOk("command=/usr/bin/uptime");
  ASSERT_TRUE(o.command);
  EXPECT_EQ(*o.command, "/usr/bin/uptime");
}

TEST(KeyOptions, BackslashEscapesAQuoteAndABackslashOnly) {
  const KeyOptions o = parseOk(R"(command="echo \"a b\" \\ printf 'x\n'")");
  ASSERT_TRUE(o.command);
  EXPECT_EQ(*o.command, R"(echo "a b" \ printf 'x\n')");
}

TEST(KeyOptions, EscapedQuoteDoesNotEndTheValue) {
  const KeyOptions o = parseOk(R"(command="say \",no-stdin",max-jobs=3)");
  ASSERT_TRUE(o.command);
  EXPECT_EQ(*o.command, R"(say ",no-stdin)");
  EXPECT_FALSE(o.no_stdin);
  EXPECT_EQ(o.max_jobs, 3u);
}

TEST(KeyOptions, FromListOfV4AndV6Blocks) {
  const KeyOptions o = parseOk(R"(from="127.0.0.0/8,::1, 2001:db8::/32,192.0.2.7")");
  ASSERT_EQ(o.from.size(), 4u);
  EXPECT_EQ(formatCidr(o.from[0]), "127.0.0.0/8");
  EXPECT_EQ(formatCidr(o.from[1]), "::1/128");
  EXPECT_EQ(formatCidr(o.from[2]), "2001:db8::/32");
  EXPECT_EQ(formatCidr(o.from[3]), "192.0.2.7/32");
  EXPECT_TRUE(o.allowsSource(ip("127.1.2.3")));
  EXPECT_TRUE(o.allowsSource(ip("::1")));
  EXPECT_TRUE(o.allowsSource(ip("2001:db8:ffff::9")));
  EXPECT_TRUE(o.allowsSource(ip("192.0.2.7")));
  EXPECT_FALSE(o.allowsSource(ip("192.0.2.8")));
  EXPECT_FALSE(o.allowsSource(ip("10.0.0.1")));
  EXPECT_FALSE(o.allowsSource(ip("::2")));
  EXPECT_FALSE(o.allowsSource(std::nullopt)) << "an unknown peer never passes a from= rule";
}

TEST(KeyOptions, FromMatchesAnIpv4MappedPeer) {
  const KeyOptions o = parseOk(R"(from="127.0.0.0/8")");
  EXPECT_TRUE(o.allowsSource(ip("::ffff:127.0.0.1")));
  EXPECT_FALSE(o.allowsSource(ip("::ffff:10.0.0.1")));
}

TEST(KeyOptions, UserIsLookedUp) {
  const KeyOptions o = parseOk("user=root");
  ASSERT_TRUE(o.user);
  EXPECT_EQ(o.user->name, "root");
  EXPECT_EQ(o.user->uid, 0u);
  EXPECT_EQ(o.user->gid, 0u);
  EXPECT_EQ(o.user->home, "/root");
  EXPECT_FALSE(o.user->shell.empty());
}

TEST(KeyOptions, UserNobody) {
  const KeyOptions o = parseOk(R"(user="nobody")");
  ASSERT_TRUE(o.user);
  EXPECT_EQ(o.user->name, "nobody");
  EXPECT_EQ(o.user->uid, 65534u);  // Debian's nobody
  EXPECT_EQ(o.user->home, "/nonexistent");
  EXPECT_EQ(o.user->shell, "/usr/sbin/nologin");
}

TEST(KeyOptions, EnvListOfNamesAndPrefixes) {
  const KeyOptions o = parseOk(R"(env="LANG,LC_*,MY_VAR")");
  ASSERT_TRUE(o.env);
  EXPECT_EQ(*o.env, (std::vector<std::string>{"LANG", "LC_*", "MY_VAR"}));
  const KeyOptions single = parseOk("env=TZ");
  ASSERT_TRUE(single.env);
  EXPECT_EQ(*single.env, (std::vector<std::string>{"TZ"}));
}

TEST(KeyOptions, EmptyEnvAcceptsNothing) {
  const KeyOptions o = parseOk(R"(env="")");
  ASSERT_TRUE(o.env);
  EXPECT_TRUE(o.env->empty());
}

TEST(KeyOptions, NoStdinAndMaxJobs) {
  const KeyOptions o = parseOk("no-stdin,max-jobs=2");
  EXPECT_TRUE(o.no_stdin);
  EXPECT_EQ(o.max_jobs, 2u);
  EXPECT_EQ(parseOk("max-jobs=\"65535\"").max_jobs, 65535u);
}

TEST(KeyOptions, AllTogether) {
  const KeyOptions o = parseOk(
      R"(command="/usr/bin/backup --daily",from="127.0.0.0/8,::1",no-stdin,max-jobs=2,env="LANG",user=root)");
  EXPECT_EQ(o.command, "/usr/bin/backup --daily");
  EXPECT_EQ(o.from.size(), 2u);
  EXPECT_TRUE(o.no_stdin);
  EXPECT_EQ(o.max_jobs, 2u);
  ASSERT_TRUE(o.env);
  EXPECT_EQ(o.env->size(), 1u);
  ASSERT_TRUE(o.user);
  EXPECT_EQ(o.user->uid, 0u);
}

TEST(KeyOptions, AFailedParseLeavesNoRestrictionsBehind) {
  KeyOptions o;
  o.no_stdin = true;
  ASSERT_FALSE(parseKeyOptions("max-jobs=2,bogus", o));
  EXPECT_FALSE(o.no_stdin);
  EXPECT_FALSE(o.max_jobs);
}

// --- errors name the option ---

TEST(KeyOptionsErrors, UnknownOption) {
  EXPECT_THAT(parseError("no-agent-forwarding"), HasSubstr("unknown option \"no-agent-forwarding\""));
  EXPECT_THAT(parseError("no-stdin,permitopen=\"x:1\""), HasSubstr("unknown option \"permitopen\""));
  // Names are exact: OpenSSH's case-insensitive spelling is not accepted.
  EXPECT_THAT(parseError("NO-STDIN"), HasSubstr("unknown option \"NO-STDIN\""));
}

TEST(KeyOptionsErrors, DuplicateOption) {
  EXPECT_THAT(parseError("no-stdin,no-stdin"), HasSubstr("option no-stdin appears twice"));
  EXPECT_THAT(parseError(R"(command="a",command="b")"), HasSubstr("option command appears twice"));
  EXPECT_THAT(parseError(R"(from="::1",max-jobs=1,from="::2")"), HasSubstr("option from appears twice"));
}

TEST(KeyOptionsErrors, MissingOrUnexpectedValue) {
  EXPECT_THAT(parseError("command"), HasSubstr("option command needs a value"));
  EXPECT_THAT(parseError("max-jobs"), HasSubstr("option max-jobs needs a value"));
  EXPECT_THAT(parseError("no-stdin=yes"), HasSubstr("option no-stdin takes no value"));
}

TEST(KeyOptionsErrors, QuotingMistakes) {
  EXPECT_THAT(parseError(R"(command="echo hi)"),
              HasSubstr("option command: the closing double quote is missing"));
  EXPECT_THAT(parseError(R"(command="echo"hi)"), HasSubstr("option command: unexpected text after"));
  EXPECT_THAT(parseError(R"(command=echo"hi")"), HasSubstr("option command: a double quote inside a value"));
  EXPECT_THAT(parseError(",no-stdin"), HasSubstr("empty option"));
  EXPECT_THAT(parseError("no-stdin,"), HasSubstr("empty option after ','"));
  EXPECT_THAT(parseError("no-stdin,,max-jobs=1"), HasSubstr("empty option after ','"));
}

TEST(KeyOptionsErrors, MalformedCommand) {
  EXPECT_THAT(parseError(R"(command="")"), HasSubstr("option command: the command is empty"));
  EXPECT_THAT(parseError(std::string("command=\"a\0b\"", 13)),
              HasSubstr("option command: the command contains a NUL"));
}

TEST(KeyOptionsErrors, MalformedFrom) {
  EXPECT_THAT(parseError(R"(from="")"), HasSubstr("option from: an empty address"));
  EXPECT_THAT(parseError(R"(from="10.0.0.0/8,")"), HasSubstr("option from: an empty address"));
  EXPECT_THAT(parseError(R"(from="example.com")"),
              HasSubstr("option from: \"example.com\": not an IP address"));
  EXPECT_THAT(parseError(R"(from="10.0.0.0/33")"),
              HasSubstr("option from: \"10.0.0.0/33\": the prefix length"));
  EXPECT_THAT(parseError(R"(from="10.0.0.1/8")"), HasSubstr("option from: \"10.0.0.1/8\": bits are set"));
  EXPECT_THAT(parseError(R"(from="!10.0.0.0/8")"), HasSubstr("option from:"));
  EXPECT_THAT(parseError(R"(from="10.0.0.*")"), HasSubstr("option from:"));
}

TEST(KeyOptionsErrors, UnknownUser) {
  EXPECT_THAT(parseError("user=no-such-user-rexec"),
              HasSubstr("option user: no such user \"no-such-user-rexec\""));
  EXPECT_THAT(parseError(R"(user="")"), HasSubstr("option user: empty user name"));
}

TEST(KeyOptionsErrors, MalformedEnv) {
  EXPECT_THAT(parseError(R"(env="LANG,BAD-NAME")"),
              HasSubstr("option env: \"BAD-NAME\" is not a variable name"));
  EXPECT_THAT(parseError(R"(env="LANG,,TZ")"), HasSubstr("option env: \"\" is not a variable name"));
  EXPECT_THAT(parseError(R"(env="1X")"), HasSubstr("option env:"));
  EXPECT_THAT(parseError(R"(env="*")"), HasSubstr("option env: \"*\" would accept every name"));
}

TEST(KeyOptionsErrors, MalformedMaxJobs) {
  for (const char* bad : {"max-jobs=0", "max-jobs=-1", "max-jobs=+2", "max-jobs=2x", "max-jobs=\"\"",
                          "max-jobs=65536", "max-jobs=99999999999999999999999"}) {
    EXPECT_THAT(parseError(bad), HasSubstr("option max-jobs: ")) << bad;
    EXPECT_THAT(parseError(bad), HasSubstr("is not a whole number from 1 to 65535")) << bad;
  }
}

// --- addresses and blocks ---

TEST(IpAddress, ParsesV4AndV6AndFoldsMappedToV4) {
  const IpAddress v4 = ip("192.0.2.1");
  EXPECT_EQ(v4.family, IpAddress::Family::V4);
  EXPECT_EQ(v4.size(), 4u);
  EXPECT_EQ(formatIpAddress(v4), "192.0.2.1");
  const IpAddress v6 = ip("2001:db8::1");
  EXPECT_EQ(v6.family, IpAddress::Family::V6);
  EXPECT_EQ(formatIpAddress(v6), "2001:db8::1");
  EXPECT_EQ(ip("::ffff:192.0.2.1"), v4);
  EXPECT_EQ(ip("::ffff:c000:201"), v4);
  EXPECT_NE(ip("::192.0.2.1"), v4) << "IPv4-compatible (deprecated) is not IPv4-mapped";
}

TEST(IpAddress, RefusesWhatInetPtonRefuses) {
  for (const char* bad :
       {"", "127.1", "1.2.3.4.5", "256.0.0.1", "::g", "fe80::1%eth0", "localhost", " 1.2.3.4"})
    EXPECT_FALSE(parseIpAddress(bad)) << bad;
  EXPECT_FALSE(parseIpAddress(std::string(100, '1')));
}

TEST(IpAddress, FromSockaddrV4V6AndMapped) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  ASSERT_EQ(inet_pton(AF_INET, "10.1.2.3", &in.sin_addr), 1);
  auto a = ipAddressFromSockaddr(reinterpret_cast<const sockaddr*>(&in));
  ASSERT_TRUE(a);
  EXPECT_EQ(formatIpAddress(*a), "10.1.2.3");

  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  ASSERT_EQ(inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr), 1);
  a = ipAddressFromSockaddr(reinterpret_cast<const sockaddr*>(&in6));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->family, IpAddress::Family::V4);
  EXPECT_EQ(formatIpAddress(*a), "127.0.0.1");

  ASSERT_EQ(inet_pton(AF_INET6, "::1", &in6.sin6_addr), 1);
  a = ipAddressFromSockaddr(reinterpret_cast<const sockaddr*>(&in6));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->family, IpAddress::Family::V6);

  sockaddr un{};
  un.sa_family = AF_UNIX;
  EXPECT_FALSE(ipAddressFromSockaddr(&un));
}

TEST(Cidr, BareAddressIsABlockOfOne) {
  EXPECT_EQ(cidr("192.0.2.7").prefix, 32u);
  EXPECT_EQ(cidr("2001:db8::7").prefix, 128u);
  EXPECT_TRUE(cidrContains(cidr("192.0.2.7"), ip("192.0.2.7")));
  EXPECT_FALSE(cidrContains(cidr("192.0.2.7"), ip("192.0.2.6")));
}

TEST(Cidr, V4Boundaries) {
  const Cidr c = cidr("10.20.0.0/14");  // 10.20.0.0 .. 10.23.255.255
  EXPECT_TRUE(cidrContains(c, ip("10.20.0.0")));
  EXPECT_TRUE(cidrContains(c, ip("10.23.255.255")));
  EXPECT_FALSE(cidrContains(c, ip("10.24.0.0")));
  EXPECT_FALSE(cidrContains(c, ip("10.19.255.255")));
  EXPECT_TRUE(cidrContains(cidr("0.0.0.0/0"), ip("203.0.113.9")));
  EXPECT_FALSE(cidrContains(cidr("0.0.0.0/0"), ip("::1"))) << "an IPv4 block never holds an IPv6 address";
}

TEST(Cidr, V6Boundaries) {
  const Cidr c = cidr("2001:db8:8000::/33");
  EXPECT_TRUE(cidrContains(c, ip("2001:db8:8000::")));
  EXPECT_TRUE(cidrContains(c, ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(cidrContains(c, ip("2001:db8:7fff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_TRUE(cidrContains(cidr("::/0"), ip("fe80::1")));
  EXPECT_FALSE(cidrContains(cidr("::/0"), ip("127.0.0.1")))
      << "::/0 is every IPv6 address, not every address";
  EXPECT_FALSE(cidrContains(cidr("::/0"), ip("::ffff:127.0.0.1")));
}

TEST(Cidr, MappedBlocksAreTheirIpv4Block) {
  const Cidr c = cidr("::ffff:10.0.0.0/104");
  EXPECT_EQ(c, cidr("10.0.0.0/8"));
  EXPECT_EQ(formatCidr(c), "10.0.0.0/8");
  EXPECT_TRUE(cidrContains(c, ip("10.9.9.9")));
  EXPECT_TRUE(cidrContains(c, ip("::ffff:10.9.9.9")));
  EXPECT_EQ(cidr("::ffff:127.0.0.1"), cidr("127.0.0.1/32"));
  Cidr out;
  EXPECT_FALSE(parseCidr("::ffff:10.0.0.0/95", out));
  EXPECT_FALSE(parseCidr("::ffff:10.0.0.1/104", out));
}

TEST(Cidr, RefusesMalformedBlocks) {
  for (const char* bad :
       {"10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8/8", "10.0.0.0/08x", "/8", "10.0.0.0/0008",
        "::/129", "10.0.0.0/33", "10.0.0.1/31", "2001:db8::1/64", "10.0.0.0 /8"}) {
    Cidr c;
    EXPECT_FALSE(parseCidr(bad, c)) << bad;
  }
}

// --- run-as users ---

TEST(RunAsUser, OnlyRootMayRunAsSomeoneElse) {
  RunAsUser nobody;
  ASSERT_TRUE(lookupRunAsUser("nobody", nobody));
  EXPECT_TRUE(checkMayRunAs(nobody, 0));
  EXPECT_TRUE(checkMayRunAs(nobody, nobody.uid)) << "a daemon may always name its own account";
  const Status s = checkMayRunAs(nobody, 1000);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("user=nobody"));
  EXPECT_THAT(s.message(), HasSubstr("not root"));
}

// --- through the key file ---

TEST(KeyOptionsInKeyLines, OptionsBeforeTheKeyType) {
  const ClientKey key = generateKey(KeyType::Ed25519, "c");
  AuthorizedKey ak;
  const std::string line =
      R"(command="echo forced, really",from="127.0.0.0/8,::1",no-stdin,max-jobs=2 )" + authorizedLine(key);
  ASSERT_TRUE(parseAuthorizedLine(line, ak));
  EXPECT_EQ(ak.key_id, key.key_id);
  EXPECT_EQ(ak.comment, "c");
  EXPECT_EQ(ak.options.command, "echo forced, really");
  EXPECT_EQ(ak.options.from.size(), 2u);
  EXPECT_TRUE(ak.options.no_stdin);
  EXPECT_EQ(ak.options.max_jobs, 2u);
}

TEST(KeyOptionsInKeyLines, UnclosedQuoteIsNamed) {
  AuthorizedKey ak;
  const Status s =
      parseAuthorizedLine(R"(command="echo hi )" + authorizedLine(generateKey(KeyType::HmacSha256, "c")), ak);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr("unclosed double quote"));
}

class KeyOptionsFileTest : public ::testing::Test {
 protected:
  std::string write(const std::string& text) {
    const std::string p = dir_ + "/authorized_keys";
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ::close(fd);
    return p;
  }
  ScratchDir scratch_{"rx_key_options_test"};
  const std::string dir_ = scratch_.path();
};

TEST_F(KeyOptionsFileTest, BadOptionIsReportedWithFileLineAndOptionName) {
  const std::string ed = authorizedLine(generateKey(KeyType::Ed25519, ""));
  const std::string p = write("# keys\n" + ed + "\nmax-jobs=0 " + ed + "\n");
  std::vector<AuthorizedKey> keys;
  const Status s = loadAuthorizedKeys(p, keys);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr(p + ":3: option max-jobs: "));
  EXPECT_TRUE(keys.empty());
}

TEST_F(KeyOptionsFileTest, UnknownOptionIsReportedWithFileLineAndOptionName) {
  const std::string p = write("frm=\"::1\" " + authorizedLine(generateKey(KeyType::Ed25519, "")) + "\n");
  std::vector<AuthorizedKey> keys;
  const Status s = loadAuthorizedKeys(p, keys);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.message(), HasSubstr(p + ":1: unknown option \"frm\""));
}

TEST_F(KeyOptionsFileTest, UserOfAnotherAccountIsAllowedOnlyForRoot) {
  const std::string p = write("user=nobody " + authorizedLine(generateKey(KeyType::Ed25519, "")) + "\n");
  std::vector<AuthorizedKey> keys;
  const Status s = loadAuthorizedKeys(p, keys);
  if (::geteuid() == 0) {
    ASSERT_TRUE(s) << s.message();
    ASSERT_EQ(keys.size(), 1u);
    ASSERT_TRUE(keys[0].options.user);
    EXPECT_EQ(keys[0].options.user->uid, 65534u);
  } else {
    ASSERT_FALSE(s);
    EXPECT_THAT(s.message(), HasSubstr(p + ":1: user=nobody: "));
  }
}

TEST_F(KeyOptionsFileTest, OptionsAreKeptPerKey) {
  const ClientKey a = generateKey(KeyType::Ed25519, "a");
  const ClientKey b = generateKey(KeyType::Ed25519, "b");
  const std::string p = write("command=\"uptime\" " + authorizedLine(a) + "\n" + authorizedLine(b) + "\n");
  std::vector<AuthorizedKey> keys;
  ASSERT_TRUE(loadAuthorizedKeys(p, keys));
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].options.command, "uptime");
  EXPECT_FALSE(keys[1].options.command);
}

}  // namespace
}  // namespace rx
