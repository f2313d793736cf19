#pragma once
// The daemon's limits against abuse that are not per command (those are in SessionConfig).
#include <cstdint>

#include "daemon/source_limits.h"

namespace rx {

struct ServerLimits {
  AdmissionConfig admission;
  // From accept to authenticated, the TLS handshake included.
  uint64_t login_grace_ms = 10000;
  // A connection whose write queue has been non-empty and has not shrunk for this long is closed
  // and its commands' process groups killed. 0: never.
  uint64_t stall_timeout_ms = 60000;
};

}  // namespace rx
