#include "common/auth_proof.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>

#include "common/limits.h"

namespace rx {

std::string proofTranscript(ProofRole role, const ProofInput& in) {
  std::string t(role == ProofRole::Client ? kClientLabel : kServerLabel);
  t.append(in.server_nonce);
  t.append(in.client_nonce);
  t.append(in.key_id);
  return t;
}

std::string hmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len)) {
    std::fputs("rexec: HMAC-SHA256 failed in OpenSSL\n", stderr);
    std::abort();
  }
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string sha256(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr)) {
    std::fputs("rexec: SHA-256 failed in OpenSSL\n", stderr);
    std::abort();
  }
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string computeProof(ProofRole role, std::string_view key, const ProofInput& in) {
  return hmacSha256(key, proofTranscript(role, in));
}

bool verifyProof(ProofRole role, std::string_view key, const ProofInput& in, std::string_view proof) {
  if (proof.size() != kProofSize) return false;
  const std::string expected = computeProof(role, key, in);
  return CRYPTO_memcmp(expected.data(), proof.data(), kProofSize) == 0;
}

std::string randomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    std::fputs("rexec: the OpenSSL random generator failed\n", stderr);
    std::abort();
  }
  return out;
}

}  // namespace rx
