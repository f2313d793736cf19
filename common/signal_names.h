#pragma once
// Signals travel by portable name ("INT", "KILL"): numbers differ between systems.
#include <optional>
#include <string>
#include <string_view>

namespace rx {

std::optional<int> signalFromName(std::string_view name);  // accepts "TERM" and "SIGTERM"
std::string signalName(int signo);                         // "TERM"; "SIG<n>" when unknown

}  // namespace rx
