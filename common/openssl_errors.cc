// The per-library loaders are deprecated in OpenSSL 3.0 in favour of loading everything at
// initialisation, which is exactly the cost this file exists to avoid (openssl_errors.h).
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "common/openssl_errors.h"

#include <openssl/cryptoerr_legacy.h>
#include <openssl/err.h>
#include <openssl/sslerr_legacy.h>

namespace rx {
namespace {

void loadErrorText() {
  // Each loader returns at once if its text is in already (the daemon loads it all at start-up).
  // ERR: the library names ("SSL routines") and the system errors; then the libraries a TLS
  // session, a certificate or a key can fail in.
  static const bool loaded = [] {
    ERR_load_ERR_strings();
    ERR_load_SSL_strings();
    ERR_load_EVP_strings();
    ERR_load_X509_strings();
    ERR_load_ASN1_strings();
    ERR_load_PEM_strings();
    return true;
  }();
  (void)loaded;
}

}  // namespace

std::string opensslErrors() {
  if (ERR_peek_error() != 0) loadErrorText();
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

}  // namespace rx
