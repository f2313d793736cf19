#pragma once
// The OpenSSL library context every crypto call of ours goes through (SSL_CTX, keys, digests,
// random bytes). By default it is OpenSSL's own (nullptr). The one-shot client switches to a lean
// one at start-up, because OpenSSL 3.0 pays for its whole algorithm catalogue on first use: the
// first fetch of a cipher builds a method for each of the default provider's ~150 ciphers, and
// SSL_CTX_new fetches every cipher TLS has ever had. That was 9.2 M of the client's 18 M
// instructions per command (callgrind) for a process that uses one cipher suite and one key type.
//
// The lean context holds one provider: OpenSSL's default provider itself, with the same
// implementations and the same provider context, of which query_operation answers only what
// rexec's TLS 1.3 and keys use (AES-GCM, ChaCha20-Poly1305, X25519, Ed25519, plus every digest,
// MAC, KDF and random generator). An algorithm outside that list is not there at all, so a
// server with another key type fails the handshake; rexecd's host key is always Ed25519.
#include <openssl/types.h>

#include <string_view>

namespace rx {

// The context to pass to OpenSSL's *_ex functions; nullptr is OpenSSL's default.
OSSL_LIB_CTX* cryptoLibrary();

// Start-up only, before any other crypto call. Makes the lean context current and returns true,
// or leaves OpenSSL's default in place and returns false where the default provider's entry
// point is not linked in (OpenSSL as a shared library exports it under no public name).
bool useLeanCryptoLibrary();

// The one-shot client's set-up of OpenSSL, start-up only, before any other crypto call:
// OpenSSL's initialisation without what the client never needs (see the .cc for the figures),
// then useLeanCryptoLibrary(). bench/tools/bare_oneshot.cc calls it too, so that its floor is set
// up as rexec is.
void startClientCrypto();

// What the lean context lets through for an OpenSSL operation id (OSSL_OP_*) and the algorithm's
// first name; exposed for the tests.
bool leanAlgorithmAllowed(int operation, std::string_view first_name);

}  // namespace rx
