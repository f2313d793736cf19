// Host lists as pdsh/ClusterShell write them: expansion, padding, groups, files, folding back.
#include "client/host_list.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace rx {
namespace {

using Hosts = std::vector<std::string>;

Hosts expand(const std::string& list, const HostGroups& groups = {}) {
  Hosts out;
  const Status s = expandHostList(list, groups, out);
  EXPECT_TRUE(s.ok()) << list << ": " << s.message();
  return out;
}

std::string expandError(const std::string& list, const HostGroups& groups = {}) {
  Hosts out;
  const Status s = expandHostList(list, groups, out);
  EXPECT_FALSE(s.ok()) << list << " should fail";
  return s.message();
}

TEST(HostList, PlainNamesAndPorts) {
  EXPECT_EQ(expand("a,b:5513, c "), (Hosts{"a", "b:5513", "c"}));
  EXPECT_EQ(expand("[::1]:5512,[::1]"), (Hosts{"[::1]:5512", "[::1]"}));
  EXPECT_EQ(expand(""), Hosts{});
}

TEST(HostList, RangesKeepTheirPadding) {
  EXPECT_EQ(expand("node[01-03]"), (Hosts{"node01", "node02", "node03"}));
  EXPECT_EQ(expand("node[08-11]"), (Hosts{"node08", "node09", "node10", "node11"}));
  EXPECT_EQ(expand("node[9-11]"), (Hosts{"node9", "node10", "node11"}));
  EXPECT_EQ(expand("node[1-3,7]"), (Hosts{"node1", "node2", "node3", "node7"}));
  EXPECT_EQ(expand("n[001-002]x"), (Hosts{"n001x", "n002x"}));
  EXPECT_EQ(expand("n[1-7/3]"), (Hosts{"n1", "n4", "n7"}));
  EXPECT_EQ(expand("n[5]"), (Hosts{"n5"}));
}

TEST(HostList, SeveralRangesMakeAProduct) {
  EXPECT_EQ(expand("r[1-2]-n[1,3]"), (Hosts{"r1-n1", "r1-n3", "r2-n1", "r2-n3"}));
  EXPECT_EQ(expand("127.0.0.[2-3]:[7000-7001]"),
            (Hosts{"127.0.0.2:7000", "127.0.0.2:7001", "127.0.0.3:7000", "127.0.0.3:7001"}));
}

TEST(HostList, CommasInsideBracketsBelongToTheRange) {
  EXPECT_EQ(expand("a[1,3],b"), (Hosts{"a1", "a3", "b"}));
}

TEST(HostList, BadRangesAreClearErrors) {
  EXPECT_NE(expandError("node[5-1]").find("5 is above 1"), std::string::npos);
  EXPECT_NE(expandError("node[1-").find("unclosed"), std::string::npos);
  EXPECT_NE(expandError("node]1").find("unmatched"), std::string::npos);
  EXPECT_NE(expandError("node[1--2]").find("bad range"), std::string::npos);
  EXPECT_NE(expandError("node[1-2/0]").find("step 0"), std::string::npos);
  EXPECT_NE(expandError("no de").find("bad character"), std::string::npos);
  EXPECT_NE(expandError("a/b").find("bad character"), std::string::npos);
}

TEST(HostList, HugeRangesAreRefusedBeforeExpanding) {
  const std::string e = expandError("node[01-1000000]");
  EXPECT_NE(e.find("more than 100000 hosts"), std::string::npos) << e;
  EXPECT_NE(expandError("n[1-999999999]").find("more than"), std::string::npos);
  EXPECT_NE(expandError("n[1-1000]-[1-1000]").find("more than"), std::string::npos);
  EXPECT_NE(expandError("n[1-9999999999]").find("too long"), std::string::npos);
  EXPECT_EQ(expand("n[1-100000]").size(), 100000u);
}

TEST(HostList, Groups) {
  HostGroups groups;
  ASSERT_TRUE(
      parseHostGroups("# comment\nweb: web[01-02] db1\n\nall: @web,x  # tail\nloop: @loop\n", "G", groups)
          .ok());
  EXPECT_EQ(expand("@web", groups), (Hosts{"web01", "web02", "db1"}));
  EXPECT_EQ(expand("a,@all", groups), (Hosts{"a", "web01", "web02", "db1", "x"}));
  EXPECT_NE(expandError("@nope", groups).find("unknown host group @nope"), std::string::npos);
  EXPECT_NE(expandError("@loop", groups).find("deep"), std::string::npos);
  HostGroups bad;
  const Status s = parseHostGroups("ok: a\nno colon here\n", "FILE", bad);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "FILE line 2: expected \"NAME: HOST...\"");
}

TEST(HostList, HostFiles) {
  Hosts out;
  ASSERT_TRUE(parseHostFile("# hosts\nnode[1-2]\n\n  c:6000  # the odd one\nd e\n", "F", {}, out).ok());
  EXPECT_EQ(out, (Hosts{"node1", "node2", "c:6000", "d", "e"}));
  Hosts bad;
  const Status s = parseHostFile("a\nb[3-1]\n", "F", {}, bad);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message().rfind("F line 2: ", 0), 0u) << s.message();
}

TEST(HostList, DuplicatesGoFirstKept) {
  Hosts h{"b", "a", "b", "c", "a"};
  removeDuplicateHosts(h);
  EXPECT_EQ(h, (Hosts{"b", "a", "c"}));
}

TEST(HostList, FoldBackIntoRanges) {
  EXPECT_EQ(foldHosts({"node01", "node02", "node03", "node07"}), "node[01-03,07]");
  EXPECT_EQ(foldHosts({"node9", "node10", "node11"}), "node[9-11]");
  EXPECT_EQ(foldHosts({"node3", "a", "node1", "node2"}), "node[1-3],a");
  EXPECT_EQ(foldHosts({"x"}), "x");
  EXPECT_EQ(foldHosts({"n5"}), "n5");
  EXPECT_EQ(foldHosts({"n08", "n9"}), "n[08,9]");
  EXPECT_EQ(foldHosts({"127.0.0.2:7000", "127.0.0.2:7001"}), "127.0.0.2:[7000-7001]");
  EXPECT_EQ(foldHosts({"127.0.0.2:7000", "127.0.0.3:7000", "127.0.0.5:7000", "x"}), "127.0.0.[2-3,5]:7000,x");
  EXPECT_EQ(foldHosts({"a1b2", "a3b2", "a1b2"}), "a[1,3]b2");
  EXPECT_EQ(foldHosts({}), "");
}

TEST(HostList, FoldingThenExpandingGivesTheSameHosts) {
  const Hosts cases[] = {
      {"n08", "n09", "n10", "n1", "n2"}, {"a1b", "a2b", "a3c"}, {"r1-n01", "r1-n02", "r2-n01"}};
  for (const Hosts& hosts : cases) {
    Hosts back = expand(foldHosts(hosts));
    Hosts sorted_in = hosts, sorted_back = back;
    std::sort(sorted_in.begin(), sorted_in.end());
    std::sort(sorted_back.begin(), sorted_back.end());
    EXPECT_EQ(sorted_back, sorted_in) << foldHosts(hosts);
  }
}

}  // namespace
}  // namespace rx
