#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace rx {

std::string toHex(std::string_view bytes);
std::string base64Encode(std::string_view bytes);
// nullopt on any character outside the alphabet or bad padding.
std::optional<std::string> base64Decode(std::string_view text);
// For logs: printable ASCII kept, everything else as \xNN, quoted.
std::string quoteForLog(std::string_view s);

}  // namespace rx
