// The TLS layer pumped in memory between a client and a server TlsEngine (as
// tests/unit/tls_engine_test.cc does): the cost of a full TLS 1.3 handshake with the Ed25519
// host key, and bulk transfer in both directions' usual chunk sizes. No sockets: what the crypto
// and the memory BIOs cost, apart from the network.
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <memory>
#include <string>

#include "common/tls_engine.h"

namespace rx {
namespace {

struct Contexts {
  PkeyPtr host_key{EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")};
  SslCtxPtr server, client;
  Contexts() {
    if (!makeServerTlsContext(host_key.get(), server) || !makeClientTlsContext(client)) std::abort();
  }
};

Contexts& contexts() {
  static Contexts c;
  return c;
}

struct Pair {
  TlsEngine client{contexts().client.get(), TlsEngine::Role::Client};
  TlsEngine server{contexts().server.get(), TlsEngine::Role::Server};
  std::string client_plain, server_plain;

  // Moves bytes both ways until neither side has anything to say.
  bool pump() {
    for (int i = 0; i < 20; ++i) {
      const std::string c2s = client.takeOutput();
      const std::string s2c = server.takeOutput();
      if (c2s.empty() && s2c.empty()) return true;
      if (!server.feed(c2s, server_plain) || !client.feed(s2c, client_plain)) return false;
    }
    return false;
  }
  bool handshake() { return client.start() && pump() && client.handshakeDone() && server.handshakeDone(); }
};

void BM_TlsHandshake(benchmark::State& state) {
  for (auto _ : state) {
    Pair p;
    if (!p.handshake()) state.SkipWithError("handshake failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TlsHandshake)->Unit(benchmark::kMicrosecond);

// Arg: the size of each write (16 KiB is one TLS record, 256 KiB a large write).
// Server to client, as a command's output flows.
void BM_TlsBulk(benchmark::State& state) {
  Pair p;
  if (!p.handshake()) {
    state.SkipWithError("handshake failed");
    return;
  }
  const std::string chunk(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state) {
    if (!p.server.write(chunk)) state.SkipWithError("write failed");
    const std::string wire = p.server.takeOutput();
    p.client_plain.clear();
    if (!p.client.feed(wire, p.client_plain)) state.SkipWithError("feed failed");
    if (p.client_plain.size() != chunk.size()) state.SkipWithError("short read");
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_TlsBulk)->Arg(16 * 1024)->Arg(256 * 1024);

}  // namespace
}  // namespace rx
