#pragma once
// TLS 1.3 as a bytes-in/bytes-out layer between the socket and the frame codec (STYLE.md 6). No
// sockets here: tests pump a client and a server engine into each other.
//
// OpenSSL talks to a small BIO of ours (not BIO_s_mem) that reads ciphertext straight from the
// caller's buffer and appends records to one std::string: a memory BIO zero-fills every byte
// before it copies it in, and feed() would first copy the whole read into it. On a stream that
// was a memset and a memcpy per byte on each side.
//
// Policy, for both ends: TLS 1.3 only; no session tickets, so no resumption and no 0-RTT; TLS
// 1.3 has no renegotiation. The server presents its Ed25519 host key in a self-signed
// certificate; the client does not use the PKI but pins the key (see peerKeyFingerprint()).
#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace rx {

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

// Start-up only. `host_key` is an Ed25519 private key.
Status makeServerTlsContext(EVP_PKEY* host_key, SslCtxPtr& out);
Status makeClientTlsContext(SslCtxPtr& out);

// "SHA256:" + base64 (no padding) of SHA-256 over the DER SubjectPublicKeyInfo, like OpenSSH's.
std::string keyFingerprint(EVP_PKEY* key);

class TlsEngine {
 public:
  enum class Role { Client, Server };
  TlsEngine(SSL_CTX* ctx, Role role);
  ~TlsEngine();
  TlsEngine(const TlsEngine&) = delete;
  TlsEngine& operator=(const TlsEngine&) = delete;

  // Bytes from the network. Decrypted application bytes are appended to `plain`. An error is
  // fatal for the connection (bad record, failed handshake, MAC failure).
  Status feed(std::string_view ciphertext, std::string& plain);
  // Application bytes to encrypt; fails unless canWrite().
  Status write(std::string_view plain);
  // `plain`, then `then` (a frame's header and its data, written without first joining them);
  // an empty part is skipped.
  Status write(std::string_view plain, std::string_view then);
  // Starts the handshake (client) or does nothing (server waits for the ClientHello).
  Status start();
  // Sends close_notify.
  void shutdown();
  // Everything to put on the wire now (handshake messages, records, alerts).
  std::string takeOutput();
  bool hasOutput() const;
  // The same output in place, without a copy: a caller that can hand (part of) it to the kernel
  // at once consumes what it wrote, and takes the rest. The view is valid until the next call
  // on this engine.
  std::string_view pendingOutput() const;
  void consumeOutput(size_t n);
  // Between commands: frees the buffers a stream left behind (their capacity is otherwise kept,
  // so that a stream allocates nothing), unless they still hold bytes.
  void releaseIdleBuffers();

  // At most how many ciphertext bytes fed in are not decrypted yet: part of one record in
  // OpenSSL's buffer (read-ahead is off, so never more than one) and what it has not read.
  size_t heldCiphertextBound() const { return kMaxRecord + (in_.size() - in_pos_); }

  bool handshakeDone() const { return handshake_done_; }
  // Application bytes may be written: the handshake is done, or (server) the server's Finished
  // is out and the client's is awaited. TLS 1.3 lets a server send then ("0.5-RTT data", RFC 8446
  // section 4.4.4), to a client it has not authenticated yet; its bytes are read only after its
  // Finished checked out, as before.
  bool canWrite() const { return handshake_done_ || server_early_write_; }
  // The peer sent close_notify: a clean end of the stream, as opposed to a cut connection.
  bool peerClosed() const { return peer_closed_; }
  // RFC 9266 tls-exporter channel binding: 32 bytes, label "EXPORTER-Channel-Binding", no context.
  std::string channelBinding() const;
  // Fingerprint of the peer's certificate key (the client pins the server's host key).
  std::string peerKeyFingerprint() const;
  // Cipher suite and version, for logs.
  std::string describe() const;

 private:
  Status lastError(int ret, const char* what);
  Status driveHandshake();
  Status readRecords(std::string& plain);
  friend struct EngineBio;

  // The largest TLS 1.3 record on the wire: 5 bytes of header, 2^14 of data and up to 256 more
  // (RFC 8446 section 5.2).
  static constexpr size_t kMaxRecord = 5 + 16384 + 256;

  SSL* ssl_;
  // Ciphertext OpenSSL has not read yet: what was left of earlier feeds (a partial record) in
  // `in_` from `in_pos_`, then, during feed(), the caller's bytes themselves (`borrowed_`).
  std::string_view borrowed_;
  std::string in_;
  size_t in_pos_ = 0;
  // Records not yet taken, from `out_pos_`. Capacities are kept, so a stream allocates nothing
  // (until releaseIdleBuffers()).
  std::string out_;
  size_t out_pos_ = 0;
  bool handshake_done_ = false;
  bool server_flight_sent_ = false;  // server: SSL_read_early_data() said FINISH
  bool server_early_write_ = false;  // server: in the 0.5-RTT window
  bool peer_closed_ = false;
  bool failed_ = false;
};

}  // namespace rx
