#pragma once
// Key files and the daemon's authorized keys file (docs/PROTOCOL.md, "Keys").
//
// One key per line, in the shape of OpenSSH's authorized_keys:
//   hmac-sha256 BASE64(32 random bytes) [comment]
// The key id that travels on the wire is derived from the key, so both ends agree without
// storing it: "hmac-" + hex(SHA-256("rexec key id\0" || key))[0..24).
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace rx {

inline constexpr std::string_view kHmacKeyType = "hmac-sha256";

struct HmacKey {
  std::string key_id;
  std::string secret;  // kHmacKeySize bytes
  std::string comment;
};

struct AuthorizedKey {
  HmacKey key;
  int line = 0;
};

std::string keyIdFor(std::string_view secret);
HmacKey generateHmacKey(std::string comment);
std::string formatKeyLine(const HmacKey& key);

// Parses one non-comment line; the error names what is wrong (the caller adds file and line).
Status parseKeyLine(std::string_view line, HmacKey& key);

// A client key file: permissions checked, exactly one key.
Status loadKeyFile(const std::string& path, HmacKey& key);

// The daemon's authorized keys: permissions checked (it holds shared secrets), blank lines and
// '#' comments skipped, every bad line reported as "FILE:LINE: reason".
Status loadAuthorizedKeys(const std::string& path, std::vector<AuthorizedKey>& keys);

// Writes a new key file with mode 0600, refusing to overwrite an existing file.
Status writeKeyFile(const std::string& path, const HmacKey& key);

}  // namespace rx
