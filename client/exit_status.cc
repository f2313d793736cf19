#include "client/exit_status.h"

#include <fmt/format.h>

#include "common/signal_names.h"

namespace rx {

int exitStatusFor(const rxpb::v1::ExecResult& result, std::string& message) {
  message.clear();
  switch (result.outcome_case()) {
    case rxpb::v1::ExecResult::kExitCode:
      // Exit codes are 0..255 on POSIX; anything else can only come from a broken server.
      if (result.exit_code() < 0 || result.exit_code() > 255) {
        message = fmt::format("the server reported an impossible exit code {}", result.exit_code());
        return kExitFailure;
      }
      return result.exit_code();
    case rxpb::v1::ExecResult::kSignaled: {
      // The local number for the portable name; the server's number only when we have no name.
      const auto local = signalFromName(result.signaled().name());
      const int n = local ? *local : result.signaled().number();
      if (n <= 0 || n > 127) {
        message = fmt::format("the command was killed by signal {}", result.signaled().name());
        return kExitFailure;
      }
      return 128 + n;
    }
    case rxpb::v1::ExecResult::kTimedOut:
      message = fmt::format("command timed out after {:g} s; its process group was killed",
                            result.timed_out().timeout_ms() / 1000.0);
      return kExitTimeout;
    case rxpb::v1::ExecResult::kStartFailed: {
      const auto& f = result.start_failed();
      message = fmt::format("cannot run the command: {}", f.message());
      switch (f.reason()) {
        case rxpb::v1::StartFailed::NOT_FOUND:
          return kExitNotFound;
        case rxpb::v1::StartFailed::NOT_EXECUTABLE:
          return kExitNotExecutable;
        default:
          return kExitFailure;
      }
    }
    case rxpb::v1::ExecResult::OUTCOME_NOT_SET:
      break;
  }
  message = "the server sent a result without an outcome";
  return kExitFailure;
}

}  // namespace rx
