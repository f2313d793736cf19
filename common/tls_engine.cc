#include "common/tls_engine.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <fmt/format.h>

#include "common/auth_proof.h"
#include "common/encoding.h"

namespace rx {
namespace {

std::string opensslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

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
  // Large writes go out as few, full records.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return Status::Ok();
}

}  // namespace

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
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return Status::Error("SSL_CTX_new: " + opensslErrors());
  if (Status s = commonContext(ctx.get()); !s) return s;
  // A self-signed certificate around the host key: TLS needs one, the client pins the key.
  X509* cert = X509_new();
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
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
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

TlsEngine::TlsEngine(SSL_CTX* ctx, Role role)
    : ssl_(SSL_new(ctx)), in_(BIO_new(BIO_s_mem())), out_(BIO_new(BIO_s_mem())) {
  // A read from an empty memory BIO means "wait for more", not end of file.
  BIO_set_mem_eof_return(in_, -1);
  BIO_set_mem_eof_return(out_, -1);
  SSL_set_bio(ssl_, in_, out_);  // the SSL owns both BIOs now
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
  if (!ciphertext.empty() && BIO_write(in_, ciphertext.data(), static_cast<int>(ciphertext.size())) <= 0)
    return Status::Error("TLS: cannot buffer input");
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

void TlsEngine::shutdown() {
  if (!failed_ && handshake_done_) SSL_shutdown(ssl_);
}

bool TlsEngine::hasOutput() const { return BIO_ctrl_pending(out_) > 0; }

std::string TlsEngine::takeOutput() {
  std::string out(BIO_ctrl_pending(out_), '\0');
  if (out.empty()) return out;
  const int n = BIO_read(out_, out.data(), static_cast<int>(out.size()));
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
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
