// The client's lean OpenSSL library context (common/crypto_library.h). Each test is its own
// process under ctest, so switching the process-wide context here touches no other test.
#include "common/crypto_library.h"

#include <gtest/gtest.h>
#include <openssl/core_dispatch.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/auth_proof.h"
#include "common/tls_engine.h"

namespace rx {
namespace {

// Release builds link OpenSSL statically, where the default provider's entry point is there to
// build the lean context from; sanitizer builds use the shared library, where it is not.
constexpr bool kLeanExpected = RX_EXPECT_LEAN_CRYPTO;

bool cipherThere(const char* name) {
  EVP_CIPHER* c = EVP_CIPHER_fetch(cryptoLibrary(), name, nullptr);
  EVP_CIPHER_free(c);
  return c != nullptr;
}

TEST(CryptoLibrary, OpenSslsOwnUntilTheClientSwitches) { EXPECT_EQ(cryptoLibrary(), nullptr); }

TEST(CryptoLibrary, LeanWhereTheDefaultProviderIsLinkedInElseOpenSslsOwn) {
  EXPECT_EQ(useLeanCryptoLibrary(), kLeanExpected);
  EXPECT_EQ(cryptoLibrary() != nullptr, kLeanExpected);
  EXPECT_TRUE(useLeanCryptoLibrary() == kLeanExpected);  // a second call changes nothing
}

TEST(CryptoLibrary, LeanHasTheSuitesCiphersAndNothingElse) {
  useLeanCryptoLibrary();
  EXPECT_TRUE(cipherThere("AES-128-GCM"));
  EXPECT_TRUE(cipherThere("AES-256-GCM"));
  EXPECT_TRUE(cipherThere("ChaCha20-Poly1305"));
  // Not in the lean context; in OpenSSL's own, as ever.
  EXPECT_EQ(cipherThere("AES-128-CBC"), !kLeanExpected);
  EXPECT_EQ(cipherThere("CAMELLIA-128-CBC"), !kLeanExpected);
}

TEST(CryptoLibrary, AllowListNamesOnlyWhatRexecUses) {
  EXPECT_TRUE(leanAlgorithmAllowed(OSSL_OP_CIPHER, "AES-128-GCM"));
  EXPECT_FALSE(leanAlgorithmAllowed(OSSL_OP_CIPHER, "DES-EDE3-CBC"));
  EXPECT_TRUE(leanAlgorithmAllowed(OSSL_OP_SIGNATURE, "ED25519"));
  EXPECT_FALSE(leanAlgorithmAllowed(OSSL_OP_SIGNATURE, "RSA"));
  EXPECT_TRUE(leanAlgorithmAllowed(OSSL_OP_KEYEXCH, "X25519"));
  EXPECT_FALSE(leanAlgorithmAllowed(OSSL_OP_KEYEXCH, "DH"));
  EXPECT_TRUE(leanAlgorithmAllowed(OSSL_OP_DIGEST, "SHA2-512"));
  EXPECT_FALSE(leanAlgorithmAllowed(OSSL_OP_DIGEST, "SM3"));
  EXPECT_FALSE(leanAlgorithmAllowed(OSSL_OP_ASYM_CIPHER, "RSA"));
  EXPECT_FALSE(leanAlgorithmAllowed(OSSL_OP_STORE, "file"));
}

// As in use: rexecd's context from OpenSSL's own library context, the client's from the lean
// one; a full handshake, the host key pinned, and application data both ways.
TEST(CryptoLibrary, LeanClientCompletesAHandshakeWithADefaultServer) {
  PkeyPtr host_key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  SslCtxPtr server_ctx, client_ctx;
  ASSERT_TRUE(makeServerTlsContext(host_key.get(), server_ctx));
  useLeanCryptoLibrary();
  ASSERT_TRUE(makeClientTlsContext(client_ctx));
  TlsEngine client(client_ctx.get(), TlsEngine::Role::Client);
  TlsEngine server(server_ctx.get(), TlsEngine::Role::Server);
  std::string client_plain, server_plain;
  auto pump = [&] {
    for (int i = 0; i < 10; ++i) {
      const std::string c2s = client.takeOutput(), s2c = server.takeOutput();
      if (c2s.empty() && s2c.empty()) return;
      ASSERT_TRUE(server.feed(c2s, server_plain));
      ASSERT_TRUE(client.feed(s2c, client_plain));
    }
  };
  ASSERT_TRUE(client.start());
  pump();
  ASSERT_TRUE(client.handshakeDone());
  ASSERT_TRUE(client.write("ping"));
  ASSERT_TRUE(server.write("pong"));
  pump();
  EXPECT_EQ(server_plain, "ping");
  EXPECT_EQ(client_plain, "pong");
  EXPECT_EQ(client.peerKeyFingerprint(), keyFingerprint(host_key.get()));
}

// The client's own key: Ed25519 proofs made in the lean context verify in OpenSSL's own (as
// rexecd checks them), and its random bytes and digests work.
TEST(CryptoLibrary, LeanClientProofVerifiesAsTheDaemonChecksIt) {
  useLeanCryptoLibrary();
  const std::string seed = randomBytes(32);
  ASSERT_EQ(seed.size(), 32u);
  const std::string pub = ed25519PublicKey(seed);
  const std::string sig = ed25519Sign(ed25519SigningKey(seed).get(), "transcript");
  EXPECT_TRUE(ed25519Verify(pub, "transcript", sig));
  EXPECT_FALSE(ed25519Verify(pub, "transcripT", sig));
  EXPECT_EQ(sha256("abc").size(), 32u);
  EXPECT_EQ(hmacSha256("key", "data").size(), 32u);
}

}  // namespace
}  // namespace rx
