// Verification keys from an HMAC secret, a PEM public key or certificate, or a JWKS document.
// Built when a provider loads (or refreshes its JWKS), then shared read-only by every worker.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "filters/jwt_auth/algorithm.h"
#include "filters/jwt_auth/openssl_ptr.h"

namespace portico::jwt {

// RFC 7518 §3.3: RSA keys for RS* and PS* are 2048 bits or more.
inline constexpr int min_rsa_bits = 2048;

struct Key {
  std::string kid;  // empty: the key has none
  KeyKind kind = KeyKind::HmacSecret;
  std::optional<Algorithm> algorithm;  // a JWK's "alg": then the only algorithm it verifies
  std::string secret;                  // HmacSecret: the raw bytes
  PkeyPtr public_key;                  // every other kind

  bool verifies(Algorithm candidate) const {
    return key_fits(kind, candidate) && (!algorithm || *algorithm == candidate);
  }
};

struct KeySetResult;

class KeySet {
 public:
  // The raw bytes of `secret`, for HS256/384/512. An empty secret is refused.
  static KeySetResult from_secret(std::string_view secret);

  // "-----BEGIN PUBLIC KEY-----" (SubjectPublicKeyInfo) or "-----BEGIN CERTIFICATE-----":
  // RSA of 2048 bits or more, EC P-256 or P-384, Ed25519. Private keys are refused.
  static KeySetResult from_pem(std::string_view pem);

  // {"keys":[...]} with kty RSA, EC (P-256, P-384), OKP (Ed25519) or oct. Keys meant for
  // something else ("use" other than "sig", "key_ops" without "verify", an "alg" or curve
  // this gateway does not verify) are skipped; a malformed key of a kind it does use fails
  // the whole document, as does a document with no usable key.
  static KeySetResult from_jwks(std::string_view json);

  const std::vector<Key>& keys() const { return keys_; }
  bool has_kid(std::string_view kid) const;

 private:
  explicit KeySet(std::vector<Key> keys) : keys_(std::move(keys)) {}
  std::vector<Key> keys_;
};

// A key set, or why the input could not make one ("JWKS keys[2]: RSA key without \"n\"").
struct KeySetResult {
  std::optional<KeySet> key_set;
  std::string error;
};

}  // namespace portico::jwt
