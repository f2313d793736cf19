#pragma once
// The one place that computes and checks authentication proofs (docs/PROTOCOL.md, "Proofs").
//
// proof = HMAC-SHA256(key, label || server_nonce || client_nonce || key_id)
// where label is kClientLabel for the client's proof and kServerLabel for the server's, so a
// proof can never be reflected back to its maker in the other role.
#include <string>
#include <string_view>

namespace rx {

enum class ProofRole { Client, Server };

inline constexpr std::string_view kClientLabel{"rexec v1 client proof\0", 22};
inline constexpr std::string_view kServerLabel{"rexec v1 server proof\0", 22};

struct ProofInput {
  std::string_view server_nonce;  // 32 bytes
  std::string_view client_nonce;  // 32 bytes
  std::string_view key_id;
};

// The exact bytes the MAC covers; exposed for tests and for the protocol document.
std::string proofTranscript(ProofRole role, const ProofInput& in);

std::string computeProof(ProofRole role, std::string_view key, const ProofInput& in);

// Constant-time comparison (CRYPTO_memcmp) of `proof` with the expected one.
bool verifyProof(ProofRole role, std::string_view key, const ProofInput& in, std::string_view proof);

std::string hmacSha256(std::string_view key, std::string_view data);
std::string sha256(std::string_view data);

// Bytes from the OpenSSL CSPRNG; aborts if it fails (there is no safe way on without it).
std::string randomBytes(size_t n);

}  // namespace rx
