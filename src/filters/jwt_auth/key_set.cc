#include "filters/jwt_auth/key_set.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <climits>

namespace portico::jwt {

namespace {

// One string from pieces; also sidesteps GCC 12's false -Wrestrict on "literal" + std::string.
template <typename... Pieces>
std::string concat(const Pieces&... pieces) {
  std::string out;
  (out.append(std::string_view(pieces)), ...);
  return out;
}

KeySetResult refuse(std::string error) {
  ERR_clear_error();  // a stale error would mislead the next TLS call on this thread
  return {std::nullopt, std::move(error)};
}

// Never prompts on the terminal: a public key or certificate has no passphrase.
int no_passphrase(char*, int, int, void*) {
  return -1;
}

std::optional<KeyKind> kind_of(EVP_PKEY* pkey, std::string& error) {
  if (EVP_PKEY_is_a(pkey, "RSA")) {
    if (EVP_PKEY_get_bits(pkey) < min_rsa_bits) {
      error = concat("RSA key of ", std::to_string(EVP_PKEY_get_bits(pkey)), " bits; at least ",
                     std::to_string(min_rsa_bits), " are needed");
      return std::nullopt;
    }
    return KeyKind::Rsa;
  }
  if (EVP_PKEY_is_a(pkey, "ED25519")) return KeyKind::Ed25519;
  if (EVP_PKEY_is_a(pkey, "EC")) {
    char group[64] = {};
    std::size_t length = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &length) == 1) {
      const std::string_view name(group, length);
      if (name == "prime256v1" || name == "P-256") return KeyKind::EcP256;
      if (name == "secp384r1" || name == "P-384") return KeyKind::EcP384;
      error = concat("EC key on curve ", name, "; P-256 (ES256) and P-384 (ES384) are supported");
      return std::nullopt;
    }
    error = "EC key without a named curve";
    return std::nullopt;
  }
  const char* type = EVP_PKEY_get0_type_name(pkey);
  error = concat("unsupported key type ", type ? type : "?",
                 "; RSA, EC P-256/P-384 and Ed25519 are supported");
  return std::nullopt;
}

}  // namespace

KeySetResult KeySet::from_secret(std::string_view secret) {
  if (secret.empty()) return refuse("empty HMAC secret");
  std::vector<Key> keys(1);
  keys[0].kind = KeyKind::HmacSecret;
  keys[0].secret.assign(secret);
  return {KeySet(std::move(keys)), {}};
}

KeySetResult KeySet::from_pem(std::string_view pem) {
  if (pem.size() > INT_MAX) return refuse("PEM text too large");
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return refuse("out of memory reading PEM");

  PkeyPtr pkey;
  if (pem.find("-----BEGIN CERTIFICATE-----") != std::string_view::npos) {
    X509Ptr certificate(PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr));
    if (!certificate) return refuse("PEM certificate could not be read");
    pkey.reset(X509_get_pubkey(certificate.get()));
    if (!pkey) return refuse("PEM certificate holds no public key OpenSSL can read");
  } else if (pem.find("-----BEGIN PUBLIC KEY-----") != std::string_view::npos) {
    pkey.reset(PEM_read_bio_PUBKEY(bio.get(), nullptr, no_passphrase, nullptr));
    if (!pkey) return refuse("PEM public key could not be read");
  } else if (pem.find("PRIVATE KEY-----") != std::string_view::npos) {
    return refuse(
        "PEM holds a private key; give the public key (openssl pkey -pubout) or a certificate");
  } else if (pem.find("-----BEGIN RSA PUBLIC KEY-----") != std::string_view::npos) {
    return refuse("PKCS#1 RSA public key; convert it with openssl rsa -RSAPublicKey_in -pubout");
  } else {
    return refuse(
        "expected PEM text with -----BEGIN PUBLIC KEY----- or -----BEGIN CERTIFICATE-----");
  }

  std::string error;
  const std::optional<KeyKind> kind = kind_of(pkey.get(), error);
  if (!kind) return refuse(concat("PEM: ", error));
  std::vector<Key> keys(1);
  keys[0].kind = *kind;
  keys[0].public_key = std::move(pkey);
  return {KeySet(std::move(keys)), {}};
}

bool KeySet::has_kid(std::string_view kid) const {
  for (const Key& key : keys_)
    if (!key.kid.empty() && key.kid == kid) return true;
  return false;
}

}  // namespace portico::jwt
