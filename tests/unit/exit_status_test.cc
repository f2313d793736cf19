// How an ExecResult becomes rexec's own exit status.
#include "client/exit_status.h"

#include <gtest/gtest.h>

#include <string>

namespace rx {
namespace {

using rxpb::v1::ExecResult;
using rxpb::v1::StartFailed;

ExecResult exited(int code) {
  ExecResult r;
  r.set_exec_id(1);
  r.set_exit_code(code);
  return r;
}

ExecResult signaled(const std::string& name, int number) {
  ExecResult r;
  r.set_exec_id(1);
  r.mutable_signaled()->set_name(name);
  r.mutable_signaled()->set_number(number);
  return r;
}

ExecResult startFailed(StartFailed::Reason reason, const std::string& message) {
  ExecResult r;
  r.set_exec_id(1);
  r.mutable_start_failed()->set_reason(reason);
  r.mutable_start_failed()->set_message(message);
  return r;
}

int statusOf(const ExecResult& r) {
  std::string message;
  return exitStatusFor(r, message);
}

TEST(ExitStatus, ExitCodesPassThroughWithoutMessage) {
  for (int code : {0, 1, 42, 255}) {
    std::string message = "stale";
    EXPECT_EQ(exitStatusFor(exited(code), message), code);
    EXPECT_EQ(message, "") << code;
  }
}

TEST(ExitStatus, OutOfRangeExitCodesAre255) {
  for (int code : {-1, 256, 1000, -255}) {
    std::string message;
    EXPECT_EQ(exitStatusFor(exited(code), message), kExitFailure) << code;
    EXPECT_FALSE(message.empty()) << code;
  }
}

TEST(ExitStatus, KilledBySigkillIs137) { EXPECT_EQ(statusOf(signaled("KILL", 9)), 137); }

TEST(ExitStatus, KilledBySigtermIs143) { EXPECT_EQ(statusOf(signaled("TERM", 15)), 143); }

TEST(ExitStatus, SignalNameWinsOverTheServersNumber) {
  // The server's numbering may differ; the portable name is authoritative.
  EXPECT_EQ(statusOf(signaled("TERM", 99)), 143);
}

TEST(ExitStatus, UnknownSignalNameFallsBackToTheNumber) { EXPECT_EQ(statusOf(signaled("RTMIN", 34)), 162); }

TEST(ExitStatus, ImpossibleSignalIs255) {
  std::string message;
  EXPECT_EQ(exitStatusFor(signaled("WHAT", 0), message), kExitFailure);
  EXPECT_FALSE(message.empty());
  EXPECT_EQ(statusOf(signaled("WHAT", 200)), kExitFailure);
}

TEST(ExitStatus, TimedOutIs124WithAMessage) {
  ExecResult r;
  r.set_exec_id(1);
  r.mutable_timed_out()->set_timeout_ms(1500);
  std::string message;
  EXPECT_EQ(exitStatusFor(r, message), kExitTimeout);
  EXPECT_EQ(kExitTimeout, 124);
  EXPECT_NE(message.find("timed out"), std::string::npos) << message;
  EXPECT_NE(message.find("1.5 s"), std::string::npos) << message;
}

TEST(ExitStatus, NotFoundIs127) {
  std::string message;
  EXPECT_EQ(exitStatusFor(startFailed(StartFailed::NOT_FOUND, "nosuchprog: no such file"), message), 127);
  EXPECT_NE(message.find("nosuchprog: no such file"), std::string::npos) << message;
}

TEST(ExitStatus, NotExecutableIs126) {
  EXPECT_EQ(statusOf(startFailed(StartFailed::NOT_EXECUTABLE, "x")), 126);
}

TEST(ExitStatus, BadCwdIs255) {
  std::string message;
  EXPECT_EQ(exitStatusFor(startFailed(StartFailed::BAD_CWD, "\"/nope\": no such directory"), message),
            kExitFailure);
  EXPECT_NE(message.find("/nope"), std::string::npos) << message;
}

TEST(ExitStatus, RefusedIs255) { EXPECT_EQ(statusOf(startFailed(StartFailed::REFUSED, "limits")), 255); }

TEST(ExitStatus, OtherStartFailuresAre255) {
  EXPECT_EQ(statusOf(startFailed(StartFailed::OTHER, "fork failed")), 255);
  EXPECT_EQ(statusOf(startFailed(StartFailed::REASON_UNSPECIFIED, "")), 255);
}

TEST(ExitStatus, NoOutcomeIs255WithAMessage) {
  ExecResult r;
  r.set_exec_id(1);
  std::string message;
  EXPECT_EQ(exitStatusFor(r, message), kExitFailure);
  EXPECT_FALSE(message.empty());
}

}  // namespace
}  // namespace rx
