#include "filters/jwt_auth/algorithm.h"

#include <array>

namespace portico::jwt {

namespace {

constexpr std::array<std::string_view, algorithm_count> names = {
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
    "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"};

}  // namespace

std::optional<Algorithm> parse_algorithm(std::string_view name) {
  for (int i = 0; i < algorithm_count; ++i)
    if (names[i] == name) return static_cast<Algorithm>(i);
  return std::nullopt;
}

std::string_view algorithm_name(Algorithm algorithm) {
  return names[static_cast<int>(algorithm)];
}

std::string_view key_kind_name(KeyKind kind) {
  switch (kind) {
    case KeyKind::HmacSecret:
      return "HMAC secret";
    case KeyKind::Rsa:
      return "RSA";
    case KeyKind::EcP256:
      return "EC P-256";
    case KeyKind::EcP384:
      return "EC P-384";
    case KeyKind::Ed25519:
      return "Ed25519";
  }
  return "unknown";
}

bool key_fits(KeyKind kind, Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::HS256:
    case Algorithm::HS384:
    case Algorithm::HS512:
      return kind == KeyKind::HmacSecret;
    case Algorithm::RS256:
    case Algorithm::RS384:
    case Algorithm::RS512:
    case Algorithm::PS256:
    case Algorithm::PS384:
    case Algorithm::PS512:
      return kind == KeyKind::Rsa;
    case Algorithm::ES256:
      return kind == KeyKind::EcP256;
    case Algorithm::ES384:
      return kind == KeyKind::EcP384;
    case Algorithm::EdDSA:
      return kind == KeyKind::Ed25519;
  }
  return false;
}

}  // namespace portico::jwt
