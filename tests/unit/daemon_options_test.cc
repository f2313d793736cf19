// parseDaemonOptions: every limit has an option, a safe default, and bad values are one clear
// line and exit status 2.
#include "daemon/settings.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace rx {
namespace {

struct Parsed {
  std::optional<int> exit_code;
  DaemonOptions opts;
  std::string err;  // what went to stderr
};

Parsed parse(std::vector<const char*> args) {
  args.insert(args.begin(), {"rexecd", "--config", "/dev/null"});  // never the machine's own config
  Parsed p;
  ::testing::internal::CaptureStderr();
  p.exit_code = parseDaemonOptions(static_cast<int>(args.size()), args.data(), p.opts);
  p.err = ::testing::internal::GetCapturedStderr();
  return p;
}

TEST(DaemonOptions, DefaultsAreSafe) {
  const Parsed p = parse({});
  ASSERT_FALSE(p.exit_code);
  const ServerLimits& l = p.opts.limits;
  EXPECT_EQ(l.login_grace_ms, 10000u);
  EXPECT_EQ(toString(l.admission.max_startups), "10:30:100");
  EXPECT_EQ(l.admission.per_source_max_startups, 10u);
  EXPECT_EQ(l.admission.penalty.base_ms, 5000u);
  EXPECT_EQ(l.admission.penalty.max_ms, 300000u);
  EXPECT_EQ(l.admission.penalty.max_entries, 65536u);
  EXPECT_EQ(l.admission.max_connections, 20000u);
  EXPECT_EQ(l.stall_timeout_ms, 60000u);
  EXPECT_EQ(p.opts.session.max_argc, 4096u);
  EXPECT_EQ(p.opts.session.max_argv_bytes, 256u * 1024);
  EXPECT_EQ(p.opts.session.max_env_vars, 128u);
  EXPECT_EQ(p.opts.session.max_jobs_per_connection, 64u);
  EXPECT_EQ(p.err, "");
}

TEST(DaemonOptions, EveryLimitCanBeSet) {
  const Parsed p = parse({"--login-grace-time",
                          "2",
                          "--max-startups",
                          "1:100:1",
                          "--per-source-max-startups",
                          "3",
                          "--auth-penalty",
                          "1.5",
                          "--max-connections",
                          "7",
                          "--stall-timeout",
                          "0.25",
                          "--max-argc",
                          "5",
                          "--max-argv-bytes",
                          "100",
                          "--max-env",
                          "0",
                          "--max-jobs-per-connection",
                          "2"});
  ASSERT_FALSE(p.exit_code) << p.err;
  const ServerLimits& l = p.opts.limits;
  EXPECT_EQ(l.login_grace_ms, 2000u);
  EXPECT_EQ(toString(l.admission.max_startups), "1:100:1");
  EXPECT_EQ(l.admission.per_source_max_startups, 3u);
  EXPECT_EQ(l.admission.penalty.base_ms, 1500u);
  EXPECT_EQ(l.admission.max_connections, 7u);
  EXPECT_EQ(l.stall_timeout_ms, 250u);
  EXPECT_EQ(p.opts.session.max_argc, 5u);
  EXPECT_EQ(p.opts.session.max_argv_bytes, 100u);
  EXPECT_EQ(p.opts.session.max_env_vars, 0u);
  EXPECT_EQ(p.opts.session.max_jobs_per_connection, 2u);
}

TEST(DaemonOptions, ZeroTurnsOffPenaltiesAndTheStallTimeout) {
  const Parsed p = parse({"--auth-penalty", "0", "--stall-timeout", "0"});
  ASSERT_FALSE(p.exit_code) << p.err;
  EXPECT_EQ(p.opts.limits.admission.penalty.base_ms, 0u);
  EXPECT_EQ(p.opts.limits.stall_timeout_ms, 0u);
}

TEST(DaemonOptions, FractionsOfASecondRoundUp) {
  const Parsed p = parse({"--login-grace-time", "0.0001"});
  ASSERT_FALSE(p.exit_code) << p.err;
  EXPECT_EQ(p.opts.limits.login_grace_ms, 1u) << "never rounded down to 'no grace at all'";
}

TEST(DaemonOptions, BadValuesAreOneClearLineAndExitTwo) {
  const std::vector<std::vector<const char*>> cases{
      {"--login-grace-time", "0"},        {"--login-grace-time", "-1"},
      {"--login-grace-time", "ten"},      {"--login-grace-time", "inf"},
      {"--login-grace-time", "1e9"},      {"--max-startups", "10:30"},
      {"--max-startups", "100:30:10"},    {"--max-startups", "10:0:100"},
      {"--per-source-max-startups", "0"}, {"--per-source-max-startups", "x"},
      {"--auth-penalty", "-5"},           {"--auth-penalty", "nan"},
      {"--max-connections", "0"},         {"--max-connections", "-1"},
      {"--max-connections", "0x10"},      {"--max-connections", "10k"},
      {"--stall-timeout", "-0.5"},        {"--max-argc", "0"},
      {"--max-argv-bytes", "99999999"},   {"--max-env", "-1"},
      {"--max-jobs-per-connection", "0"}, {"--max-jobs-per-connection", ""},
  };
  for (const auto& args : cases) {
    const Parsed p = parse(args);
    ASSERT_TRUE(p.exit_code) << args[0] << " " << args[1];
    EXPECT_EQ(*p.exit_code, 2) << args[0] << " " << args[1];
    EXPECT_EQ(p.err.rfind("rexecd: ", 0), 0u) << p.err;
    EXPECT_NE(p.err.find(args[0]), std::string::npos) << "the line names the option: " << p.err;
    EXPECT_EQ(p.err.find('\n'), p.err.size() - 1) << "one line: " << p.err;
  }
}

TEST(DaemonOptions, UnknownOptionIsOneLineAndExitTwo) {
  const Parsed p = parse({"--max-startup", "10:30:100"});
  ASSERT_TRUE(p.exit_code);
  EXPECT_EQ(*p.exit_code, 2);
  EXPECT_EQ(p.err.find('\n'), p.err.size() - 1) << p.err;
}

TEST(DaemonOptions, HelpExitsZeroAndListsTheLimits) {
  ::testing::internal::CaptureStdout();
  const Parsed p = parse({"--help"});
  const std::string out = ::testing::internal::GetCapturedStdout();
  ASSERT_TRUE(p.exit_code);
  EXPECT_EQ(*p.exit_code, 0);
  for (const char* name : {"--login-grace-time", "--max-startups", "--per-source-max-startups",
                           "--auth-penalty", "--max-connections", "--stall-timeout", "--max-argc",
                           "--max-argv-bytes", "--max-env", "--max-jobs-per-connection"})
    EXPECT_NE(out.find(name), std::string::npos) << name;
}

}  // namespace
}  // namespace rx
