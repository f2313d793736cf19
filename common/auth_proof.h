#pragma once
// The one place that computes and checks authentication proofs (docs/PROTOCOL.md, "Proofs").
//
// transcript = label || server_nonce (32) || client_nonce (32) || channel_binding (32) || key_id
//   label: kClientLabel for the client's proof, kServerLabel for the server's, so a proof can
//          never be reflected back to its maker in the other role;
//   channel_binding: the TLS exporter of this very connection (RFC 9266), so a proof relayed
//          onto another connection is worthless.
// Ed25519 keys: the client signs the transcript (64-byte signature). The server is already
// proven by its pinned TLS host key, and sends no proof of its own.
// HMAC-SHA256 keys: the client's proof is HMAC(key, client transcript); the server proves it
// holds the key too with HMAC(key, server transcript).
#include <memory>
#include <string>
#include <string_view>

#include "common/key_file.h"

namespace rx {

enum class ProofRole { Client, Server };

inline constexpr std::string_view kClientLabel{"rexec v1 client proof\0", 22};
inline constexpr std::string_view kServerLabel{"rexec v1 server proof\0", 22};

struct ProofInput {
  std::string_view server_nonce;     // 32 bytes
  std::string_view client_nonce;     // 32 bytes
  std::string_view channel_binding;  // 32 bytes
  std::string_view key_id;
};

// The exact bytes a proof covers; exposed for tests and the protocol document.
std::string proofTranscript(ProofRole role, const ProofInput& in);

// The client's proof for its key, and the server's check of it (constant time for HMAC).
std::string clientProof(const ClientKey& key, const ProofInput& in);
bool checkClientProof(const AuthorizedKey& key, const ProofInput& in, std::string_view proof);
// The server's proof (empty for Ed25519 keys), and the client's check of it.
std::string serverProof(const AuthorizedKey& key, const ProofInput& in);
bool checkServerProof(const ClientKey& key, const ProofInput& in, std::string_view proof);

// Primitives.
std::string computeProof(ProofRole role, std::string_view hmac_key, const ProofInput& in);
bool verifyProof(ProofRole role, std::string_view hmac_key, const ProofInput& in, std::string_view proof);
std::string hmacSha256(std::string_view key, std::string_view data);
std::string sha256(std::string_view data);
std::string ed25519PublicKey(std::string_view seed);
// The seed made into an OpenSSL key, its public half derived once; and that half.
std::shared_ptr<EVP_PKEY> ed25519SigningKey(std::string_view seed);
std::string ed25519PublicKey(EVP_PKEY* signing_key);
std::string ed25519Sign(EVP_PKEY* signing_key, std::string_view message);
std::string ed25519Sign(std::string_view seed, std::string_view message);
bool ed25519Verify(std::string_view public_key, std::string_view message, std::string_view signature);

// Bytes from the OpenSSL CSPRNG; aborts if it fails (there is no safe way on without it).
std::string randomBytes(size_t n);

}  // namespace rx
