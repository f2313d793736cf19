#include "common/key_options.h"

#include <fmt/format.h>

namespace rx {

Status parseKeyOptions(std::string_view text, KeyOptions& out) {
  out = KeyOptions{};
  if (text.empty()) return Status::Ok();
  return Status::Error(fmt::format("key options are not supported yet: '{}'", text));
}

}  // namespace rx
