#pragma once
// Keys and per-connection values for the fuzz targets and their corpus generator. They are
// derived at run time from the fixed labels below, so the repository holds no key material; they
// are test-only and authorize nothing anywhere.
#include <string>
#include <string_view>

#include "common/auth_proof.h"
#include "common/key_file.h"

namespace rx::fuzz {

inline ClientKey fixedKey(KeyType type, std::string_view seed_label) {
  ClientKey key;
  key.type = type;
  key.secret = sha256(seed_label);  // 32 bytes: an Ed25519 seed or an HMAC key
  if (type == KeyType::Ed25519) key.public_key = ed25519PublicKey(key.secret);
  key.key_id = keyIdFor(type, type == KeyType::Ed25519 ? key.public_key : key.secret);
  key.comment = "fuzz";
  return key;
}

inline const ClientKey& ed25519Key() {
  static const ClientKey key = fixedKey(KeyType::Ed25519, "rexec fuzz ed25519 seed");
  return key;
}

inline const ClientKey& hmacKey() {
  static const ClientKey key = fixedKey(KeyType::HmacSha256, "rexec fuzz hmac key");
  return key;
}

// What the daemon's authorized keys hold for `key`.
inline AuthorizedKey authorizedFor(const ClientKey& key, int line) {
  AuthorizedKey ak;
  ak.type = key.type;
  ak.key_id = key.key_id;
  ak.material = key.type == KeyType::Ed25519 ? key.public_key : key.secret;
  ak.comment = key.comment;
  ak.line = line;
  return ak;
}

// The TLS exporter value the fuzzed connections pretend to have, and fixed nonces for the side
// the harness plays (32 bytes each).
inline const std::string& channelBinding() {
  static const std::string value = sha256("rexec fuzz channel binding");
  return value;
}

inline const std::string& fixedClientNonce() {
  static const std::string value = sha256("rexec fuzz client nonce");
  return value;
}

inline const std::string& fixedServerNonce() {
  static const std::string value = sha256("rexec fuzz server nonce");
  return value;
}

}  // namespace rx::fuzz
