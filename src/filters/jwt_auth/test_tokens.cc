#include "filters/jwt_auth/test_tokens.h"

#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <stdexcept>

namespace portico::jwt::test {

namespace {

PkeyPtr generate(const char* type, const char* curve) {
  EVP_PKEY* key = curve ? EVP_PKEY_Q_keygen(nullptr, nullptr, type, curve)
                        : EVP_PKEY_Q_keygen(nullptr, nullptr, type, std::size_t{2048});
  if (!key) throw std::runtime_error(std::string("key generation failed: ") + type);
  return PkeyPtr(key);
}

PkeyPtr generate_ed25519() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (!key) throw std::runtime_error("key generation failed: ED25519");
  return PkeyPtr(key);
}

const EVP_MD* digest_of(Algorithm algorithm) {
  const std::string_view name = algorithm_name(algorithm);
  if (name == "EdDSA") return nullptr;
  if (name.ends_with("256")) return EVP_sha256();
  if (name.ends_with("384")) return EVP_sha384();
  return EVP_sha512();
}

std::string hmac(const Signer& signer, std::string_view input) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(digest_of(signer.algorithm), signer.secret.data(), static_cast<int>(signer.secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &size);
  return std::string(reinterpret_cast<char*>(mac), size);
}

// ECDSA signatures come out of OpenSSL as DER; JWS wants r||s at the curve's width.
std::string raw_ecdsa(const std::string& der, std::size_t width) {
  const auto* in = reinterpret_cast<const unsigned char*>(der.data());
  EcdsaSigPtr signature(d2i_ECDSA_SIG(nullptr, &in, static_cast<long>(der.size())));
  if (!signature) throw std::runtime_error("bad DER ECDSA signature");
  std::string raw(2 * width, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  BN_bn2binpad(ECDSA_SIG_get0_r(signature.get()), out, static_cast<int>(width));
  BN_bn2binpad(ECDSA_SIG_get0_s(signature.get()), out + width, static_cast<int>(width));
  return raw;
}

std::string asymmetric(const Signer& signer, std::string_view input) {
  MdCtxPtr context(EVP_MD_CTX_new());
  EVP_PKEY_CTX* key_context = nullptr;
  const EVP_MD* digest = digest_of(signer.algorithm);
  if (EVP_DigestSignInit(context.get(), &key_context, digest, nullptr, signer.private_key) != 1)
    throw std::runtime_error("EVP_DigestSignInit failed");
  const std::string_view name = algorithm_name(signer.algorithm);
  if (name.starts_with("PS")) {
    EVP_PKEY_CTX_set_rsa_padding(key_context, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_mgf1_md(key_context, digest);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(key_context, RSA_PSS_SALTLEN_DIGEST);
  }
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  std::size_t size = 0;
  if (EVP_DigestSign(context.get(), nullptr, &size, data, input.size()) != 1)
    throw std::runtime_error("EVP_DigestSign (size) failed");
  std::string signature(size, '\0');
  if (EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &size, data,
                     input.size()) != 1)
    throw std::runtime_error("EVP_DigestSign failed");
  signature.resize(size);
  if (name == "ES256") return raw_ecdsa(signature, 32);
  if (name == "ES384") return raw_ecdsa(signature, 48);
  return signature;
}

std::string bignum_param(EVP_PKEY* key, const char* name) {
  BIGNUM* value = nullptr;
  EVP_PKEY_get_bn_param(key, name, &value);
  BignumPtr owned(value);
  std::string bytes(static_cast<std::size_t>(BN_num_bytes(value)), '\0');
  BN_bn2bin(value, reinterpret_cast<unsigned char*>(bytes.data()));
  return bytes;
}

std::string member(std::string_view name, std::string_view bytes) {
  std::string text = "\"";
  text.append(name).append("\":\"").append(base64url_encode(bytes)).append("\"");
  return text;
}

std::string with_extra(std::string object, std::string_view kid, std::string_view extra) {
  if (!kid.empty()) object.append(",\"kid\":\"").append(kid).append("\"");
  if (!extra.empty()) object.append(",").append(extra);
  return object + "}";
}

}  // namespace

const TestKeys& test_keys() {
  static const TestKeys keys{generate("RSA", nullptr), generate("RSA", nullptr),
                             generate("EC", "P-256"),  generate("EC", "P-256"),
                             generate("EC", "P-384"),  generate("EC", "P-384"),
                             generate_ed25519(),       generate_ed25519()};
  return keys;
}

std::string base64url_encode(std::string_view bytes) {
  std::string standard(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int size = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(standard.data()),
                                   reinterpret_cast<const unsigned char*>(bytes.data()),
                                   static_cast<int>(bytes.size()));
  standard.resize(static_cast<std::size_t>(size));
  while (!standard.empty() && standard.back() == '=') standard.pop_back();
  for (char& c : standard) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return standard;
}

std::string sign(const Signer& signer, std::string_view payload_json) {
  std::string header = "{\"alg\":\"";
  header.append(algorithm_name(signer.algorithm)).append("\"");
  header += ",\"typ\":\"JWT\"";
  if (!signer.kid.empty()) header += ",\"kid\":\"" + signer.kid + "\"";
  header += "}";
  return sign_with_header(signer, header, payload_json);
}

std::string sign_with_header(const Signer& signer, std::string_view header_json,
                             std::string_view payload_json) {
  const std::string input = base64url_encode(header_json) + "." + base64url_encode(payload_json);
  const std::string signature =
      signer.private_key ? asymmetric(signer, input) : hmac(signer, input);
  return input + "." + base64url_encode(signature);
}

std::string public_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), key);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string certificate_pem(EVP_PKEY* key) {
  X509Ptr certificate(X509_new());
  X509_set_version(certificate.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(certificate.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(certificate.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(certificate.get()), 3600);
  X509_set_pubkey(certificate.get(), key);
  X509_NAME* name = X509_get_subject_name(certificate.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("portico test"), -1, -1, 0);
  X509_set_issuer_name(certificate.get(), name);
  const EVP_MD* digest = EVP_PKEY_is_a(key, "ED25519") ? nullptr : EVP_sha256();
  if (X509_sign(certificate.get(), key, digest) <= 0) throw std::runtime_error("X509_sign failed");
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), certificate.get());
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string public_jwk(EVP_PKEY* key, std::string_view kid, std::string_view extra) {
  if (EVP_PKEY_is_a(key, "RSA")) {
    return with_extra("{\"kty\":\"RSA\"," + member("n", bignum_param(key, OSSL_PKEY_PARAM_RSA_N)) +
                          "," + member("e", bignum_param(key, OSSL_PKEY_PARAM_RSA_E)),
                      kid, extra);
  }
  if (EVP_PKEY_is_a(key, "ED25519")) {
    std::string x(32, '\0');
    std::size_t size = x.size();
    EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(x.data()), &size);
    return with_extra("{\"kty\":\"OKP\",\"crv\":\"Ed25519\"," + member("x", x), kid, extra);
  }
  const bool p256 = EVP_PKEY_get_bits(key) == 256;
  const std::size_t width = p256 ? 32 : 48;
  std::string point(1 + 2 * width, '\0');
  std::size_t size = 0;
  EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                  reinterpret_cast<unsigned char*>(point.data()), point.size(),
                                  &size);
  return with_extra(std::string("{\"kty\":\"EC\",\"crv\":\"") + (p256 ? "P-256" : "P-384") + "\"," +
                        member("x", point.substr(1, width)) + "," +
                        member("y", point.substr(1 + width, width)),
                    kid, extra);
}

std::string secret_jwk(std::string_view secret, std::string_view kid, std::string_view extra) {
  return with_extra("{\"kty\":\"oct\"," + member("k", secret), kid, extra);
}

KeySet loaded(KeySetResult result) {
  if (!result.key_set) throw std::runtime_error("key set refused: " + result.error);
  return std::move(*result.key_set);
}

}  // namespace portico::jwt::test
