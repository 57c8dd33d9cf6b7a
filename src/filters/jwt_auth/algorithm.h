// The JWS algorithms the gateway verifies, and which kind of key each one may use.
#pragma once

#include <optional>
#include <string_view>

namespace portico::jwt {

enum class Algorithm {
  HS256,
  HS384,
  HS512,
  RS256,
  RS384,
  RS512,
  PS256,
  PS384,
  PS512,
  ES256,
  ES384,
  EdDSA
};

inline constexpr int algorithm_count = 12;

// "HS256" -> Algorithm::HS256. Unknown names and "none" give nullopt: there is no value for
// "unsigned", so no code path can accept it.
std::optional<Algorithm> parse_algorithm(std::string_view name);

std::string_view algorithm_name(Algorithm algorithm);

enum class KeyKind { HmacSecret, Rsa, EcP256, EcP384, Ed25519 };

std::string_view key_kind_name(KeyKind kind);

// True when a key of `kind` may verify `algorithm`: HMAC secrets only HS*, RSA only RS*/PS*,
// each curve only its own ES*, Ed25519 only EdDSA. Keeping families apart is what stops an
// HS256 token "signed" with the text of an RSA public key from verifying against that key.
bool key_fits(KeyKind kind, Algorithm algorithm);

}  // namespace portico::jwt
