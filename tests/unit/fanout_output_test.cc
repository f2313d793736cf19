// The fan-out's output pieces without sockets: prefixed lines, gathered groups, the summary, the
// JSON record and the exit status rule.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "client/fanout_report.h"
#include "client/line_prefixer.h"
#include "client/output_groups.h"

namespace rx {
namespace {

TEST(LinePrefixer, WholeLinesOnlyAndTheLastOneCompleted) {
  LinePrefixer p("h1: ");
  std::string out;
  p.feed("a\nb", out);
  EXPECT_EQ(out, "h1: a\n");
  p.feed("c", out);
  EXPECT_EQ(out, "h1: a\n");
  EXPECT_EQ(p.held(), 2u);
  p.feed("\n\nd", out);
  EXPECT_EQ(out, "h1: a\nh1: bc\nh1: \n");
  p.finish(out);
  EXPECT_EQ(out, "h1: a\nh1: bc\nh1: \nh1: d\n");
  std::string nothing;
  p.finish(nothing);
  EXPECT_EQ(nothing, "");
}

TEST(LinePrefixer, ALongPartialLineIsLetOutInBoundedPieces) {
  LinePrefixer p("h: ", 4);
  std::string out;
  p.feed("abcdefghij", out);
  EXPECT_EQ(out, "h: abcd\nh: efgh\n");
  EXPECT_EQ(p.held(), 2u);
  p.feed("\n", out);
  EXPECT_EQ(out, "h: abcd\nh: efgh\nh: ij\n");
}

TEST(HostCapture, CutIsCountedAndSaid) {
  HostCapture c(5);
  c.add(true, "abc");
  c.add(false, "defg");
  EXPECT_EQ(c.out, "abc");
  EXPECT_EQ(c.err, "de");
  EXPECT_TRUE(c.cut);
  EXPECT_EQ(c.out_total, 3u);
  EXPECT_EQ(c.err_total, 4u);
}

HostCapture capture(const std::string& out, const std::string& err) {
  HostCapture c(1 << 20);
  c.add(true, out);
  c.add(false, err);
  return c;
}

TEST(OutputGroups, IdenticalOutputsAndOutcomesShareAGroup) {
  OutputGroups g;
  g.add(3, capture("x\n", ""), "exit 0");
  g.add(0, capture("x\n", ""), "exit 0");
  g.add(1, capture("x\n", ""), "exit 1");
  g.add(2, capture("x\n", "warn"), "exit 0");
  g.add(4, capture("x\n", ""), "exit 0");
  std::string out, err;
  renderGroups(g, {"n01", "n02", "n03", "n04", "n05"}, out, err);
  const std::string rule29(29, '-'), rule20(20, '-'), rule27(27, '-');
  EXPECT_EQ(out, rule29 + "\nn[01,04-05] (3 hosts, exit 0)\n" + rule29 + "\nx\n" + rule20 +
                     "\nn02 (1 host, exit 1)\n" + rule20 + "\nx\n" + rule20 + "\nn03 (1 host, exit 0)\n" +
                     rule20 + "\nx\n");
  EXPECT_EQ(err, rule27 + "\nn03 (1 host, exit 0) stderr\n" + rule27 + "\nwarn\n");
}

HostRecord rec(const std::string& label, int status, bool rexec_failed = false) {
  HostRecord r;
  r.label = label;
  r.outcome.exit_status = status;
  r.outcome.exit_code = status;
  r.outcome.rexec_failed = rexec_failed;
  return r;
}

TEST(FanoutReport, ExitStatusRule) {
  EXPECT_EQ(fanoutExitStatus({rec("a", 0), rec("b", 0)}), 0);
  EXPECT_EQ(fanoutExitStatus({rec("a", 0), rec("b", 3), rec("c", 124), rec("d", 1)}), 124);
  EXPECT_EQ(fanoutExitStatus({rec("a", 200), rec("b", 255, true), rec("c", 1)}), 255);
  HostRecord skipped = rec("s", 0);
  skipped.skipped = true;
  EXPECT_EQ(fanoutExitStatus({rec("a", 2), skipped}), 2);
}

TEST(FanoutReport, SummaryNamesTheFailingHosts) {
  HostRecord t = rec("n05", 124);
  t.outcome.timed_out = true;
  t.outcome.exit_code = -1;
  HostRecord s = rec("n09", 0);
  s.skipped = true;
  HostRecord s2 = rec("n10", 0);
  s2.skipped = true;
  const std::string text =
      summaryText({rec("n01", 0), rec("n02", 1), rec("n03", 1), rec("n04", 255, true), t, s, s2});
  EXPECT_EQ(text,
            "rexec: 7 hosts: 1 ok, 4 failed, 2 skipped\n"
            "rexec:   exit 1 on 2 hosts: n[02-03]\n"
            "rexec:   exit 124 (timed out) on 1 host: n05\n"
            "rexec:   exit 255 (connection failed) on 1 host: n04\n"
            "rexec:   skipped 2 hosts: n[09-10]\n");
}

// Two hosts killed by the same signal, one of them with a core dump: two different outcomes.
TEST(FanoutReport, ACoreDumpIsItsOwnOutcome) {
  HostRecord a = rec("n1", 139), b = rec("n2", 139);
  for (HostRecord* h : {&a, &b}) {
    h->outcome.exit_code = -1;
    h->outcome.signal_name = "SEGV";
  }
  b.outcome.core_dumped = true;
  EXPECT_EQ(summaryText({a, b}),
            "rexec: 2 hosts: 0 ok, 2 failed\n"
            "rexec:   exit 139 (SIGSEGV) on 1 host: n1\n"
            "rexec:   exit 139 (SIGSEGV, core dumped) on 1 host: n2\n");
}

TEST(FanoutReport, JsonRecord) {
  HostRecord r = rec("n1", 143);
  r.outcome.exit_code = -1;
  r.outcome.signal_name = "TERM";
  r.start_unix = 1.5;
  r.wall_s = 0.25;
  r.stdout_bytes = 3;
  const std::string out = "a\"\n", err = std::string("\xff\x00", 2);
  EXPECT_EQ(jsonRecord(r, &out, &err),
            "{\"host\":\"n1\",\"skipped\":false,\"status\":143,\"exit_code\":null,\"signal\":\"TERM\","
            "\"timed_out\":false,\"error\":null,\"start\":1.500,\"wall\":0.250,\"stdout_bytes\":3,"
            "\"stderr_bytes\":0,\"output_cut\":false,\"stdout\":\"a\\\"\\n\",\"stderr_base64\":\"/wA=\"}");
  HostRecord failed = rec("n2", 255, true);
  failed.outcome.exit_code = -1;
  failed.outcome.message = "cannot connect: refused";
  EXPECT_NE(jsonRecord(failed, nullptr, nullptr).find("\"error\":\"cannot connect: refused\""),
            std::string::npos);
}

TEST(FanoutReport, Utf8Check) {
  EXPECT_TRUE(validUtf8("plain"));
  EXPECT_TRUE(validUtf8("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(validUtf8("\xc3"));
  EXPECT_FALSE(validUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(validUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(validUtf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_EQ(jsonString(std::string("\x01\t", 2)), "\"\\u0001\\t\"");
}

}  // namespace
}  // namespace rx
