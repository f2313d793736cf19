// What a fan-out gives a master it starts (client/background_masters.h): its host and its -S PATH,
// each written so that the master reads back exactly what the fan-out had.
#include "client/background_masters.h"

#include <gtest/gtest.h>

#include <string>

#include "client/control_socket.h"

namespace rx {
namespace {

TEST(BackgroundMasters, TheHostArgumentParsesBackToTheSameHostAndPort) {
  for (const HostPort& hp : {HostPort{"node07", 5512}, HostPort{"127.0.0.2", 1}, HostPort{"::1", 65535},
                             HostPort{"fe80::1%eth0", 22}}) {
    const std::string arg = hostPortArgument(hp);
    HostPort back;
    ASSERT_TRUE(parseHostPort(arg, 9, back)) << arg;
    EXPECT_EQ(back.host, hp.host) << arg;
    EXPECT_EQ(back.port, hp.port) << arg;
  }
  EXPECT_EQ(hostPortArgument({"::1", 7}), "[::1]:7");
  EXPECT_EQ(hostPortArgument({"a.example", 7}), "a.example:7");
}

TEST(BackgroundMasters, TheEscapedPathExpandsBackToItself) {
  // An expanded PATH may hold a '%' (from "%%", or a host's scope id): the master expands what it
  // is given once more, so each one is doubled.
  for (const std::string path : {"/run/user/1/rexec/node07:5512", "/tmp/100%/m-%h", "/tmp/%%p", "%"}) {
    std::string back;
    ASSERT_TRUE(expandControlPath(escapeControlPath(path), "other-host", 1, back)) << path;
    EXPECT_EQ(back, path);
  }
}

}  // namespace
}  // namespace rx
