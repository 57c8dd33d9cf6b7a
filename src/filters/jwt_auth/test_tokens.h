// Test and benchmark support: keys generated in-process and tokens signed the way an identity
// provider signs them, so every test checks the verifier against real signatures.
#pragma once

#include <ostream>
#include <string>
#include <string_view>

#include "filters/jwt_auth/algorithm.h"
#include "filters/jwt_auth/key_set.h"
#include "filters/jwt_auth/openssl_ptr.h"
#include "filters/jwt_auth/verifier.h"

namespace portico::jwt {

// GoogleTest prints failures by name.
inline void PrintTo(Failure failure, std::ostream* out) {
  *out << failure_name(failure);
}

}  // namespace portico::jwt

namespace portico::jwt::test {

// Private keys, generated once per process (RSA key generation takes a while). Each kind
// has a second key, to sign tokens that the first key's public half must refuse.
struct TestKeys {
  PkeyPtr rsa, other_rsa;
  PkeyPtr ec256, other_ec256;
  PkeyPtr ec384, other_ec384;
  PkeyPtr ed25519, other_ed25519;
};
const TestKeys& test_keys();

struct Signer {
  Algorithm algorithm = Algorithm::HS256;
  std::string secret;               // HS*
  EVP_PKEY* private_key = nullptr;  // every other algorithm
  std::string kid;                  // in the header when not empty
};

std::string base64url_encode(std::string_view bytes);

// A compact token with the header {"alg":...,"typ":"JWT"[,"kid":...]}.
std::string sign(const Signer& signer, std::string_view payload_json);

// The same, with a header of the caller's choosing (signed with signer.algorithm's scheme).
std::string sign_with_header(const Signer& signer, std::string_view header_json,
                             std::string_view payload_json);

// "-----BEGIN PUBLIC KEY-----" text of a key's public half.
std::string public_pem(EVP_PKEY* key);

// A self-signed certificate for `key`, as PEM.
std::string certificate_pem(EVP_PKEY* key);

// The public JWK of `key` as a JSON object; `extra` is spliced in as further members
// (for example R"("alg":"RS256","use":"sig")").
std::string public_jwk(EVP_PKEY* key, std::string_view kid, std::string_view extra = "");

// {"kty":"oct","k":...} for an HMAC secret.
std::string secret_jwk(std::string_view secret, std::string_view kid, std::string_view extra = "");

// The key set, or a std::runtime_error with the refusal (GoogleTest reports it as a failure).
KeySet loaded(KeySetResult result);

}  // namespace portico::jwt::test
