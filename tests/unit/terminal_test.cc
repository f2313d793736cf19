// The terminal pieces without a network: the protocol's checks on a PtyRequest and a window size,
// the client's raw mode (on a real pseudo-terminal pair from openpty), and key option no-pty.
#include <fcntl.h>
#include <pty.h>
#include <termios.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "client/raw_terminal.h"
#include "common/key_options.h"
#include "common/pty_request.h"
#include "daemon/pty.h"

namespace rx {
namespace {

TEST(TermName, AcceptsTheUsualNames) {
  for (const char* t :
       {"", "xterm", "xterm-256color", "screen.xterm-256color", "rxvt-unicode", "vt100+fnkeys", "tmux_256"})
    EXPECT_TRUE(validTermName(t)) << t;
}

TEST(TermName, RefusesBlanksControlsQuotesAndLongNames) {
  for (const std::string& t :
       std::vector<std::string>{"xterm 256", "xterm\n", "a\x1b[0m", "x'y", "x=y", "a/b", "\xc3\xa9",
                                std::string("x\0y", 3), std::string(65, 'x')})
    EXPECT_FALSE(validTermName(t)) << t;
  EXPECT_TRUE(validTermName(std::string(64, 'x')));
}

TEST(WindowSize, BoundsAreInclusiveAndNamed) {
  rxpb::v1::WindowSize ws;
  EXPECT_TRUE(checkWindowSize(ws)) << "0 means unknown";
  ws.set_rows(10000);
  ws.set_cols(10000);
  ws.set_width_px(65535);
  ws.set_height_px(65535);
  EXPECT_TRUE(checkWindowSize(ws));
  ws.set_cols(10001);
  EXPECT_EQ(checkWindowSize(ws).message(), "cols 10001 out of range (0 to 10000)");
  ws.set_cols(80);
  ws.set_height_px(65536);
  EXPECT_EQ(checkWindowSize(ws).message(), "height_px 65536 out of range (0 to 65535)");
}

TEST(PtyRequest, ChecksTermThenSize) {
  rxpb::v1::PtyRequest req;
  req.set_term("bad term");
  req.mutable_size()->set_rows(99999);
  EXPECT_EQ(checkPtyRequest(req).message(), "TERM \"bad term\" is not 0 to 64 bytes of [A-Za-z0-9._+-]");
  req.set_term("xterm");
  EXPECT_EQ(checkPtyRequest(req).message(), "rows 99999 out of range (0 to 10000)");
  req.mutable_size()->set_rows(24);
  EXPECT_TRUE(checkPtyRequest(req));
}

TEST(PtyRequest, SizeRoundTrips) {
  rxpb::v1::WindowSize ws;
  const TerminalSize size{30, 100, 800, 600};
  setWindowSize(size, ws);
  EXPECT_EQ(terminalSizeFrom(ws), size);
}

TEST(RawMode, MakeRawTurnsOffEchoLinesSignalsAndOutputProcessing) {
  termios in{};
  in.c_lflag = ECHO | ICANON | ISIG | IEXTEN;
  in.c_iflag = ICRNL | IXON;
  in.c_oflag = OPOST | ONLCR;
  in.c_cflag = CS7 | PARENB | CREAD;
  const termios raw = makeRawTermios(in);
  EXPECT_EQ(raw.c_lflag & (ECHO | ICANON | ISIG | IEXTEN), 0u);
  EXPECT_EQ(raw.c_iflag & (ICRNL | IXON), 0u);
  EXPECT_EQ(raw.c_oflag & OPOST, 0u);
  EXPECT_EQ(raw.c_cflag & CSIZE, static_cast<tcflag_t>(CS8));
  EXPECT_EQ(raw.c_cflag & PARENB, 0u);
  EXPECT_EQ(raw.c_cc[VMIN], 1);
  EXPECT_EQ(raw.c_cc[VTIME], 0);
}

class RawTerminalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    winsize ws{};
    ws.ws_row = 24;
    ws.ws_col = 80;
    ASSERT_EQ(::openpty(&master_, &slave_, nullptr, nullptr, &ws), 0);
  }
  void TearDown() override {
    ::close(master_);
    ::close(slave_);
  }
  termios settings() const {
    termios t{};
    EXPECT_EQ(::tcgetattr(slave_, &t), 0);
    return t;
  }
  static bool same(const termios& a, const termios& b) {
    return a.c_iflag == b.c_iflag && a.c_oflag == b.c_oflag && a.c_cflag == b.c_cflag &&
           a.c_lflag == b.c_lflag && std::equal(std::begin(a.c_cc), std::end(a.c_cc), std::begin(b.c_cc));
  }
  int master_ = -1, slave_ = -1;
};

TEST_F(RawTerminalTest, EnterMakesRawAndRestorePutsEverythingBack) {
  const termios before = settings();
  ASSERT_NE(before.c_lflag & ICANON, 0u);
  std::unique_ptr<RawTerminal> raw;
  ASSERT_TRUE(RawTerminal::enter(slave_, raw));
  const termios during = settings();
  EXPECT_EQ(during.c_lflag & (ECHO | ICANON | ISIG), 0u);
  EXPECT_EQ(during.c_oflag & OPOST, 0u);
  raw->restore();
  EXPECT_TRUE(same(settings(), before));
  EXPECT_FALSE(raw->active());
  // A second restore (the destructor's) changes nothing, even when the settings moved since.
  termios changed = before;
  changed.c_lflag &= ~ECHO;
  ASSERT_EQ(::tcsetattr(slave_, TCSANOW, &changed), 0);
  raw.reset();
  EXPECT_TRUE(same(settings(), changed));
}

TEST_F(RawTerminalTest, DestructorRestores) {
  const termios before = settings();
  {
    std::unique_ptr<RawTerminal> raw;
    ASSERT_TRUE(RawTerminal::enter(slave_, raw));
  }
  EXPECT_TRUE(same(settings(), before));
}

TEST_F(RawTerminalTest, NotATerminalIsAClearError) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::unique_ptr<RawTerminal> raw;
  const Status s = RawTerminal::enter(fds[0], raw);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("cannot read the terminal's settings"), std::string::npos) << s.message();
  EXPECT_EQ(raw, nullptr);
  EXPECT_FALSE(readTerminalSize(fds[0]));
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST_F(RawTerminalTest, SizeIsReadAndResizeIsSeen) {
  EXPECT_EQ(readTerminalSize(slave_), (TerminalSize{24, 80, 0, 0}));
  ASSERT_EQ(resizePty(master_, TerminalSize{30, 100, 0, 0}), 0);
  EXPECT_EQ(readTerminalSize(slave_), (TerminalSize{30, 100, 0, 0}));
}

TEST(DaemonPty, OpenPtyGivesACloseOnExecPairOfTheAskedSize) {
  int master = -1, slave = -1;
  ASSERT_TRUE(openPty(TerminalSize{40, 120, 0, 0}, master, slave));
  EXPECT_NE(::fcntl(master, F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_NE(::fcntl(slave, F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_EQ(readTerminalSize(slave), (TerminalSize{40, 120, 0, 0}));
  ::close(master);
  ::close(slave);
}

TEST(KeyOptionsPty, NoPtyIsAFlag) {
  KeyOptions o;
  const Status parsed = parseKeyOptions("no-pty", o);
  ASSERT_TRUE(parsed) << parsed.message();
  EXPECT_TRUE(o.no_pty);
  EXPECT_FALSE(o.no_stdin);
  EXPECT_EQ(parseKeyOptions("no-pty=yes", o).message(), "option no-pty takes no value");
  EXPECT_EQ(parseKeyOptions("no-pty,no-pty", o).message(), "option no-pty appears twice");
  ASSERT_TRUE(parseKeyOptions("no-stdin", o));
  EXPECT_FALSE(o.no_pty);
}

}  // namespace
}  // namespace rx
