#include "daemon/host_key.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <fmt/format.h>

#include "common/file_perms.h"

namespace rx {

Status loadHostKey(const std::string& path, PkeyPtr& key) {
  std::string pem;
  if (Status s = readPrivateFile(path, 64 * 1024, pem); !s) return s;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!k) return Status::Error(fmt::format("{}: not a PEM private key", path));
  key.reset(k);
  if (EVP_PKEY_get_id(k) != EVP_PKEY_ED25519)
    return Status::Error(fmt::format("{}: not an Ed25519 key", path));
  return Status::Ok();
}

Status createHostKey(const std::string& path, PkeyPtr& key) {
  PkeyPtr k(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!k) return Status::Error("cannot generate an Ed25519 key");
  BIO* bio = BIO_new(BIO_s_mem());
  std::string pem;
  if (PEM_write_bio_PrivateKey(bio, k.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    pem.assign(data, static_cast<size_t>(n));
  }
  BIO_free(bio);
  if (pem.empty()) return Status::Error("cannot encode the host key");
  Status s = writeNewPrivateFile(path, pem);
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!s) return s;
  key = std::move(k);
  return Status::Ok();
}

}  // namespace rx
