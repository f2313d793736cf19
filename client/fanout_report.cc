#include "client/fanout_report.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "client/exit_status.h"
#include "client/host_list.h"
#include "common/encoding.h"

namespace rx {

int fanoutExitStatus(const std::vector<HostRecord>& hosts) {
  int worst = 0;
  for (const HostRecord& h : hosts) {
    if (h.skipped) continue;
    if (h.outcome.rexec_failed) return kExitFailure;
    worst = std::max(worst, h.outcome.exit_status);
  }
  return worst;
}

std::string outcomeLabel(const ExecOutcome& o) {
  if (o.rexec_failed)
    return fmt::format("exit {} ({})", o.exit_status,
                       o.request_sent ? "connection lost" : "connection failed");
  if (o.timed_out) return fmt::format("exit {} (timed out)", o.exit_status);
  if (!o.signal_name.empty())
    return fmt::format("exit {} (SIG{}{})", o.exit_status, o.signal_name,
                       o.core_dumped ? ", core dumped" : "");
  return fmt::format("exit {}", o.exit_status);
}

std::string summaryText(const std::vector<HostRecord>& hosts) {
  size_t ok = 0, failed = 0;
  std::vector<std::string> skipped;
  // Ordered by exit status, then label, so the output is stable.
  std::map<std::pair<int, std::string>, std::vector<std::string>> by_outcome;
  for (const HostRecord& h : hosts) {
    if (h.skipped) {
      skipped.push_back(h.label);
    } else if (h.outcome.exit_status == 0) {
      ++ok;
    } else {
      ++failed;
      by_outcome[{h.outcome.exit_status, outcomeLabel(h.outcome)}].push_back(h.label);
    }
  }
  std::string text = fmt::format("rexec: {} host{}: {} ok, {} failed", hosts.size(),
                                 hosts.size() == 1 ? "" : "s", ok, failed);
  if (!skipped.empty()) text += fmt::format(", {} skipped", skipped.size());
  text += '\n';
  for (const auto& [key, labels] : by_outcome)
    text += fmt::format("rexec:   {} on {} host{}: {}\n", key.second, labels.size(),
                        labels.size() == 1 ? "" : "s", foldHosts(labels));
  if (!skipped.empty())
    text += fmt::format("rexec:   skipped {} host{}: {}\n", skipped.size(), skipped.size() == 1 ? "" : "s",
                        foldHosts(skipped));
  return text;
}

bool validUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // the sequence runs past the end
    for (size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

std::string jsonString(std::string_view text) {
  std::string out = "\"";
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f)
          out += fmt::format("\\u{:04x}", c);
        else
          out.push_back(ch);
    }
  }
  out += '"';
  return out;
}

namespace {

void appendOutput(std::string& r, const char* name, const std::string* data) {
  if (!data) return;
  if (validUtf8(*data))
    r += fmt::format(",\"{}\":{}", name, jsonString(*data));
  else
    r += fmt::format(",\"{}_base64\":\"{}\"", name, base64Encode(*data));
}

}  // namespace

std::string jsonRecord(const HostRecord& h, const std::string* out, const std::string* err) {
  const ExecOutcome& o = h.outcome;
  std::string r = "{\"host\":" + jsonString(validUtf8(h.label) ? h.label : printableText(h.label));
  if (h.skipped) {
    r += ",\"skipped\":true,\"status\":null,\"exit_code\":null,\"signal\":null,\"timed_out\":false,\"error\":"
         "null";
  } else {
    r += fmt::format(",\"skipped\":false,\"status\":{}", o.exit_status);
    r += o.exit_code >= 0 ? fmt::format(",\"exit_code\":{}", o.exit_code) : ",\"exit_code\":null";
    r += o.signal_name.empty() ? ",\"signal\":null"
                               : ",\"signal\":" + jsonString(printableText(o.signal_name));
    r += fmt::format(",\"timed_out\":{}", o.timed_out ? "true" : "false");
    r += o.message.empty() ? ",\"error\":null" : ",\"error\":" + jsonString(printableText(o.message));
  }
  r += fmt::format(
      ",\"start\":{:.3f},\"wall\":{:.3f},\"stdout_bytes\":{},\"stderr_bytes\":{},\"output_cut\":{}",
      h.start_unix, h.wall_s, h.stdout_bytes, h.stderr_bytes, h.output_cut ? "true" : "false");
  appendOutput(r, "stdout", out);
  appendOutput(r, "stderr", err);
  r += '}';
  return r;
}

}  // namespace rx
