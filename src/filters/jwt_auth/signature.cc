#include "filters/jwt_auth/signature.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

namespace portico::jwt {

namespace {

// Fetched once: an implicit fetch by name on every verification costs a locked lookup.
struct Digests {
  MdPtr sha256{EVP_MD_fetch(nullptr, "SHA256", nullptr)};
  MdPtr sha384{EVP_MD_fetch(nullptr, "SHA384", nullptr)};
  MdPtr sha512{EVP_MD_fetch(nullptr, "SHA512", nullptr)};
  MacPtr hmac{EVP_MAC_fetch(nullptr, "HMAC", nullptr)};
};

const Digests& digests() {
  static const Digests fetched;
  return fetched;
}

// The hash of an algorithm; null for EdDSA, which hashes inside the signature scheme.
const EVP_MD* digest_of(Algorithm algorithm) {
  const Digests& d = digests();
  switch (algorithm) {
    case Algorithm::HS256:
    case Algorithm::RS256:
    case Algorithm::PS256:
    case Algorithm::ES256:
      return d.sha256.get();
    case Algorithm::HS384:
    case Algorithm::RS384:
    case Algorithm::PS384:
    case Algorithm::ES384:
      return d.sha384.get();
    case Algorithm::HS512:
    case Algorithm::RS512:
    case Algorithm::PS512:
      return d.sha512.get();
    case Algorithm::EdDSA:
      return nullptr;
  }
  return nullptr;
}

bool hmac_matches(const EVP_MD* digest, const std::string& secret, std::string_view input,
                  std::string_view signature) {
  MacCtxPtr context(EVP_MAC_CTX_new(digests().hmac.get()));
  if (!context || !digest) return false;
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                       const_cast<char*>(EVP_MD_get0_name(digest)), 0),
      OSSL_PARAM_construct_end()};
  unsigned char mac[EVP_MAX_MD_SIZE];
  std::size_t mac_size = 0;
  if (EVP_MAC_init(context.get(), reinterpret_cast<const unsigned char*>(secret.data()),
                   secret.size(), params) != 1 ||
      EVP_MAC_update(context.get(), reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1 ||
      EVP_MAC_final(context.get(), mac, &mac_size, sizeof mac) != 1)
    return false;
  // Constant time: how many leading bytes match must not show in the timing.
  return signature.size() == mac_size && CRYPTO_memcmp(mac, signature.data(), mac_size) == 0;
}

// JWS carries ECDSA signatures as r||s, each the width of the curve (IEEE P1363); OpenSSL
// verifies the DER SEQUENCE { r, s }.
bool ecdsa_der(std::string_view raw, std::size_t coordinate_bytes, std::string& der) {
  if (raw.size() != 2 * coordinate_bytes) return false;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  EcdsaSigPtr signature(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(bytes, static_cast<int>(coordinate_bytes), nullptr);
  BIGNUM* s = BN_bin2bn(bytes + coordinate_bytes, static_cast<int>(coordinate_bytes), nullptr);
  if (!signature || !r || !s || ECDSA_SIG_set0(signature.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return false;
  }
  const int size = i2d_ECDSA_SIG(signature.get(), nullptr);
  if (size <= 0) return false;
  der.resize(static_cast<std::size_t>(size));
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  return i2d_ECDSA_SIG(signature.get(), &out) == size;
}

bool public_key_matches(Algorithm algorithm, EVP_PKEY* pkey, std::string_view input,
                        std::string_view signature) {
  std::string der;
  if (algorithm == Algorithm::ES256 || algorithm == Algorithm::ES384) {
    if (!ecdsa_der(signature, algorithm == Algorithm::ES256 ? 32 : 48, der)) return false;
    signature = der;
  }
  MdCtxPtr context(EVP_MD_CTX_new());
  EVP_PKEY_CTX* key_context = nullptr;  // owned by `context`
  const EVP_MD* digest = digest_of(algorithm);
  if (!context || !pkey ||
      EVP_DigestVerifyInit(context.get(), &key_context, digest, nullptr, pkey) != 1)
    return false;
  switch (algorithm) {
    case Algorithm::RS256:
    case Algorithm::RS384:
    case Algorithm::RS512:
      if (EVP_PKEY_CTX_set_rsa_padding(key_context, RSA_PKCS1_PADDING) != 1) return false;
      break;
    case Algorithm::PS256:
    case Algorithm::PS384:
    case Algorithm::PS512:
      // RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash.
      if (EVP_PKEY_CTX_set_rsa_padding(key_context, RSA_PKCS1_PSS_PADDING) != 1 ||
          EVP_PKEY_CTX_set_rsa_mgf1_md(key_context, digest) != 1 ||
          EVP_PKEY_CTX_set_rsa_pss_saltlen(key_context, RSA_PSS_SALTLEN_DIGEST) != 1)
        return false;
      break;
    default:
      break;
  }
  return EVP_DigestVerify(context.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                          input.size()) == 1;
}

}  // namespace

bool signature_matches(Algorithm algorithm, const Key& key, std::string_view signing_input,
                       std::string_view signature) {
  if (!key.verifies(algorithm)) return false;
  const bool matches =
      key.kind == KeyKind::HmacSecret
          ? hmac_matches(digest_of(algorithm), key.secret, signing_input, signature)
          : public_key_matches(algorithm, key.public_key.get(), signing_input, signature);
  // A failed check leaves errors on this thread's queue, where the next TLS call on the
  // worker would find them and misread its own result.
  if (!matches) ERR_clear_error();
  return matches;
}

}  // namespace portico::jwt
