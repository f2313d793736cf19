#pragma once
// What bench/tools' plain TLS programs (tls_stream.cc, bare_oneshot.cc) share: rexec's TlsEngine
// driven by blocking reads and writes on a socket (dying as stream_tool.h says on any error).
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <vector>

#include "bench/tools/stream_tool.h"
#include "common/tls_engine.h"

namespace rxbench {

// A server context as rexecd's (makeServerTlsContext) around a fresh Ed25519 host key.
inline rx::SslCtxPtr serverContext() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (key == nullptr) die("keygen", "Ed25519 key generation failed");
  rx::SslCtxPtr ctx;
  const rx::Status s = rx::makeServerTlsContext(key, ctx);
  EVP_PKEY_free(key);  // the context holds its own reference
  if (!s) die("server context", s.message());
  return ctx;
}

// A client context as rexec's (makeClientTlsContext).
inline rx::SslCtxPtr clientContext() {
  rx::SslCtxPtr ctx;
  if (rx::Status s = rx::makeClientTlsContext(ctx); !s) die("client context", s.message());
  return ctx;
}

// Everything the engine has to send, in as few write()s as the socket takes.
inline void flush(rx::TlsEngine& tls, int fd) {
  while (tls.hasOutput()) {
    const std::string_view out = tls.pendingOutput();
    const ssize_t w = write(fd, out.data(), out.size());
    if (w < 0) {
      if (errno == EINTR) continue;
      dieErrno("write");
    }
    tls.consumeOutput(static_cast<size_t>(w));
  }
}

// One read from the socket into the engine, what it decrypts appended to `plain`; false at end
// of file.
inline bool readInto(rx::TlsEngine& tls, int fd, std::vector<char>& buf, std::string& plain) {
  ssize_t r;
  do r = read(fd, buf.data(), buf.size());
  while (r < 0 && errno == EINTR);
  if (r < 0) dieErrno("read");
  if (r == 0) return false;
  if (rx::Status s = tls.feed(std::string_view(buf.data(), static_cast<size_t>(r)), plain); !s)
    die("TLS", s.message());
  return true;
}

}  // namespace rxbench
