// Signal names <-> numbers.
#include "common/signal_names.h"

#include <gtest/gtest.h>

#include <csignal>

namespace rx {
namespace {

struct Known {
  const char* name;
  int number;
};

constexpr Known kCommon[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL}, {"USR1", SIGUSR1},
    {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM}, {"SEGV", SIGSEGV},
    {"ABRT", SIGABRT}, {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}, {"WINCH", SIGWINCH},
};

TEST(SignalNames, NameToNumber) {
  for (const Known& k : kCommon) EXPECT_EQ(signalFromName(k.name), k.number) << k.name;
}

TEST(SignalNames, NumberToName) {
  for (const Known& k : kCommon) EXPECT_EQ(signalName(k.number), k.name) << k.number;
}

TEST(SignalNames, SigPrefixIsAccepted) {
  EXPECT_EQ(signalFromName("SIGTERM"), SIGTERM);
  EXPECT_EQ(signalFromName("SIGINT"), SIGINT);
  EXPECT_EQ(signalFromName("SIGKILL"), SIGKILL);
}

TEST(SignalNames, RoundTripForEveryNumberWithAName) {
  for (int signo = 1; signo < 32; ++signo) {
    const std::string name = signalName(signo);
    if (name.rfind("SIG", 0) == 0) continue;  // no portable name
    EXPECT_EQ(signalFromName(name), signo) << name;
  }
}

TEST(SignalNames, UnknownNameIsNullopt) {
  EXPECT_EQ(signalFromName("NOPE"), std::nullopt);
  EXPECT_EQ(signalFromName(""), std::nullopt);
  EXPECT_EQ(signalFromName("SIG"), std::nullopt);
  EXPECT_EQ(signalFromName("SIGNOPE"), std::nullopt);
  EXPECT_EQ(signalFromName("9"), std::nullopt);
  EXPECT_EQ(signalFromName("term"), std::nullopt);
  EXPECT_EQ(signalFromName("TERMX"), std::nullopt);
}

TEST(SignalNames, UnknownNumberIsSigN) {
  EXPECT_EQ(signalName(0), "SIG0");
  EXPECT_EQ(signalName(999), "SIG999");
}

}  // namespace
}  // namespace rx
