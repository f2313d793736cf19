#pragma once
// Keeps the fuzz targets' output to libFuzzer's own: no daemon log lines (audit lines included),
// no protobuf parse warnings (one per bad UTF-8 string field). RX_FUZZ_LOG=1 keeps both, to see
// what one input does.
#include <google/protobuf/stubs/logging.h>

#include <cstdlib>

#include "common/log.h"

namespace rx::fuzz {

inline void quietLogs() {
  if (std::getenv("RX_FUZZ_LOG") != nullptr) return;
  log::setMaxLevel(log::Level::Error);
  google::protobuf::SetLogHandler(nullptr);
}

}  // namespace rx::fuzz
