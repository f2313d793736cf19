#pragma once
// A client and a server TlsEngine pumped into each other in memory (no sockets), for the tests of
// the TLS layer and of what reads its output.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <memory>
#include <string>

#include "common/tls_engine.h"

namespace rx {

inline PkeyPtr newEd25519() { return PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")); }

struct TlsPair {
  PkeyPtr host_key = newEd25519();
  SslCtxPtr server_ctx, client_ctx;
  std::unique_ptr<TlsEngine> client, server;
  std::string client_plain, server_plain;

  TlsPair() {
    EXPECT_TRUE(makeServerTlsContext(host_key.get(), server_ctx));
    EXPECT_TRUE(makeClientTlsContext(client_ctx));
    client = std::make_unique<TlsEngine>(client_ctx.get(), TlsEngine::Role::Client);
    server = std::make_unique<TlsEngine>(server_ctx.get(), TlsEngine::Role::Server);
  }
  // Moves bytes both ways until neither side has anything to say.
  Status pump() {
    for (int i = 0; i < 20; ++i) {
      const std::string c2s = client->takeOutput();
      const std::string s2c = server->takeOutput();
      if (c2s.empty() && s2c.empty()) return Status::Ok();
      if (Status s = server->feed(c2s, server_plain); !s) return s;
      if (Status s = client->feed(s2c, client_plain); !s) return s;
    }
    return Status::Error("pump did not settle");
  }
  Status handshake() {
    if (Status s = client->start(); !s) return s;
    return pump();
  }
};

}  // namespace rx
