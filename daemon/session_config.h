#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/key_file.h"

namespace rx {

// Immutable snapshot of the authorized keys; a reload swaps the whole snapshot.
struct KeySet {
  std::vector<AuthorizedKey> keys;
  const AuthorizedKey* find(std::string_view key_id) const {
    for (const auto& k : keys)
      if (k.key_id == key_id) return &k;
    return nullptr;
  }
};

struct SessionConfig {
  std::shared_ptr<const KeySet> keys;  // replaced whole on reload, never changed in place
  // Names a client may set in the command's environment; a trailing '*' matches any suffix.
  std::vector<std::string> accept_env{"LANG", "LC_*", "TZ", "TERM"};
  uint32_t kill_grace_ms = 2000;
  uint32_t drain_grace_ms = 1000;
  size_t max_jobs_per_connection = 64;
  size_t max_argc = 4096;
  size_t max_argv_bytes = 256 * 1024;
  size_t max_env_vars = 128;
  // Back-pressure on the connection's write queue (bytes).
  size_t write_high_water = 4 * 1024 * 1024;
  size_t write_low_water = 1024 * 1024;
  // Stop reading the client while a command has this much stdin queued (the job reports when
  // it has drained below a quarter of it).
  size_t stdin_high_water = 1024 * 1024;
  // The identity commands run as (the daemon's own user for now).
  std::string user;
  std::string home;
  std::string shell;
};

bool envNameAccepted(const std::vector<std::string>& patterns, std::string_view name);

}  // namespace rx
