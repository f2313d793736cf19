#include "common/tls_engine.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "common/auth_proof.h"
#include "common/crypto_library.h"
#include "common/encoding.h"
#include "common/openssl_errors.h"

namespace rx {
namespace {

Status commonContext(SSL_CTX* ctx) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1)
    return Status::Error("cannot restrict TLS to version 1.3: " + opensslErrors());
  // No tickets: no resumption, so no 0-RTT replay surface; every connection is a full handshake
  // with fresh keys (and a fresh exporter for channel binding).
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_max_early_data(ctx, 0);
  // AES-128-GCM first: with AES-NI it is the fastest suite (openssl speed, 16 KiB blocks, on the
  // project's machines: AES-128-GCM ~4.2 GB/s, AES-256-GCM ~4.0, ChaCha20-Poly1305 ~3.0), and the
  // bulk of a session's CPU is the record cipher. The server picks by its own order, except that
  // a client listing ChaCha20 first (no AES hardware) gets it.
  if (SSL_CTX_set_ciphersuites(
          ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256") != 1)
    return Status::Error("cannot set the TLS 1.3 cipher suites: " + opensslErrors());
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
  // Large writes go out as few, full records. OpenSSL frees its two record buffers (16 KiB and
  // more each) whenever they are empty: an idle authenticated connection cost rexecd 32 KiB
  // with them and 16 KiB without (2,000 held, VmRSS), and streams measured no slower (2 GiB of
  // stdout and 1 GiB of stdin, 7 runs each taken in turn).
  SSL_CTX_set_mode(
      ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  return Status::Ok();
}

}  // namespace

// The BIO between OpenSSL and a TlsEngine (see tls_engine.h): reads come from the engine's
// input, writes go to its output, and an empty input is "retry later", never end of file.
struct EngineBio {
  static TlsEngine* engine(BIO* b) { return static_cast<TlsEngine*>(BIO_get_data(b)); }

  static int read(BIO* b, char* data, size_t len, size_t* got) {
    TlsEngine* e = engine(b);
    BIO_clear_retry_flags(b);
    // What was left over comes first, then the caller's bytes (OpenSSL reads again after a
    // short read, so a record may span both).
    const bool leftover = e->in_pos_ < e->in_.size();
    const std::string_view src = leftover ? std::string_view(e->in_).substr(e->in_pos_) : e->borrowed_;
    if (src.empty()) {
      BIO_set_retry_read(b);
      *got = 0;
      return 0;
    }
    const size_t n = std::min(len, src.size());
    std::memcpy(data, src.data(), n);
    if (leftover)
      e->in_pos_ += n;
    else
      e->borrowed_.remove_prefix(n);
    *got = n;
    return 1;
  }

  static int write(BIO* b, const char* data, size_t len, size_t* put) {
    engine(b)->out_.append(data, len);
    *put = len;
    return 1;
  }

  static long ctrl(BIO*, int cmd, long, void*) {
    // OpenSSL flushes after each flight; there is nothing to flush. Nothing else is supported.
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
  }

  static const BIO_METHOD* method() {
    static BIO_METHOD* m = [] {
      BIO_METHOD* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "rexec engine");
      BIO_meth_set_read_ex(bm, read);
      BIO_meth_set_write_ex(bm, write);
      BIO_meth_set_ctrl(bm, ctrl);
      return bm;
    }();
    return m;
  }
};

namespace {

std::string fingerprintOfDer(unsigned char* der, int len) {
  if (len <= 0) return "SHA256:?";
  const std::string digest = sha256(std::string_view(reinterpret_cast<char*>(der), static_cast<size_t>(len)));
  OPENSSL_free(der);
  std::string b64 = base64Encode(digest);
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  return "SHA256:" + b64;
}

}  // namespace

std::string keyFingerprint(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  return fingerprintOfDer(der, i2d_PUBKEY(key, &der));
}

Status makeServerTlsContext(EVP_PKEY* host_key, SslCtxPtr& out) {
  SslCtxPtr ctx(SSL_CTX_new_ex(cryptoLibrary(), nullptr, TLS_server_method()));
  if (!ctx) return Status::Error("SSL_CTX_new: " + opensslErrors());
  if (Status s = commonContext(ctx.get()); !s) return s;
  // A self-signed certificate around the host key: TLS needs one, the client pins the key.
  X509* cert = X509_new_ex(cryptoLibrary(), nullptr);
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -24 * 3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 100L * 365 * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("rexecd"), -1,
                             -1, 0);
  X509_set_issuer_name(cert, name);
  X509_set_pubkey(cert, host_key);
  const bool ok = X509_sign(cert, host_key, nullptr) > 0 && SSL_CTX_use_certificate(ctx.get(), cert) == 1 &&
                  SSL_CTX_use_PrivateKey(ctx.get(), host_key) == 1 &&
                  SSL_CTX_check_private_key(ctx.get()) == 1;
  X509_free(cert);
  if (!ok) return Status::Error("cannot set up the host certificate: " + opensslErrors());
  out = std::move(ctx);
  return Status::Ok();
}

Status makeClientTlsContext(SslCtxPtr& out) {
  SslCtxPtr ctx(SSL_CTX_new_ex(cryptoLibrary(), nullptr, TLS_client_method()));
  if (!ctx) return Status::Error("SSL_CTX_new: " + opensslErrors());
  if (Status s = commonContext(ctx.get()); !s) return s;
  // The chain is self-signed by design; the client pins the server's key instead (known_hosts),
  // checked on handshakeDone() before a single application byte is sent. So no chain
  // verification at all (it would only read /etc/localtime to check dates that mean nothing);
  // TLS 1.3 still checks the server's CertificateVerify signature with the certificate's key.
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  out = std::move(ctx);
  return Status::Ok();
}

TlsEngine::TlsEngine(SSL_CTX* ctx, Role role) : ssl_(SSL_new(ctx)) {
  BIO* bio = BIO_new(EngineBio::method());
  BIO_set_data(bio, this);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl_, bio, bio);  // the SSL owns the BIO now
  if (role == Role::Server)
    SSL_set_accept_state(ssl_);
  else
    SSL_set_connect_state(ssl_);
}

TlsEngine::~TlsEngine() { SSL_free(ssl_); }

Status TlsEngine::lastError(int ret, const char* what) {
  const int err = SSL_get_error(ssl_, ret);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return Status::Ok();
  failed_ = true;
  if (err == SSL_ERROR_ZERO_RETURN)
    return Status::Error(fmt::format("{}: peer closed the TLS session", what));
  return Status::Error(fmt::format("TLS {} failed: {}", what, opensslErrors()));
}

Status TlsEngine::start() {
  if (handshake_done_ || SSL_is_server(ssl_)) return Status::Ok();
  return driveHandshake();
}

Status TlsEngine::driveHandshake() {
  if (SSL_is_server(ssl_) && !server_flight_sent_) {
    // OpenSSL's way to stop right after the server's Finished, where 0.5-RTT data may be written
    // (see canWrite()). Early data from the client is never accepted (no tickets, max early data
    // 0), so this only ever reports FINISH or "want more".
    char unused[1];
    size_t n = 0;
    const int r = SSL_read_early_data(ssl_, unused, sizeof unused, &n);
    if (r == SSL_READ_EARLY_DATA_SUCCESS) {
      failed_ = true;
      return Status::Error("TLS handshake failed: unexpected early data");
    }
    if (r != SSL_READ_EARLY_DATA_FINISH) return lastError(r, "handshake");
    server_flight_sent_ = true;
    server_early_write_ = !SSL_is_init_finished(ssl_);
  }
  const int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    handshake_done_ = true;
    server_early_write_ = false;
    return Status::Ok();
  }
  return lastError(r, "handshake");
}

Status TlsEngine::feed(std::string_view ciphertext, std::string& plain) {
  if (failed_) return Status::Error("TLS session already failed");
  // OpenSSL reads the caller's bytes in place (after any partial record left over from the last
  // feed); what it has not read when this returns is kept in in_ for the next one.
  borrowed_ = ciphertext;
  const Status s = readRecords(plain);
  if (in_pos_ == in_.size()) {
    in_.clear();
    in_pos_ = 0;
  }
  in_.append(borrowed_);
  borrowed_ = {};
  return s;
}

Status TlsEngine::readRecords(std::string& plain) {
  if (!handshake_done_) {
    if (Status s = driveHandshake(); !s) return s;
    if (!handshake_done_) return Status::Ok();
  }
  char buf[64 * 1024];
  for (;;) {
    const int n = SSL_read(ssl_, buf, sizeof buf);
    if (n > 0) {
      plain.append(buf, static_cast<size_t>(n));
      continue;
    }
    const int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_ZERO_RETURN) {
      peer_closed_ = true;
      return Status::Ok();
    }
    return lastError(n, "read");
  }
}

Status TlsEngine::write(std::string_view plain) {
  if (failed_) return Status::Error("TLS session already failed");
  if (!canWrite()) return Status::Error("TLS write before the handshake completed");
  while (!plain.empty()) {
    int n = 0;
    if (handshake_done_) {
      n = SSL_write(ssl_, plain.data(), static_cast<int>(std::min<size_t>(plain.size(), 1 << 30)));
    } else {
      size_t written = 0;
      n = SSL_write_early_data(ssl_, plain.data(), plain.size(), &written) == 1 ? static_cast<int>(written)
                                                                                : 0;
    }
    if (n <= 0) {
      // Memory BIOs never push back, so "want read/write" here means the session is unusable.
      Status s = lastError(n, "write");
      return s.ok() ? Status::Error("TLS write could not complete") : s;
    }
    plain.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status TlsEngine::write(std::string_view plain, std::string_view then) {
  for (std::string_view part : {plain, then}) {
    if (part.empty()) continue;
    if (Status s = write(part); !s) return s;
  }
  return Status::Ok();
}

void TlsEngine::shutdown() {
  if (!failed_ && handshake_done_) SSL_shutdown(ssl_);
}

bool TlsEngine::hasOutput() const { return out_pos_ < out_.size(); }

std::string TlsEngine::takeOutput() {
  std::string out(pendingOutput());
  consumeOutput(out.size());
  return out;
}

std::string_view TlsEngine::pendingOutput() const { return std::string_view(out_).substr(out_pos_); }

void TlsEngine::consumeOutput(size_t n) {
  out_pos_ += std::min(n, out_.size() - out_pos_);
  if (out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
  }
}

void TlsEngine::releaseIdleBuffers() {
  if (!hasOutput()) {
    std::string().swap(out_);
    out_pos_ = 0;
  }
  if (in_pos_ == in_.size()) {
    std::string().swap(in_);
    in_pos_ = 0;
  }
}

std::string TlsEngine::channelBinding() const {
  static constexpr char kLabel[] = "EXPORTER-Channel-Binding";
  std::string out(32, '\0');
  if (!handshake_done_ ||
      SSL_export_keying_material(ssl_, reinterpret_cast<unsigned char*>(out.data()), out.size(), kLabel,
                                 sizeof kLabel - 1, nullptr, 0, 0) != 1)
    return {};
  return out;
}

std::string TlsEngine::peerKeyFingerprint() const {
  X509* cert = SSL_get1_peer_certificate(ssl_);
  if (!cert) return {};
  // The certificate's SubjectPublicKeyInfo as it is, the same DER that keyFingerprint() encodes:
  // i2d_PUBKEY would set up OpenSSL 3's encoder machinery, 3.2 M instructions of the client's 30 M.
  unsigned char* der = nullptr;
  std::string fp = fingerprintOfDer(der, i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der));
  X509_free(cert);
  return fp;
}

std::string TlsEngine::describe() const {
  return fmt::format("{} {}", SSL_get_version(ssl_), SSL_get_cipher_name(ssl_));
}

}  // namespace rx
