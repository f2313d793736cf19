// parseClientOptions: where options end and the remote command begins.
#include "client/options.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace rx {
namespace {

using Argv = std::vector<std::string>;

struct Parsed {
  ParseOutcome outcome = ParseOutcome::Exit;
  ClientOptions opts;
  int exit_code = -1;
};

Parsed parse(std::initializer_list<const char*> args) {
  const std::vector<const char*> argv(args);
  Parsed p;
  p.outcome = parseClientOptions(static_cast<int>(argv.size()), argv.data(), p.opts, p.exit_code);
  return p;
}

TEST(ClientOptions, DoubleDashStartsTheCommand) {
  const Parsed p = parse({"rexec", "h", "--", "echo", "a"});
  ASSERT_EQ(p.outcome, ParseOutcome::Run);
  EXPECT_EQ(p.opts.target, "h");
  EXPECT_EQ(p.opts.params.argv, (Argv{"echo", "a"}));
  EXPECT_FALSE(p.opts.params.shell);
  EXPECT_TRUE(p.opts.params.stdin_open);
  EXPECT_EQ(p.opts.params.timeout_ms, 0u);
}

TEST(ClientOptions, TheCommandKeepsItsOwnOptions) {
  const Parsed p = parse({"rexec", "h", "ls", "-l"});
  ASSERT_EQ(p.outcome, ParseOutcome::Run);
  EXPECT_EQ(p.opts.target, "h");
  EXPECT_EQ(p.opts.params.argv, (Argv{"ls", "-l"}));
}

TEST(ClientOptions, SecondDoubleDashBelongsToTheCommand) {
  const Parsed p = parse({"rexec", "h", "--", "ls", "--", "-l"});
  ASSERT_EQ(p.outcome, ParseOutcome::Run);
  EXPECT_EQ(p.opts.params.argv, (Argv{"ls", "--", "-l"}));
}

TEST(ClientOptions, CommandOptionsThatLookLikeOursStayWithTheCommand) {
  const Parsed p = parse({"rexec", "h", "grep", "-n", "--timeout", "x"});
  ASSERT_EQ(p.outcome, ParseOutcome::Run);
  EXPECT_EQ(p.opts.params.argv, (Argv{"grep", "-n", "--timeout", "x"}));
  EXPECT_TRUE(p.opts.params.stdin_open);
  EXPECT_EQ(p.opts.params.timeout_ms, 0u);
}

TEST(ClientOptions, IdentityBeforeTheHost) {
  const Parsed p = parse({"rexec", "-i", "K", "h", "cmd"});
  ASSERT_EQ(p.outcome, ParseOutcome::Run);
  EXPECT_EQ(p.opts.identity, "K");
  EXPECT_EQ(p.opts.target, "h");
  EXPECT_EQ(p.opts.params.argv, (Argv{"cmd"}));
}

TEST(ClientOptions, IdentityAfterTheHost) {
  const Parsed p = parse({"rexec", "h", "-i", "K", "cmd"});
  ASSERT_EQ(p.outcome, ParseOutcome::Run);
  EXPECT_EQ(p.opts.identity, "K");
  EXPECT_EQ(p.opts.target, "h");
  EXPECT_EQ(p.opts.params.argv, (Argv{"cmd"}));
}

TEST(ClientOptions, IdentityLongFormWithEquals) {
  const Parsed p = parse({"rexec", "--identity=K", "h", "cmd"});
  ASSERT_EQ(p.outcome, ParseOutcome::Run);
  EXPECT_EQ(p.opts.identity, "K");
  EXPECT_EQ(p.opts.params.argv, (Argv{"cmd"}));
}

TEST(ClientOptions, IdentityLongFormWithSeparateValue) {
  const Parsed p = parse({"rexec", "--identity", "K", "h", "cmd"});
  ASSERT_EQ(p.outcome, ParseOutcome::Run);
  EXPECT_EQ(p.opts.identity, "K");
  EXPECT_EQ(p.opts.target, "h");
}

TEST(ClientOptions, IdentityShortFormAttached) {
  const Parsed p = parse({"rexec", "-iK", "h", "cmd"});
  ASSERT_EQ(p.outcome, ParseOutcome::Run);
  EXPECT_EQ(p.opts.identity, "K");
  EXPECT_EQ(p.opts.target, "h");
  EXPECT_EQ(p.opts.params.argv, (Argv{"cmd"}));
}

TEST(ClientOptions, IdentityDefaultsToTheConfigDirectory) {
  const Parsed p = parse({"rexec", "h", "cmd"});
  ASSERT_EQ(p.outcome, ParseOutcome::Run);
  EXPECT_EQ(p.opts.identity, defaultIdentityPath());
}

TEST(ClientOptions, NoStdinBeforeTheHost) {
  const Parsed p = parse({"rexec", "-n", "h", "cmd"});
  ASSERT_EQ(p.outcome, ParseOutcome::Run);
  EXPECT_FALSE(p.opts.params.stdin_open);
  EXPECT_EQ(p.opts.target, "h");
  EXPECT_EQ(p.opts.params.argv, (Argv{"cmd"}));
}

TEST(ClientOptions, NoStdinAfterTheHost) {
  const Parsed p = parse({"rexec", "h", "-n", "cmd"});
  ASSERT_EQ(p.outcome, ParseOutcome::Run);
  EXPECT_FALSE(p.opts.params.stdin_open);
  EXPECT_EQ(p.opts.target, "h");
  EXPECT_EQ(p.opts.params.argv, (Argv{"cmd"}));
}

TEST(ClientOptions, ShellModeJoinsTheWordsIntoOneString) {
  const Parsed p = parse({"rexec", "--sh", "h", "a | b", "c"});
  ASSERT_EQ(p.outcome, ParseOutcome::Run);
  EXPECT_TRUE(p.opts.params.shell);
  EXPECT_EQ(p.opts.target, "h");
  EXPECT_EQ(p.opts.params.argv, (Argv{"a | b c"}));
}

TEST(ClientOptions, EnvIsRepeatable) {
  const Parsed p = parse({"rexec", "--env", "A=1", "--env", "B=2", "h", "cmd"});
  ASSERT_EQ(p.outcome, ParseOutcome::Run);
  const std::vector<std::pair<std::string, std::string>> expected{{"A", "1"}, {"B", "2"}};
  EXPECT_EQ(p.opts.params.env, expected);
  EXPECT_EQ(p.opts.target, "h");
  EXPECT_EQ(p.opts.params.argv, (Argv{"cmd"}));
}

TEST(ClientOptions, EnvValueMayContainEqualsOrBeEmpty) {
  const Parsed p = parse({"rexec", "h", "--env", "A=x=y", "--env", "B=", "cmd"});
  ASSERT_EQ(p.outcome, ParseOutcome::Run);
  const std::vector<std::pair<std::string, std::string>> expected{{"A", "x=y"}, {"B", ""}};
  EXPECT_EQ(p.opts.params.env, expected);
}

TEST(ClientOptions, EnvWithoutEqualsIsAnError) {
  const Parsed p = parse({"rexec", "--env", "bad", "h", "cmd"});
  EXPECT_EQ(p.outcome, ParseOutcome::Exit);
  EXPECT_EQ(p.exit_code, 255);
}

TEST(ClientOptions, EnvWithEmptyNameIsAnError) {
  const Parsed p = parse({"rexec", "--env", "=1", "h", "cmd"});
  EXPECT_EQ(p.outcome, ParseOutcome::Exit);
  EXPECT_EQ(p.exit_code, 255);
}

TEST(ClientOptions, TimeoutInSecondsBecomesMilliseconds) {
  const Parsed p = parse({"rexec", "--timeout", "1.5", "h", "cmd"});
  ASSERT_EQ(p.outcome, ParseOutcome::Run);
  EXPECT_EQ(p.opts.params.timeout_ms, 1500u);
}

TEST(ClientOptions, TimeoutAfterTheHost) {
  const Parsed p = parse({"rexec", "h", "--timeout=2", "cmd"});
  ASSERT_EQ(p.outcome, ParseOutcome::Run);
  EXPECT_EQ(p.opts.params.timeout_ms, 2000u);
}

TEST(ClientOptions, CwdIsPassedOn) {
  const Parsed p = parse({"rexec", "--cwd", "/srv", "h", "cmd"});
  ASSERT_EQ(p.outcome, ParseOutcome::Run);
  EXPECT_EQ(p.opts.params.cwd, "/srv");
}

TEST(ClientOptions, HostWithPort) {
  const Parsed p = parse({"rexec", "h:2222", "cmd"});
  ASSERT_EQ(p.outcome, ParseOutcome::Run);
  EXPECT_EQ(p.opts.target, "h:2222");
}

TEST(ClientOptions, MissingCommandIsAnError) {
  const Parsed p = parse({"rexec", "h"});
  EXPECT_EQ(p.outcome, ParseOutcome::Exit);
  EXPECT_EQ(p.exit_code, 255);
}

TEST(ClientOptions, MissingCommandAfterDoubleDashIsAnError) {
  const Parsed p = parse({"rexec", "h", "--"});
  EXPECT_EQ(p.outcome, ParseOutcome::Exit);
  EXPECT_EQ(p.exit_code, 255);
}

TEST(ClientOptions, MissingHostIsAnError) {
  const Parsed p = parse({"rexec"});
  EXPECT_EQ(p.outcome, ParseOutcome::Exit);
  EXPECT_EQ(p.exit_code, 255);
}

TEST(ClientOptions, UnknownOptionIsAnError) {
  const Parsed p = parse({"rexec", "--bogus", "h", "cmd"});
  EXPECT_EQ(p.outcome, ParseOutcome::Exit);
  EXPECT_EQ(p.exit_code, 255);
}

TEST(ClientOptions, UnknownOptionAfterTheHostIsAnError) {
  const Parsed p = parse({"rexec", "h", "--bogus", "cmd"});
  EXPECT_EQ(p.outcome, ParseOutcome::Exit);
  EXPECT_EQ(p.exit_code, 255);
}

TEST(ClientOptions, HelpExitsWithZero) {
  const Parsed p = parse({"rexec", "--help"});
  EXPECT_EQ(p.outcome, ParseOutcome::Exit);
  EXPECT_EQ(p.exit_code, 0);
}

TEST(ClientOptions, NonPositiveTimeoutIsAnError) {
  const Parsed p = parse({"rexec", "--timeout", "-1", "h", "cmd"});
  EXPECT_EQ(p.outcome, ParseOutcome::Exit);
  EXPECT_EQ(p.exit_code, 255);
}

TEST(ClientOptions, TAsksForATerminalTwiceForcesOneAndBigTOverrides) {
  EXPECT_EQ(parse({"rexec", "h", "ls"}).opts.tty, 0);
  EXPECT_EQ(parse({"rexec", "-t", "h", "sh"}).opts.tty, 1);
  EXPECT_EQ(parse({"rexec", "--tty", "h", "sh"}).opts.tty, 1);
  EXPECT_EQ(parse({"rexec", "-t", "h", "-t", "sh"}).opts.tty, 2);
  EXPECT_EQ(parse({"rexec", "-t", "-t", "-t", "h", "sh"}).opts.tty, 2);
  EXPECT_EQ(parse({"rexec", "-t", "-T", "h", "sh"}).opts.tty, 0);
  // After the host, -t is still ours until the command starts; after it, the command's.
  const Parsed p = parse({"rexec", "h", "-t", "vi", "-t", "tag"});
  ASSERT_EQ(p.outcome, ParseOutcome::Run);
  EXPECT_EQ(p.opts.tty, 1);
  EXPECT_EQ(p.opts.params.argv, (Argv{"vi", "-t", "tag"}));
}

TEST(ClientOptions, TAndNoStdinIsAnError) {
  const Parsed p = parse({"rexec", "-t", "-n", "h", "sh"});
  EXPECT_EQ(p.outcome, ParseOutcome::Exit);
  EXPECT_EQ(p.exit_code, 255);
  EXPECT_EQ(parse({"rexec", "-T", "-n", "h", "sh"}).outcome, ParseOutcome::Run);
}

TEST(ClientOptions, HostListsStandInForTheHost) {
  const Parsed p = parse({"rexec", "-H", "a,b[1-2]", "--fanout", "8", "uname", "-a"});
  ASSERT_EQ(p.outcome, ParseOutcome::Run);
  EXPECT_EQ(p.opts.target, "");
  EXPECT_EQ(p.opts.fanout.host_lists, (Argv{"a,b[1-2]"}));
  EXPECT_EQ(p.opts.fanout.fanout, 8u);
  EXPECT_EQ(p.opts.params.argv, (Argv{"uname", "-a"}));
  const Parsed q = parse({"rexec", "--gather", "-f", "list", "-gweb", "--gather-limit", "1M", "--", "-x"});
  ASSERT_EQ(q.outcome, ParseOutcome::Run);
  EXPECT_EQ(q.opts.fanout.host_files, (Argv{"list"}));
  EXPECT_EQ(q.opts.fanout.groups, (Argv{"web"}));
  EXPECT_TRUE(q.opts.fanout.gather);
  EXPECT_EQ(q.opts.fanout.gather_limit, 1024u * 1024u);
  for (auto [text, bytes] : std::vector<std::pair<std::string, uint64_t>>{{"1000", 1000},
                                                                          {"64KiB", 64 << 10},
                                                                          {"64 kb", 64 << 10},
                                                                          {"2g", 2ull << 30},
                                                                          {"7B", 7},
                                                                          {"1T", 1ull << 40}}) {
    const Parsed s = parse({"rexec", "-H", "h", "--gather-limit", text.c_str(), "true"});
    EXPECT_EQ(s.outcome, ParseOutcome::Run) << text;
    EXPECT_EQ(s.opts.fanout.gather_limit, bytes) << text;
  }
  for (const std::string bad : {"", "M", "12X", "5 MB extra", "99999999999999999999", "20000000T"}) {
    const Parsed s = parse({"rexec", "-H", "h", "--gather-limit", bad.c_str(), "true"});
    EXPECT_EQ(s.outcome, ParseOutcome::Exit) << bad;
    EXPECT_EQ(s.exit_code, 255) << bad;
  }
  EXPECT_EQ(q.opts.params.argv, (Argv{"-x"}));
}

TEST(ClientOptions, FanoutOnlyOptionsNeedAHostList) {
  EXPECT_EQ(parse({"rexec", "--gather", "h", "true"}).exit_code, 255);
  EXPECT_EQ(parse({"rexec", "h", "-H", "x", "true"}).exit_code, 255);
  EXPECT_EQ(parse({"rexec", "-H", "x", "--gather", "--json", "true"}).exit_code, 255);
  EXPECT_EQ(parse({"rexec", "-t", "-H", "x,y", "sh"}).exit_code, 255);
}

// --ready-fd is how a fan-out's master (client/background_masters.h) says it listens: a master's
// option only, never on a standard stream, and not in --help.
TEST(ClientOptions, ReadyFdIsForAMasterOnly) {
  Parsed p = parse({"rexec", "-M", "-S", "/tmp/m", "--ready-fd", "3", "--", "h:5"});
  EXPECT_EQ(p.outcome, ParseOutcome::Run);
  EXPECT_EQ(p.opts.ready_fd, 3);
  EXPECT_EQ(p.opts.target, "h:5");
  EXPECT_EQ(parse({"rexec", "--ready-fd", "3", "h", "true"}).exit_code, 255);
  EXPECT_EQ(parse({"rexec", "-S", "/tmp/m", "--ready-fd", "3", "h", "true"}).exit_code, 255);
  EXPECT_EQ(parse({"rexec", "-M", "-S", "/tmp/m", "--ready-fd", "2", "h"}).exit_code, 255);
  EXPECT_EQ(parse({"rexec", "-M", "-S", "/tmp/m", "--ready-fd", "-1", "h"}).exit_code, 255);
  testing::internal::CaptureStdout();
  parse({"rexec", "--help"});
  EXPECT_EQ(testing::internal::GetCapturedStdout().find("ready-fd"), std::string::npos);
}

TEST(ClientOptions, LogFileIsForAMaster) {
  EXPECT_EQ(parse({"rexec", "-M", "-S", "/tmp/m", "-E", "/tmp/log", "h"}).opts.log_file, "/tmp/log");
  EXPECT_EQ(parse({"rexec", "-S", "/tmp/m", "--persist", "5", "-E", "/tmp/log", "h", "true"}).outcome,
            ParseOutcome::Run);
  EXPECT_EQ(parse({"rexec", "-E", "/tmp/log", "h", "true"}).exit_code, 255);
  EXPECT_EQ(parse({"rexec", "-S", "/tmp/m", "-E", "/tmp/log", "h", "true"}).exit_code, 255);
}

}  // namespace
}  // namespace rx
