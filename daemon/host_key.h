#pragma once
// The daemon's Ed25519 host key: a PKCS#8 PEM file, mode 0600, presented to clients inside a
// self-signed TLS certificate and pinned by them (known_hosts).
#include <string>

#include "common/status.h"
#include "common/tls_engine.h"

namespace rx {

// Loads the key; refuses a file readable by group or others, or a key that is not Ed25519.
Status loadHostKey(const std::string& path, PkeyPtr& key);
// Makes a new key and writes it (never overwriting an existing file).
Status createHostKey(const std::string& path, PkeyPtr& key);

}  // namespace rx
