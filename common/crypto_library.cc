#include "common/crypto_library.h"

#include <openssl/core_dispatch.h>
#include <openssl/crypto.h>
#include <openssl/provider.h>
#include <openssl/ssl.h>

#include <array>
#include <string_view>
#include <vector>

// The default provider's entry point, as OSSL_PROVIDER_add_builtin() wants one. OpenSSL does not
// export it from libcrypto.so, so it is weak: linked against the static libcrypto (release builds)
// it is there, against the shared one it is null and the client keeps OpenSSL's default context.
extern "C" int ossl_default_provider_init(const OSSL_CORE_HANDLE* handle, const OSSL_DISPATCH* in,
                                          const OSSL_DISPATCH** out, void** provctx) __attribute__((weak));

namespace rx {
namespace {

OSSL_LIB_CTX* g_library = nullptr;

bool oneOf(std::string_view name, std::initializer_list<std::string_view> names) {
  for (std::string_view n : names)
    if (name == n) return true;
  return false;
}

// The operations the lean context answers, each with the default provider's algorithms that
// passed leanAlgorithmAllowed(); filled once in leanInit(), read-only after.
constexpr std::array kOperations = {OSSL_OP_DIGEST,  OSSL_OP_CIPHER,  OSSL_OP_MAC,     OSSL_OP_KDF,
                                    OSSL_OP_RAND,    OSSL_OP_KEYMGMT, OSSL_OP_KEYEXCH, OSSL_OP_SIGNATURE,
                                    OSSL_OP_ENCODER, OSSL_OP_DECODER};
std::array<std::vector<OSSL_ALGORITHM>, kOperations.size()> g_algorithms;
std::vector<OSSL_DISPATCH> g_dispatch;

const OSSL_ALGORITHM* leanQuery(void* provctx, int operation, int* no_cache) {
  (void)provctx;
  *no_cache = 0;
  for (size_t i = 0; i < kOperations.size(); ++i)
    if (kOperations[i] == operation) return g_algorithms[i].data();
  return nullptr;
}

int leanInit(const OSSL_CORE_HANDLE* handle, const OSSL_DISPATCH* in, const OSSL_DISPATCH** out,
             void** provctx) {
  // The default provider set up for this context (its provider context names this library
  // context, so its own inner fetches, such as the random generator's AES, stay lean too).
  const OSSL_DISPATCH* inner = nullptr;
  if (!ossl_default_provider_init(handle, in, &inner, provctx)) return 0;
  OSSL_FUNC_provider_query_operation_fn* default_query = nullptr;
  g_dispatch.clear();
  for (const OSSL_DISPATCH* d = inner; d->function_id != 0; ++d) {
    if (d->function_id == OSSL_FUNC_PROVIDER_QUERY_OPERATION) {
      default_query = reinterpret_cast<OSSL_FUNC_provider_query_operation_fn*>(d->function);
      g_dispatch.push_back({d->function_id, reinterpret_cast<void (*)()>(leanQuery)});
    } else {
      g_dispatch.push_back(*d);
    }
  }
  if (default_query == nullptr) return 0;
  g_dispatch.push_back({0, nullptr});
  for (size_t i = 0; i < kOperations.size(); ++i) {
    int unused = 0;
    auto& kept = g_algorithms[i];
    kept.clear();
    for (const OSSL_ALGORITHM* a = default_query(*provctx, kOperations[i], &unused);
         a != nullptr && a->algorithm_names != nullptr; ++a) {
      const std::string_view names(a->algorithm_names);
      if (leanAlgorithmAllowed(kOperations[i], names.substr(0, names.find(':')))) kept.push_back(*a);
    }
    kept.push_back({nullptr, nullptr, nullptr, nullptr});
  }
  *out = g_dispatch.data();
  return 1;
}

}  // namespace

bool leanAlgorithmAllowed(int operation, std::string_view name) {
  switch (operation) {
    // The suites' hashes, SHA-512 inside Ed25519, and SHA-1 and MD5, which libssl looks for
    // when it builds its (pre-1.3) MAC table.
    case OSSL_OP_DIGEST:
      return oneOf(name, {"SHA2-256", "SHA2-384", "SHA2-512", "SHA1", "MD5", "MD5-SHA1"});
    case OSSL_OP_MAC:
      return name == "HMAC";
    // TLS 1.3's key schedule.
    case OSSL_OP_KDF:
      return oneOf(name, {"HKDF", "TLS13-KDF"});
    // The random generator: the operating system's entropy and a CTR-DRBG over it.
    case OSSL_OP_RAND:
      return oneOf(name, {"CTR-DRBG", "SEED-SRC"});
    // The TLS 1.3 suites of tls_engine.cc, and the random generator's CTR-DRBG (AES-256-CTR,
    // which it keys with AES-256-ECB).
    case OSSL_OP_CIPHER:
      return oneOf(name, {"AES-128-GCM", "AES-256-GCM", "ChaCha20-Poly1305", "AES-256-CTR", "AES-256-ECB"});
    // X25519 key exchange, Ed25519 keys (ours, the host's in its certificate), and HMAC as a key
    // (TLS 1.3's Finished MAC, the hmac-sha256 client keys).
    case OSSL_OP_KEYMGMT:
      return oneOf(name, {"X25519", "ED25519", "HMAC", "EC"});
    case OSSL_OP_KEYEXCH:
      return oneOf(name, {"X25519", "ECDH"});
    case OSSL_OP_SIGNATURE:
      return oneOf(name, {"ED25519", "HMAC", "ECDSA"});
    // The host certificate's public key (decoded from DER) and its fingerprint (encoded to DER).
    case OSSL_OP_ENCODER:
      return name == "ED25519";
    case OSSL_OP_DECODER:
      return oneOf(name, {"ED25519", "DER", "SubjectPublicKeyInfo"});
    default:
      return false;
  }
}

OSSL_LIB_CTX* cryptoLibrary() { return g_library; }

void startClientCrypto() {
  // The client's TLS policy is fixed in code (tls_engine.cc); the system's openssl.cnf has
  // nothing to add to it, and parsing it cost 1.7 M instructions (of 24 M) per command. Nor does
  // OpenSSL need to free its tables at exit, which cost another 1.5 M. Nothing here looks an
  // algorithm up by its pre-3.0 name (EVP_get_cipherbyname), so the table of those names stays
  // empty: OpenSSL copies it into every library context's name map, 3.2 M instructions. Its
  // error text is loaded only when there is an error to show (common/openssl_errors.h): 1.05 M.
  OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ATEXIT | OPENSSL_INIT_NO_ADD_ALL_CIPHERS |
                       OPENSSL_INIT_NO_ADD_ALL_DIGESTS | OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS |
                       OPENSSL_INIT_NO_LOAD_SSL_STRINGS,
                   nullptr);
  // Only the algorithms rexec uses (crypto_library.h): 4.1 M instructions fewer.
  useLeanCryptoLibrary();
}

bool useLeanCryptoLibrary() {
  if (g_library != nullptr) return true;
  if (ossl_default_provider_init == nullptr) return false;
  OSSL_LIB_CTX* library = OSSL_LIB_CTX_new();
  if (library == nullptr) return false;
  if (OSSL_PROVIDER_add_builtin(library, "rexec-lean", leanInit) != 1 ||
      OSSL_PROVIDER_load(library, "rexec-lean") == nullptr) {
    OSSL_LIB_CTX_free(library);
    return false;
  }
  g_library = library;
  return true;
}

}  // namespace rx
