#include "config/tls_files.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace portico::config {
namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Certificate = std::unique_ptr<X509, X509Free>;
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;

Bio open_file(const std::string& path, std::string& problem) {
  Bio bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) problem = "cannot read \"" + path + "\": " + std::strerror(errno);
  return bio;
}

Certificate first_certificate(const std::string& path, std::string& problem) {
  auto bio = open_file(path, problem);
  if (!bio) return nullptr;
  Certificate cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (!cert) problem = "\"" + path + "\" holds no PEM certificate";
  return cert;
}

Key private_key(const std::string& path, std::string& problem) {
  auto bio = open_file(path, problem);
  if (!bio) return nullptr;
  Key key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (!key) problem = "\"" + path + "\" holds no PEM private key (or it is encrypted)";
  return key;
}

}  // namespace

std::string certificate_file_problem(const std::string& path) {
  std::string problem;
  first_certificate(path, problem);
  return problem;
}

std::string key_file_problem(const std::string& path) {
  std::string problem;
  private_key(path, problem);
  return problem;
}

std::string key_mismatch_problem(const std::string& cert_path, const std::string& key_path) {
  std::string problem;
  auto cert = first_certificate(cert_path, problem);
  auto key = private_key(key_path, problem);
  if (!cert || !key) return problem;
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return "the key in \"" + key_path + "\" does not belong to the certificate in \"" + cert_path +
           "\"";
  }
  return {};
}

}  // namespace portico::config
