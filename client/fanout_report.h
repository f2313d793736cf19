#pragma once
// What the fan-out tells at the end: the exit status rule over all hosts, the summary on stderr,
// and the --json record of each host. Pure functions over the hosts' records.
#include <cstdint>
#include <string>
#include <vector>

#include "client/exec_observer.h"

namespace rx {

struct HostRecord {
  std::string label;     // the host as the list gave it ("node07", "10.0.0.5:5513")
  bool skipped = false;  // never run (--fail-fast, or interrupted before its turn)
  ExecOutcome outcome;   // when not skipped
  double start_unix = 0;
  double wall_s = 0;
  uint64_t stdout_bytes = 0, stderr_bytes = 0;  // as received
  bool output_cut = false;                      // --gather/--json kept less than arrived
};

// 0 when every host succeeded; 255 when any host could not be reached or rexec failed for it;
// otherwise the highest exit status (signals as 128+N, timeouts 124), as ClusterShell's -S.
// Skipped hosts count only through the failure that caused the skipping.
int fanoutExitStatus(const std::vector<HostRecord>& hosts);

// "exit 1", "exit 124 (timed out)", "exit 143 (SIGTERM)", "exit 255 (connection failed)".
std::string outcomeLabel(const ExecOutcome& outcome);

// The end-of-run summary lines, each "rexec: ...\n": the counts, then one line per exit status
// other than 0 naming its hosts (folded into ranges), then the skipped hosts.
std::string summaryText(const std::vector<HostRecord>& hosts);

// One JSON object (one line, no newline) for `host`; `out`/`err` are included when non-null
// (as strings when valid UTF-8, else as "stdout_base64"/"stderr_base64").
std::string jsonRecord(const HostRecord& host, const std::string* out, const std::string* err);

// A JSON string literal for valid UTF-8 text.
std::string jsonString(std::string_view text);
bool validUtf8(std::string_view text);

}  // namespace rx
