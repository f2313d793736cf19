#pragma once
// Keys, key files and the daemon's authorized keys file (docs/PROTOCOL.md, "Keys").
//
// One key per line, in the shape of OpenSSH's authorized_keys:
//   client key file:   ed25519-private BASE64(32-byte seed) [comment]
//                      hmac-sha256 BASE64(32 random bytes) [comment]
//   authorized keys:   [options] ed25519 BASE64(32-byte public key) [comment]
//                      [options] hmac-sha256 BASE64(32 random bytes) [comment]
// The key id that travels on the wire is derived from the public part (the shared secret for
// HMAC), so both ends agree without storing it:
//   "ed25519-" or "hmac-" + hex(SHA-256("rexec key id\0" || key))[0..24)
#include <openssl/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/key_options.h"
#include "common/status.h"

namespace rx {

enum class KeyType { Ed25519, HmacSha256 };

inline constexpr std::string_view kEd25519Type = "ed25519";
inline constexpr std::string_view kEd25519PrivateType = "ed25519-private";
inline constexpr std::string_view kHmacKeyType = "hmac-sha256";

// What a client holds.
struct ClientKey {
  KeyType type = KeyType::Ed25519;
  std::string key_id;
  std::string secret;      // Ed25519: the 32-byte seed; HMAC: the 32-byte shared key
  std::string public_key;  // Ed25519: the 32-byte public key; HMAC: empty
  std::string comment;
  // Ed25519, once completeKey() ran: the key ready to sign, so that signing in the middle of the
  // handshake does not import the seed again (OpenSSL 3 then derives the public half once more to
  // check it, 0.57 M instructions on the client's critical path).
  std::shared_ptr<EVP_PKEY> signing_key;
};

// One line of the daemon's authorized keys.
struct AuthorizedKey {
  KeyType type = KeyType::Ed25519;
  std::string key_id;
  std::string material;  // Ed25519: the 32-byte public key; HMAC: the 32-byte shared key
  std::string comment;
  KeyOptions options;
  int line = 0;
};

std::string keyIdFor(KeyType type, std::string_view public_material);
ClientKey generateKey(KeyType type, std::string comment);
// The line for the daemon's authorized keys file.
std::string authorizedLine(const ClientKey& key);
// The key file's key line (secret).
std::string privateLine(const ClientKey& key);

// When an Ed25519 key's public half (and so its key id) is computed. Later: the client reads and
// checks its key file first, but derives the public key (a scalar multiplication, 0.85 M
// instructions) with completeKey() while its TLS handshake is in flight.
enum class KeyDerivation { Now, Later };

// Parse one non-comment line; the error says what is wrong (the caller adds file and line).
Status parsePrivateLine(std::string_view line, ClientKey& key, KeyDerivation when = KeyDerivation::Now);
// Computes public_key, key_id and signing_key if they are not there yet.
void completeKey(ClientKey& key);
Status parseAuthorizedLine(std::string_view line, AuthorizedKey& key);

// A client key file: permissions checked (no access for group or others), exactly one key.
Status loadKeyFile(const std::string& path, ClientKey& key, KeyDerivation when = KeyDerivation::Now);

// The daemon's authorized keys: not writable by group or others; when it holds HMAC keys (shared
// secrets) not readable by them either. Blank lines and '#' comments are skipped, and every bad
// line is reported as "FILE:LINE: reason".
Status loadAuthorizedKeys(const std::string& path, std::vector<AuthorizedKey>& keys);

// Writes a new key file with mode 0600, refusing to overwrite an existing file.
Status writeKeyFile(const std::string& path, const ClientKey& key);

}  // namespace rx
