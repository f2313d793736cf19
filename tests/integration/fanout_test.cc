// The fan-out (-H, -f, -g) against 50 real rexecd on 127.0.0.2 ... 127.0.0.51, sharing one host
// key and one client key; some daemons force a command on the key (command=) so that they fail,
// hang, die of a signal or fail late, and a closed port refuses. The daemons are started once for
// the whole suite; every run is the real rexec binary.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/integration/harness.h"

namespace rxtest {
namespace {

constexpr int kDaemons = 50;
// Every daemon listens on the same ports (on its own address), so host ranges over addresses work.
constexpr int kPortsPerDaemon = 23;
constexpr int kNormal = 45;    // 127.0.0.2 ... 127.0.0.46 run what they are asked
constexpr int kFail1 = 45;     // 127.0.0.47: prints "failing", exits 3
constexpr int kFail2 = 46;     // 127.0.0.48: the same
constexpr int kHang = 47;      // 127.0.0.49: sleeps 60 s
constexpr int kSignal = 48;    // 127.0.0.50: kills itself with TERM
constexpr int kLateFail = 49;  // 127.0.0.51: exits 3 once 7 other commands have started

std::string address(int daemon) { return "127.0.0." + std::to_string(2 + daemon); }

struct Farm {
  TempDir dir;
  std::string key;
  std::vector<std::unique_ptr<Daemon>> daemons;
  std::vector<uint16_t> ports;
};
Farm* farm = nullptr;

std::vector<std::string> limits() {
  // Generous login grace (and connect timeout, below): under ASan, with another test's 50 daemons
  // beside these on 2 cores, 64 handshakes at once took longer than the 10 s defaults.
  return {"--per-source-max-startups", "2000", "--max-startups", "2000:30:4000", "--auth-penalty", "0",
          "--login-grace-time",        "120"};
}

class FanoutTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    farm = new Farm;
    const std::string& d = farm->dir.path();
    farm->key = farm->dir.file("id");
    const std::string line = makeKey(farm->key);
    const std::map<int, std::string> forced{
        {kFail1, "echo failing; exit 3"},
        {kFail2, "echo failing; exit 3"},
        {kHang, "sleep 60"},
        {kSignal, "kill -TERM $$"},
        // Bounded at 60 s; the fail-fast test makes the 7 marks before this can time out.
        {kLateFail, "n=0; while [ $(ls " + d +
                        "/started 2>/dev/null | wc -l) -lt 7 ] && [ $n -lt 600 ]; do "
                        "sleep 0.1; n=$((n+1)); done; echo failing late; exit 3"},
    };
    writeFile(farm->dir.file("authorized_keys"), line, 0600);
    for (const auto& [i, cmd] : forced)
      writeFile(farm->dir.file("authorized_keys." + std::to_string(i)), "command=\"" + cmd + "\" " + line,
                0600);
    auto keysFor = [](int i) {
      return farm->dir.file(i >= kNormal ? "authorized_keys." + std::to_string(i) : "authorized_keys");
    };
    // The first one makes the host key and picks the ports; the others take the same ones.
    Daemon::Options first;
    first.log_level = "notice";
    first.listen = address(0) + ":0";
    first.extra_args = limits();
    for (int k = 1; k < kPortsPerDaemon; ++k)
      first.extra_args.insert(first.extra_args.end(), {"--listen", address(0) + ":0"});
    farm->daemons.push_back(std::make_unique<Daemon>(keysFor(0), d, first));
    farm->ports = farm->daemons[0]->ports();
    ASSERT_EQ(farm->ports.size(), static_cast<size_t>(kPortsPerDaemon));
    std::vector<std::future<std::unique_ptr<Daemon>>> starting;
    for (int i = 1; i < kDaemons; ++i) {
      Daemon::Options o;
      o.log_level = "notice";
      o.listen = address(i) + ":" + std::to_string(farm->ports[0]);
      o.extra_args = limits();
      for (int k = 1; k < kPortsPerDaemon; ++k)
        o.extra_args.insert(o.extra_args.end(),
                            {"--listen", address(i) + ":" + std::to_string(farm->ports[k])});
      starting.push_back(
          std::async(std::launch::async, [=] { return std::make_unique<Daemon>(keysFor(i), d, o); }));
    }
    for (auto& f : starting) farm->daemons.push_back(f.get());
    std::string known;
    for (int i = 0; i < kDaemons; ++i)
      for (uint16_t p : farm->ports)
        known += "[" + address(i) + "]:" + std::to_string(p) + " " + farm->daemons[0]->fingerprint() + "\n";
    writeFile(farm->dir.file("known_hosts"), known, 0600);
  }

  static void TearDownTestSuite() {
    // All at once: each stop waits for its daemon's exit.
    std::vector<std::future<int>> stopping;
    for (auto& d : farm->daemons)
      stopping.push_back(std::async(std::launch::async, [&d] { return d->stop(); }));
    for (auto& f : stopping) EXPECT_EQ(f.get(), 0) << "rexecd should exit 0 on SIGTERM";
    delete farm;
    farm = nullptr;
  }

  static std::string host(int daemon, int port_index = 0) {
    return address(daemon) + ":" + std::to_string(farm->ports[port_index]);
  }
  static std::string p0() { return std::to_string(farm->ports[0]); }

  // rexec -i KEY --known-hosts FILE OPTS... -- COMMAND...
  static std::vector<std::string> rexec(const std::vector<std::string>& opts,
                                        const std::vector<std::string>& command,
                                        const std::string& known_hosts = "") {
    std::vector<std::string> argv{rexecPath(),
                                  "-i",
                                  farm->key,
                                  "--known-hosts",
                                  known_hosts.empty() ? farm->dir.file("known_hosts") : known_hosts,
                                  "--connect-timeout",
                                  "120"};
    argv.insert(argv.end(), opts.begin(), opts.end());
    argv.push_back("--");
    argv.insert(argv.end(), command.begin(), command.end());
    return argv;
  }

  static std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }

  // A port on 127.0.0.52 that nothing listens on: connecting is refused.
  static std::string refusedHost() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x7f000034);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return "127.0.0.52:" + std::to_string(ntohs(a.sin_port));
  }

  static size_t count(const std::string& text, const std::string& needle) {
    size_t n = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
  }
};

// 45 normal hosts plus none other: 127.0.0.[2-46]:P.
std::string normalRange() { return "127.0.0.[2-46]:" + std::to_string(farm->ports[0]); }

TEST_F(FanoutTest, LiveLinesArePrefixedWholeAndNeverInterleaved) {
  // A 27 KB line arrives in several pieces; the last line has no newline.
  const auto r = run(
      rexec({"-H", normalRange()}, {"sh", "-c",
                                    "printf 'one\\ntwo\\n'; yes abcdefghij | head -c 30000 | tr -d '\\n'; "
                                    "printf '\\nlast-no-newline'; printf 'e1\\ne2' >&2"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::string big;
  for (int i = 0; i < 2727; ++i) big += "abcdefghij";
  big += "abc";
  std::map<std::string, std::vector<std::string>> out_by_host, err_by_host;
  for (const std::string& l : lines(r.out)) {
    const size_t colon = l.find(": ");
    ASSERT_NE(colon, std::string::npos) << l.substr(0, 200);
    out_by_host[l.substr(0, colon)].push_back(l.substr(colon + 2));
  }
  for (const std::string& l : lines(r.err)) {
    if (l.rfind("rexec: ", 0) == 0) continue;
    const size_t colon = l.find(": ");
    ASSERT_NE(colon, std::string::npos) << l;
    err_by_host[l.substr(0, colon)].push_back(l.substr(colon + 2));
  }
  ASSERT_EQ(out_by_host.size(), static_cast<size_t>(kNormal));
  for (int i = 0; i < kNormal; ++i) {
    EXPECT_EQ(out_by_host[host(i)], (std::vector<std::string>{"one", "two", big, "last-no-newline"}))
        << host(i);
    EXPECT_EQ(err_by_host[host(i)], (std::vector<std::string>{"e1", "e2"})) << host(i);
  }
  EXPECT_NE(r.err.find("rexec: 45 hosts: 45 ok, 0 failed\n"), std::string::npos) << r.err;
}

TEST_F(FanoutTest, ExitStatusRuleAndSummary) {
  const std::string refused = refusedHost();
  const std::string p = p0();
  // Every kind at once: 255 wins, and each failing host is named once.
  auto r =
      run(rexec({"-H", host(0) + "," + host(1) + ",127.0.0.[47-50]:" + p + "," + refused, "--timeout", "2"},
                {"echo", "hi"}));
  EXPECT_EQ(r.exit_code, 255) << r.err;
  EXPECT_NE(r.out.find(host(0) + ": hi\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(host(kFail1) + ": failing\n"), std::string::npos) << r.out;
  EXPECT_EQ(count(r.err, "rexec: " + refused + ": "), 1u) << r.err;
  EXPECT_NE(r.err.find("rexec: " + refused + ": cannot connect to 127.0.0.52"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("rexec: 7 hosts: 2 ok, 5 failed\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("rexec:   exit 3 on 2 hosts: 127.0.0.[47-48]:" + p + "\n"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("rexec:   exit 124 (timed out) on 1 host: " + host(kHang) + "\n"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("rexec:   exit 143 (SIGTERM) on 1 host: " + host(kSignal) + "\n"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("rexec:   exit 255 (connection failed) on 1 host: " + refused + "\n"),
            std::string::npos)
      << r.err;
  // Without the unreachable one: the highest status.
  r = run(rexec({"-H", host(0) + ",127.0.0.[47-50]:" + p, "--timeout", "2"}, {"true"}));
  EXPECT_EQ(r.exit_code, 143) << r.err;
  r = run(rexec({"-H", host(0) + "," + host(kFail1)}, {"true"}));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  r = run(rexec({"-H", host(0) + "," + host(1)}, {"true"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "rexec: 2 hosts: 2 ok, 0 failed\n");
}

TEST_F(FanoutTest, GatherPrintsEachDistinctOutputOnce) {
  auto r = run(rexec({"--gather", "-H", normalRange() + ",127.0.0.[47-48]:" + p0()}, {"echo", "same"}));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(count(r.out, "same\n"), 1u) << r.out;
  EXPECT_EQ(count(r.out, "failing\n"), 1u) << r.out;
  const std::string ok_header = "\n127.0.0.[2-46]:" + p0() + " (45 hosts, exit 0)\n";
  const std::string fail_header = "\n127.0.0.[47-48]:" + p0() + " (2 hosts, exit 3)\n";
  ASSERT_NE(r.out.find(ok_header), std::string::npos) << r.out;
  ASSERT_NE(r.out.find(fail_header), std::string::npos) << r.out;
  EXPECT_LT(r.out.find(ok_header), r.out.find(fail_header));  // in the order of their first host
  EXPECT_NE(r.out.find(ok_header + std::string(ok_header.size() - 2, '-') + "\nsame\n"), std::string::npos)
      << r.out;

  // Held output is capped, and the cut is said (per host and in the header), never silent.
  r = run(rexec({"--gather", "--gather-limit", "1000", "-H", "127.0.0.[2-4]:" + p0()},
                {"sh", "-c", "head -c 5000 /dev/zero"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count(r.err, "output cut: kept 1000 of 5000 bytes (--gather-limit 1000)"), 3u) << r.err;
  EXPECT_NE(r.out.find("127.0.0.[2-4]:" + p0() + " (3 hosts, exit 0, output cut at --gather-limit)"),
            std::string::npos);
  EXPECT_EQ(count(r.out, std::string(1000, '\0')), 1u);
}

TEST_F(FanoutTest, OutDirHoldsEachHostsBytesExactly) {
  const std::string out_dir = farm->dir.file("out");
  const auto r =
      run(rexec({"--out-dir", out_dir, "-H", "127.0.0.[2-11]:" + p0()},
                {"sh", "-c", "f=$(mktemp); head -c 300000 /dev/urandom > $f; cat $f; cat $f >&2; rm -f $f"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  std::set<std::string> digests;
  for (int i = 0; i < 10; ++i) {
    const std::string base = out_dir + "/" + host(i);
    const std::string out = readFile(base + ".out"), err = readFile(base + ".err");
    EXPECT_EQ(out.size(), 300000u) << base;
    EXPECT_EQ(sha256Hex(out), sha256Hex(err)) << base;
    EXPECT_NE(out.find('\0'), std::string::npos);
    EXPECT_EQ(readFile(base + ".status"), "0\n");
    digests.insert(sha256Hex(out));
  }
  EXPECT_EQ(digests.size(), 10u) << "each host's own bytes";
}

TEST_F(FanoutTest, FailFastSkipsTheRestAndSignalsTheRunning) {
  const std::string started = farm->dir.file("started");
  run({"/bin/rm", "-rf", started});
  // Window of 8: seven sleepers and the late failure, which fails only once the seven run.
  std::string list = "127.0.0.[2-8]:" + p0() + "," + host(kLateFail) + ",127.0.0.[9-38]:" + p0();
  Subprocess p(rexec({"--fail-fast", "--fanout", "8", "--json", "-H", list},
                     {"sh", "-c", "mkdir -p " + started + " && touch " + started + "/$$ && exec sleep 60"}));
  const auto r = p.wait(50s);  // a sleeper left running would take 60 s
  EXPECT_EQ(r.exit_code, 143) << r.err;
  std::map<std::string, std::string> records;
  for (const std::string& l : lines(r.out)) {
    const size_t start = l.find("\"host\":\"") + 8;
    records[l.substr(start, l.find('"', start) - start)] = l;
  }
  ASSERT_EQ(records.size(), 38u) << r.out;
  EXPECT_NE(records[host(kLateFail)].find("\"status\":3,"), std::string::npos);
  for (int i = 0; i < 7; ++i)
    EXPECT_NE(records[host(i)].find("\"status\":143,\"exit_code\":null,\"signal\":\"TERM\""),
              std::string::npos)
        << records[host(i)];
  for (int i = 7; i < 37; ++i) EXPECT_NE(records[host(i)].find("\"skipped\":true"), std::string::npos);
  EXPECT_NE(r.err.find("rexec:   skipped 30 hosts: 127.0.0.[9-38]:" + p0() + "\n"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("rexec:   exit 143 (SIGTERM) on 7 hosts: 127.0.0.[2-8]:" + p0() + "\n"),
            std::string::npos)
      << r.err;
}

TEST_F(FanoutTest, JsonRecordsForScripts) {
  const std::string refused = refusedHost();
  const auto r = run(rexec({"--json", "--timeout", "2", "-H", host(0) + "," + host(kHang) + "," + refused},
                           {"sh", "-c", "echo out; printf 'err\\377' >&2"}));
  EXPECT_EQ(r.exit_code, 255) << r.err;
  const auto recs = lines(r.out);
  ASSERT_EQ(recs.size(), 3u) << r.out;
  std::map<std::string, std::string> by_host;
  for (const auto& l : recs) {
    EXPECT_EQ(l.rfind("{\"host\":\"", 0), 0u) << l;
    EXPECT_EQ(l.back(), '}');
    const size_t start = l.find("\"host\":\"") + 8;
    by_host[l.substr(start, l.find('"', start) - start)] = l;
  }
  const std::string& ok = by_host[host(0)];
  for (const char* field :
       {"\"skipped\":false,\"status\":0,\"exit_code\":0,\"signal\":null,\"timed_out\":false,\"error\":null",
        "\"stdout_bytes\":4,\"stderr_bytes\":4", "\"stdout\":\"out\\n\"", "\"stderr_base64\":\"ZXJy/w==\"",
        "\"start\":", "\"wall\":"})
    EXPECT_NE(ok.find(field), std::string::npos) << field << " in " << ok;
  EXPECT_NE(by_host[host(kHang)].find("\"status\":124,\"exit_code\":null,\"signal\":null,\"timed_out\":true"),
            std::string::npos)
      << by_host[host(kHang)];
  EXPECT_NE(
      by_host[refused].find("\"status\":255,\"exit_code\":null,\"signal\":null,\"timed_out\":false,\"error\":"
                            "\"cannot connect to 127.0.0.52"),
      std::string::npos)
      << by_host[refused];
}

TEST_F(FanoutTest, HostFilesGroupsAndDuplicates) {
  const std::string p = p0();
  writeFile(farm->dir.file("groups"),
            "# groups\nweb: 127.0.0.[2-3]:" + p + "\nall: @web 127.0.0.4:" + p + "\n", 0644);
  writeFile(farm->dir.file("hosts"), "# list\n127.0.0.5:" + p + "\n127.0.0.2:" + p + "  # again\n\n@web\n");
  // One at a time, so the records come in the order of the list: -H, then -f, then -g.
  auto r = run(rexec({"--json", "--fanout", "1", "--groups-file", farm->dir.file("groups"), "-H",
                      "127.0.0.6:" + p + ",127.0.0.5:" + p, "-f", farm->dir.file("hosts"), "-g", "all"},
                     {"true"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> order;
  for (const auto& l : lines(r.out)) {
    const size_t start = l.find("\"host\":\"") + 8;
    order.push_back(l.substr(start, l.find('"', start) - start));
  }
  EXPECT_EQ(order, (std::vector<std::string>{host(4), host(3), host(0), host(1), host(2)}));
  EXPECT_NE(r.err.find("rexec: 5 hosts: 5 ok, 0 failed"), std::string::npos) << r.err;

  // Bad lists: one clear line each, nothing run.
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad{
      {{"-H", "n[5-1]"}, "rexec: bad range \"5-1\" in n[5-1]: 5 is above 1\n"},
      {{"-H", "node[01-1000000]"},
       "rexec: node[01-1000000] expands to more than 100000 hosts (the most one run takes)\n"},
      {{"--groups-file", farm->dir.file("groups"), "-g", "nope"}, "rexec: unknown host group @nope\n"},
      {{"-f", farm->dir.file("missing")},
       "rexec: " + farm->dir.file("missing") + ": No such file or directory\n"},
      {{"-H", "a", "--gather", "--out-dir", "x"},
       "rexec: --gather and --out-dir exclude each other (see rexec --help)\n"},
  };
  for (const auto& [opts, message] : bad) {
    r = run(rexec(opts, {"true"}));
    EXPECT_EQ(r.exit_code, 255);
    EXPECT_EQ(r.err, message);
  }
  // HOST and -H together are refused.
  r = run({rexecPath(), "-i", farm->key, host(0), "-H", host(1), "true"});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_EQ(r.err, "rexec: give either HOST or -H/-f/-g, not both (see rexec --help)\n");
}

TEST_F(FanoutTest, AnUnknownHostKeyFailsThatHostOnlyWithoutAsking) {
  const std::string known = farm->dir.file("known_hosts.partial");
  writeFile(known, "[" + address(0) + "]:" + p0() + " " + farm->daemons[0]->fingerprint() + "\n");
  auto r = run(rexec({"-H", host(0) + "," + host(1)}, {"echo", "ok"}, known));
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_EQ(r.out, host(0) + ": ok\n");
  EXPECT_EQ(count(r.err, "\n"), 3u) << r.err;  // one line for the host, two of summary
  EXPECT_NE(r.err.find("rexec: " + host(1) + ": the host key of [" + address(1) + "]:" + p0()),
            std::string::npos)
      << r.err;
  r = run(rexec({"--accept-new", "-H", host(0) + "," + host(1)}, {"echo", "ok"}, known));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(readFile(known).find("[" + address(1) + "]:" + p0() + " " + farm->daemons[0]->fingerprint()),
            std::string::npos);
}

TEST_F(FanoutTest, HostsWithAMasterRunThroughItAndTheOthersDirectly) {
  // Masters (rexec -M) for the first two hosts, on a path per host (%h).
  const std::string pattern = farm->dir.file("m-%h");
  std::vector<std::unique_ptr<Subprocess>> masters;
  for (int d = 0; d < 2; ++d) {
    masters.push_back(std::make_unique<Subprocess>(
        std::vector<std::string>{rexecPath(), "-i", farm->key, "--known-hosts", farm->dir.file("known_hosts"),
                                 "-M", "-S", pattern, host(d)}));
    ASSERT_TRUE(masters.back()->waitForStderr("listening on " + farm->dir.file("m-" + address(d)) + "\n"));
  }
  // Only the third host's key is known to this run: the first two can succeed only through their
  // masters (which checked theirs), the third only directly.
  const std::string known = farm->dir.file("known_hosts.third");
  writeFile(known, "[" + address(2) + "]:" + p0() + " " + farm->daemons[0]->fingerprint() + "\n");
  auto r = run(rexec({"-S", pattern, "-H", host(0) + "," + host(1) + "," + host(2)}, {"echo", "ok"}, known));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count(r.out, ": ok\n"), 3u) << r.out;
  for (int d = 0; d < 3; ++d) EXPECT_NE(r.out.find(host(d) + ": ok\n"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(farm->dir.file("m-" + address(2))));  // no --persist
  // A master serves one host: -S with many hosts needs %h; -M and -O one host.
  auto no_token = run(rexec({"-S", farm->dir.file("m"), "-H", host(0)}, {"true"}));
  EXPECT_EQ(no_token.exit_code, 255);
  EXPECT_NE(no_token.err.find("-S with many hosts needs %h in PATH"), std::string::npos) << no_token.err;
  auto master = run(rexec({"-M", "-S", pattern, "-H", host(0)}, {}));
  EXPECT_EQ(master.exit_code, 255);
  EXPECT_NE(master.err.find("-M works with one host"), std::string::npos) << master.err;
  for (auto& m : masters) {
    m->signal(SIGTERM);
    EXPECT_EQ(m->wait().exit_code, 0);
  }
}

TEST_F(FanoutTest, WithPersistHostsRunDirectlyGetMastersThatTheNextRunUses) {
  const std::string pattern = farm->dir.file("p-%h");
  const std::string refused_pattern = farm->dir.file("q-%h");
  // Whatever happens below, the masters this test started end with it (each answers -O exit).
  struct StopMasters {
    std::vector<std::string> paths;
    ~StopMasters() {
      for (int d = 0; d < 3; ++d)
        for (const auto& p : paths) run({rexecPath(), "-S", p, "-O", "exit", host(d)});
    }
  } stop{{pattern, refused_pattern}};
  // No master answers: every host runs directly, and each whose command ran gets one started for
  // the next runs (not the host that is down). Quietly, and the run ends once they listen.
  // The run is handed a descriptor it does not know of (fd 7, as a careless launcher leaks one):
  // a master, which may outlive the run by hours, must not keep it.
  const std::string stray = farm->dir.file("stray");
  writeFile(stray, "");
  const std::string down = "127.0.0.1:1";
  const std::string log = farm->dir.file("masters.log");  // -E: passed on to the masters
  std::vector<std::string> argv = {"/bin/sh", "-c", "exec 7<\"$0\"; exec \"$@\"", stray};
  for (const auto& a :
       rexec({"-S", pattern, "--persist", "60", "-E", log, "-H", host(0) + "," + host(1) + "," + down},
             {"echo", "ok"}))
    argv.push_back(a);
  auto first = run(argv);
  EXPECT_EQ(first.exit_code, 255) << first.err;
  EXPECT_EQ(count(first.out, ": ok\n"), 2u) << first.out;
  EXPECT_EQ(first.err.find("master"), std::string::npos) << first.err;
  EXPECT_FALSE(std::filesystem::exists(farm->dir.file("p-127.0.0.1")));
  EXPECT_EQ(count(readFile(log), " listening on "), 2u) << readFile(log);
  for (int d = 0; d < 2; ++d) {
    ASSERT_TRUE(std::filesystem::is_socket(farm->dir.file("p-" + address(d)))) << "no master for " << host(d);
    // In a session of its own, on /dev/null, with none of the run's other descriptors.
    const auto check = run({rexecPath(), "-S", pattern, "-O", "check", host(d)});
    ASSERT_EQ(check.exit_code, 0) << check.err;
    const pid_t pid = std::stoi(check.out.substr(check.out.rfind("pid ") + 4));
    EXPECT_NE(::getsid(pid), ::getsid(0));
    const std::string fds = "/proc/" + std::to_string(pid) + "/fd";
    for (const auto& e : std::filesystem::directory_iterator(fds)) {
      std::error_code ec;
      const auto target = std::filesystem::read_symlink(e.path(), ec).string();
      EXPECT_NE(target, stray) << e.path();
      const std::string name = e.path().filename().string();
      if (name == "0" || name == "1" || name == "2") {
        EXPECT_EQ(target, "/dev/null") << e.path();
      }
    }
  }
  // The next run goes through them: it knows neither host's key, so only a master can serve it.
  const std::string none = farm->dir.file("known_hosts.none");
  writeFile(none, "");
  auto next =
      run(rexec({"-S", pattern, "--persist", "60", "-H", host(0) + "," + host(1)}, {"echo", "again"}, none));
  EXPECT_EQ(next.exit_code, 0) << next.err;
  EXPECT_EQ(count(next.out, ": again\n"), 2u) << next.out;
  // -O with many hosts asks each host's master: check, then stop them all with one command.
  const std::string both = host(0) + "," + host(1);
  auto check = run({rexecPath(), "-S", pattern, "-O", "check", "-H", both});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_EQ(count(check.out, "master for "), 2u) << check.out;
  auto stop_all = run({rexecPath(), "-S", pattern, "-O", "exit", "-H", both});
  EXPECT_EQ(stop_all.exit_code, 0) << stop_all.err;
  EXPECT_EQ(count(stop_all.err, "rexec: stopped the master on "), 2u) << stop_all.err;
  auto gone = run({rexecPath(), "-S", pattern, "-O", "check", "-H", both});
  EXPECT_EQ(gone.exit_code, 255);
  EXPECT_EQ(count(gone.err, "rexec: no master on "), 2u) << gone.err;
  // A master that cannot have its socket says why once, on the host's own line; the output and the
  // exit status stay the command's.
  const std::string plain = farm->dir.file("q-" + address(0));
  writeFile(plain, "");
  auto refused = run(rexec({"-S", refused_pattern, "--persist", "60", "-H", host(0)}, {"echo", "ok"}));
  EXPECT_EQ(refused.exit_code, 0) << refused.err;
  EXPECT_EQ(refused.out, host(0) + ": ok\n");
  EXPECT_EQ(count(refused.err, "\n"), 2u) << refused.err;  // that line and the summary
  EXPECT_NE(refused.err.find("rexec: " + host(0) + ": master: " + plain + " exists and is not a socket"),
            std::string::npos)
      << refused.err;
}

TEST_F(FanoutTest, ProgressLineOnATerminalIsClearedBeforeOutput) {
  // script(1) gives rexec a terminal for stdout and stderr, and copies what it shows.
  std::string cmd;
  for (const auto& a : rexec({"-H", "127.0.0.[2-21]:" + p0()}, {"echo", "hello"})) cmd += "'" + a + "' ";
  const auto r = run({"/usr/bin/script", "-qec", cmd, "/dev/null"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("[done "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("left "), std::string::npos);
  // The progress text is always wiped before anything else is printed: never an output line behind it.
  for (size_t at = r.out.find("[done "); at != std::string::npos; at = r.out.find("[done ", at + 1)) {
    const size_t end = r.out.find(']', at);
    ASSERT_NE(end, std::string::npos);
    EXPECT_EQ(r.out.substr(end + 1, 4), "\r\033[K") << r.out;
  }
  EXPECT_EQ(count(r.out, ": hello"), 20u);
  EXPECT_NE(r.out.find("rexec: 20 hosts: 20 ok, 0 failed"), std::string::npos);
}

TEST_F(FanoutTest, CtrlCReachesEveryRunningHostAndSkipsTheRest) {
  // Three run, three wait their turn; Ctrl-C once all three are ready.
  Subprocess p(
      rexec({"--fanout", "3", "-H", "127.0.0.[2-7]:" + p0()}, {"sh", "-c", "echo ready; exec sleep 60"}));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(p.waitForStdout(host(i) + ": ready\n")) << host(i);
  p.signal(SIGINT);
  const auto r = p.wait(50s);
  EXPECT_EQ(r.exit_code, 130) << r.err;
  EXPECT_NE(r.err.find("rexec:   exit 130 (SIGINT) on 3 hosts: 127.0.0.[2-4]:" + p0() + "\n"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("rexec:   skipped 3 hosts: 127.0.0.[5-7]:" + p0() + "\n"), std::string::npos) << r.err;
}

TEST_F(FanoutTest, AClosedStdoutSendsSigpipeToEveryRunningHostAndSkipsTheRest) {
  // `yes` on every host would never end by itself: only the forwarded SIGPIPE ends it, once the
  // reader has what it wants and closes the pipe. Three run, the other three are never started.
  // The reader leaves after the third host said it is running (`head -n 1` left after the first
  // line, and on a loaded machine the third host could still be connecting then, and be skipped).
  std::string cmd;
  for (const auto& a :
       rexec({"--fanout", "3", "-H", "127.0.0.[2-7]:" + p0()}, {"sh", "-c", "echo ready; exec yes"}))
    cmd += "'" + a + "' ";
  const auto r =
      run({"/bin/bash", "-c",
           cmd + "| awk '/: ready$/ { print; if (++n == 3) exit }'; echo \"status=${PIPESTATUS[0]}\""});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count(r.out, ": ready\n"), 3u) << r.out;
  EXPECT_NE(r.out.find("status=141\n"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.err.find("rexec:   exit 141 (SIGPIPE) on 3 hosts: 127.0.0.[2-4]:" + p0() + "\n"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("rexec:   skipped 3 hosts: 127.0.0.[5-7]:" + p0() + "\n"), std::string::npos) << r.err;
}

// One host floods `yes` into a reader slower than the network: the local output stays full and
// every socket is paused and resumed over and over. The other hosts must still get through their
// handshake and have their lines read: they print "ready" only once the flood is on (the reader
// says so with a file), and the reader leaves after all four. Before, the host that resumed
// first every time was always the same, and a host behind it in the list was never read again.
TEST_F(FanoutTest, OneHostFloodingASlowReaderHoldsNoOtherHostBack) {
  TempDir dir;
  const std::string d = dir.path();
  // The first host to get here floods; the others wait (bounded, 60 s) for the reader's mark.
  writeFile(dir.file("host.sh"),
            "if mkdir " + d +
                "/first 2>/dev/null; then exec yes; fi\n"
                "n=0; while [ ! -e " +
                d +
                "/go ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done\n"
                "echo ready; exec yes\n",
            0600);
  writeFile(dir.file("reader.awk"),
            "/: y$/ && !sent { system(\"touch " + d +
                "/go\"); sent = 1 }\n"
                "/: ready$/ { print; if (++n == 4) exit }\n",
            0600);
  std::string cmd;
  for (const auto& a : rexec({"--fanout", "5", "-H", "127.0.0.[2-6]:" + p0()}, {"sh", d + "/host.sh"}))
    cmd += "'" + a + "' ";
  // timeout(1) kills the whole pipeline should it hang (its own process group).
  const auto r = run({"/usr/bin/timeout", "-s", "KILL", "120", "/bin/bash", "-c",
                      cmd + "| awk -f " + d + "/reader.awk; echo \"status=${PIPESTATUS[0]}\""});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(count(r.out, ": ready\n"), 4u) << r.out;
  EXPECT_NE(r.out.find("status=141\n"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.err.find("rexec:   exit 141 (SIGPIPE) on 5 hosts: 127.0.0.[2-6]:" + p0() + "\n"),
            std::string::npos)
      << r.err;
}

// 1,000 host entries (23 ports on each of 45 daemons), `true` on each, 64 at a time: all succeed,
// and the client's peak memory stays bounded.
TEST_F(FanoutTest, ThousandHostsTrueWithBoundedMemory) {
  std::string list;
  int n = 0;
  for (int k = 0; k < kPortsPerDaemon && n < 1000; ++k)
    for (int i = 0; i < kNormal && n < 1000; ++i, ++n) list += host(i, k) + "\n";
  writeFile(farm->dir.file("thousand"), list);
  std::vector<std::string> argv{"/usr/bin/time", "-f", "maxrss_kib=%M"};
  for (const auto& a : rexec({"-f", farm->dir.file("thousand")}, {"true"})) argv.push_back(a);
  const auto r = run(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err.substr(0, 2000);
  EXPECT_NE(r.err.find("rexec: 1000 hosts: 1000 ok, 0 failed\n"), std::string::npos) << r.err.substr(0, 2000);
  const size_t at = r.err.find("maxrss_kib=");
  ASSERT_NE(at, std::string::npos) << r.err;
  const long kib = std::stol(r.err.substr(at + 11));
  EXPECT_LT(kib, kRssBoundKiB) << "peak RSS of rexec over 1,000 hosts";
  std::printf("rexec peak RSS over 1,000 hosts: %ld KiB\n", kib);
}

}  // namespace
}  // namespace rxtest
