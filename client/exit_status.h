#pragma once
// How a command's ExecResult becomes rexec's own exit status (documented in docs/PROTOCOL.md and
// rexec --help): the remote code as it is; 128+N for signal N; 124 timed out; 127 not found;
// 126 not executable; 255 for rexec's own failures. With many hosts (-H, -f, -g) each host's
// status is this, and fanoutExitStatus (fanout_report.h) combines them: 0 when all succeeded, 255
// when any host was unreachable or failed in rexec, else the highest.
#include <string>

#include "rexec.pb.h"

namespace rx {

inline constexpr int kExitFailure = 255;
inline constexpr int kExitTimeout = 124;
inline constexpr int kExitNotFound = 127;
inline constexpr int kExitNotExecutable = 126;

// `message` gets a line for stderr when the outcome deserves one (empty otherwise).
int exitStatusFor(const rxpb::v1::ExecResult& result, std::string& message);

}  // namespace rx
