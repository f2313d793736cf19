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
// For protocol text fields (proto3 strings must be valid UTF-8): printable ASCII kept, every
// other byte as \xNN, so any input (a program name from the client, say) is safe to send.
std::string printableText(std::string_view s);

}  // namespace rx
