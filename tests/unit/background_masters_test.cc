// What a fan-out gives a master it starts (client/background_masters.h): its host and its -S PATH,
// each written so that the master reads back exactly what the fan-out had.
#include "client/background_masters.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "client/control_socket.h"
#include "client/known_hosts.h"
#include "common/limits.h"
#include "tests/unit/scratch_dir.h"

namespace rx {
namespace {

// The master is given its host as the known_hosts label, which it parses as the client does.
TEST(BackgroundMasters, TheHostArgumentParsesBackToTheSameHostAndPort) {
  for (const HostPort& hp :
       {HostPort{"node07", kDefaultPort}, HostPort{"::1", kDefaultPort}, HostPort{"node07", 5511},
        HostPort{"127.0.0.2", 1}, HostPort{"::1", 65535}, HostPort{"fe80::1%eth0", 22}}) {
    const std::string arg = knownHostLabel(hp.host, hp.port);
    HostPort back;
    ASSERT_TRUE(parseHostPort(arg, kDefaultPort, back)) << arg;
    EXPECT_EQ(back.host, hp.host) << arg;
    EXPECT_EQ(back.port, hp.port) << arg;
  }
  EXPECT_EQ(knownHostLabel("::1", 7), "[::1]:7");
  EXPECT_EQ(knownHostLabel("a.example", 7), "[a.example]:7");
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

// Starting masters on a real loop, with a script in the master's place: what it says before it
// listens comes out labelled, line by line; the run is told once every one has settled (written
// 'R' and given up its descriptors, or ended); the loop then ends with nothing left open.
class StartingMasters : public ::testing::Test {
 protected:
  void SetUp() override { uv_loop_init(&loop_); }
  void TearDown() override { EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open"; }

  // A stand-in for `rexec -M ...`: a shell script (its arguments are ignored).
  std::string script(const std::string& name, const std::string& body) {
    const std::string path = dir_.path() + "/" + name;
    std::ofstream(path) << "#!/bin/sh\n" << body;
    ::chmod(path.c_str(), 0700);
    return path;
  }
  std::unique_ptr<BackgroundMasters> masters(const std::string& program) {
    return std::make_unique<BackgroundMasters>(
        &loop_, 60, std::vector<std::string>{"-i", "key"},
        [this](std::string_view l) { lines_.emplace_back(l); }, [this] { ++settled_; }, program);
  }

  ScratchDir dir_{"rx-masters"};
  uv_loop_t loop_{};
  std::vector<std::string> lines_;
  int settled_ = 0;
};

TEST_F(StartingMasters, WhatAMasterSaysBeforeItListensComesOutLabelled) {
  const std::string fails = script("fails", "echo 'rexec: cannot bind /x/y: No such file' >&2; exit 255\n");
  const std::string ready =
      script("ready", "echo 'a notice' >&2; printf R >&3; exec 2>/dev/null 3>&-; exit 0\n");
  auto a = masters(fails);
  auto b = masters(ready);
  a->start("h1", "/x/y", HostPort{"h1", 1});
  b->start("h2", "/x/z", HostPort{"::1", 2});
  EXPECT_EQ(a->starting(), 1u);
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_EQ(settled_, 2);
  EXPECT_EQ(a->starting(), 0u);
  EXPECT_EQ(b->starting(), 0u);
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_NE(std::find(lines_.begin(), lines_.end(), "rexec: h1: master: cannot bind /x/y: No such file\n"),
            lines_.end());
  EXPECT_NE(std::find(lines_.begin(), lines_.end(), "rexec: h2: master: a notice\n"), lines_.end());
}

TEST_F(StartingMasters, ALongLineComesInPiecesAndALastLineWithoutNewlineStillComes) {
  // One write of a short line, 10,000 bytes without a newline and "end": read 4,096 bytes at a
  // time, the long line is cut after 4,096 of its bytes each time, never later.
  const std::string text = dir_.path() + "/text";
  std::ofstream(text) << "ab\n" << std::string(10000, 'x') << "end";
  const std::string chatty = script("chatty", "cat '" + text + "' >&2\n");
  auto m = masters(chatty);
  m->start("h", "/p", HostPort{"h", 1});
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_EQ(settled_, 1);
  const std::string prefix = "rexec: h: master: ";
  std::string said;
  for (const auto& l : lines_) {
    ASSERT_EQ(l.rfind(prefix, 0), 0u) << l;
    ASSERT_EQ(l.back(), '\n');
    EXPECT_LE(l.size(), prefix.size() + 4096 + 1) << "a piece too long";
    said += l.substr(prefix.size(), l.size() - prefix.size() - 1) + "|";
  }
  ASSERT_FALSE(lines_.empty());
  EXPECT_EQ(lines_[0], prefix + "ab\n");
  EXPECT_EQ(said, "ab|" + std::string(4096, 'x') + "|" + std::string(4096, 'x') + "|" +
                      std::string(1808, 'x') + "end|");
}

TEST_F(StartingMasters, AProgramThatCannotStartIsSaidOnceAndSettles) {
  auto m = masters(dir_.path() + "/no-such-program");
  m->start("h", "/p", HostPort{"h", 1});
  EXPECT_EQ(settled_, 1);  // at once: nothing to wait for
  uv_run(&loop_, UV_RUN_DEFAULT);
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0].rfind("rexec: h: cannot start a master: ", 0), 0u) << lines_[0];
}

TEST_F(StartingMasters, AbandonedTheyAreNoLongerWaitedFor) {
  // One that never settles by itself: it says its pid, then holds both descriptors (until the
  // test stops it, by that pid).
  const std::string stuck = script("stuck", "echo \"pid $$\" >&2; exec sleep 60\n");
  auto m = masters(stuck);
  m->start("h", "/p", HostPort{"h", 1});
  // Each turn waits for the next event; the first the script causes is its line.
  for (int turn = 0; turn < 100 && lines_.empty(); ++turn) uv_run(&loop_, UV_RUN_ONCE);
  ASSERT_EQ(lines_.size(), 1u);
  const std::string prefix = "rexec: h: master: pid ";
  ASSERT_EQ(lines_[0].rfind(prefix, 0), 0u) << lines_[0];
  const pid_t pid = std::stoi(lines_[0].substr(prefix.size()));
  ASSERT_GT(pid, 0);
  EXPECT_EQ(settled_, 0);
  m->abandon();
  EXPECT_EQ(settled_, 1);
  EXPECT_EQ(m->starting(), 0u);
  uv_run(&loop_, UV_RUN_DEFAULT);  // ends: nothing of the master's is waited for any more
  ::kill(pid, SIGKILL);
}

}  // namespace
}  // namespace rx
