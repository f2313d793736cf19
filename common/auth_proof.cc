#include "common/auth_proof.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>

#include "common/crypto_library.h"
#include "common/limits.h"

namespace rx {
namespace {

[[noreturn]] void cryptoFailure(const char* what) {
  std::fprintf(stderr, "rexec: %s failed in OpenSSL\n", what);
  std::abort();
}

}  // namespace

std::string proofTranscript(ProofRole role, const ProofInput& in) {
  std::string t(role == ProofRole::Client ? kClientLabel : kServerLabel);
  t.append(in.server_nonce);
  t.append(in.client_nonce);
  t.append(in.channel_binding);
  t.append(in.key_id);
  return t;
}

std::string hmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t len = 0;
  if (!EVP_Q_mac(cryptoLibrary(), "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
                 reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, sizeof out, &len))
    cryptoFailure("HMAC-SHA256");
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string sha256(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t len = 0;
  if (!EVP_Q_digest(cryptoLibrary(), "SHA256", nullptr, data.data(), data.size(), out, &len))
    cryptoFailure("SHA-256");
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

std::shared_ptr<EVP_PKEY> ed25519SigningKey(std::string_view seed) {
  EVP_PKEY* k = EVP_PKEY_new_raw_private_key_ex(
      cryptoLibrary(), "ED25519", nullptr, reinterpret_cast<const unsigned char*>(seed.data()), seed.size());
  if (!k) cryptoFailure("Ed25519 key import");
  return std::shared_ptr<EVP_PKEY>(k, EVP_PKEY_free);
}

std::string ed25519PublicKey(EVP_PKEY* signing_key) {
  std::string pub(32, '\0');
  size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(signing_key, reinterpret_cast<unsigned char*>(pub.data()), &len) != 1 ||
      len != 32)
    cryptoFailure("Ed25519 public key");
  return pub;
}

std::string ed25519PublicKey(std::string_view seed) {
  return ed25519PublicKey(ed25519SigningKey(seed).get());
}

std::string ed25519Sign(EVP_PKEY* signing_key, std::string_view message) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string sig(kSignatureSize, '\0');
  size_t len = sig.size();
  if (!ctx ||
      EVP_DigestSignInit_ex(ctx, nullptr, nullptr, cryptoLibrary(), nullptr, signing_key, nullptr) != 1 ||
      EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1)
    cryptoFailure("Ed25519 signing");
  EVP_MD_CTX_free(ctx);
  return sig;
}

std::string ed25519Sign(std::string_view seed, std::string_view message) {
  return ed25519Sign(ed25519SigningKey(seed).get(), message);
}

bool ed25519Verify(std::string_view public_key, std::string_view message, std::string_view signature) {
  if (public_key.size() != 32 || signature.size() != kSignatureSize) return false;
  EVP_PKEY* k = EVP_PKEY_new_raw_public_key_ex(cryptoLibrary(), "ED25519", nullptr,
                                               reinterpret_cast<const unsigned char*>(public_key.data()), 32);
  if (!k) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok =
      ctx && EVP_DigestVerifyInit_ex(ctx, nullptr, nullptr, cryptoLibrary(), nullptr, k, nullptr) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                       reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(k);
  return ok;
}

std::string clientProof(const ClientKey& key, const ProofInput& in) {
  if (key.type == KeyType::Ed25519)
    return key.signing_key ? ed25519Sign(key.signing_key.get(), proofTranscript(ProofRole::Client, in))
                           : ed25519Sign(key.secret, proofTranscript(ProofRole::Client, in));
  return computeProof(ProofRole::Client, key.secret, in);
}

bool checkClientProof(const AuthorizedKey& key, const ProofInput& in, std::string_view proof) {
  if (key.type == KeyType::Ed25519)
    return ed25519Verify(key.material, proofTranscript(ProofRole::Client, in), proof);
  return verifyProof(ProofRole::Client, key.material, in, proof);
}

std::string serverProof(const AuthorizedKey& key, const ProofInput& in) {
  if (key.type == KeyType::Ed25519) return {};
  return computeProof(ProofRole::Server, key.material, in);
}

bool checkServerProof(const ClientKey& key, const ProofInput& in, std::string_view proof) {
  if (key.type == KeyType::Ed25519) return proof.empty();
  return verifyProof(ProofRole::Server, key.secret, in, proof);
}

std::string randomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes_ex(cryptoLibrary(), reinterpret_cast<unsigned char*>(out.data()), n, 0) != 1)
    cryptoFailure("the random generator");
  return out;
}

}  // namespace rx
