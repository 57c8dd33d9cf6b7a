// Verifies a JWS compact token (RFC 7519) against a key set and a provider's rules. Built once
// from options, then shared read-only by every worker; verify() is safe to call concurrently.
#pragma once

#include <bitset>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "filters/jwt_auth/algorithm.h"
#include "filters/jwt_auth/key_set.h"
#include "filters/jwt_auth/verified_token.h"

namespace portico::jwt {

struct VerifierOptions {
  std::vector<std::string> algorithms;  // allow-list by name; "none" is never accepted
  std::string issuer;                   // empty: "iss" is not checked
  std::vector<std::string> audience;    // empty: "aud" is not checked; else it must name one
  std::chrono::seconds leeway{0};       // clock skew allowed for exp, nbf and iat
  std::string roles_claim = "roles";
  ClaimHeaders forward_claims;
  std::size_t max_token_bytes = 16 * 1024;
};

// Why a token was refused; failure_name() gives the stable label for metrics and logs.
enum class Failure {
  Malformed,
  AlgorithmNotAllowed,
  UnknownKey,
  BadSignature,
  Expired,
  NotYetValid,
  WrongIssuer,
  WrongAudience,
};

// "malformed", "algorithm_not_allowed", "unknown_key", "bad_signature", "expired",
// "not_yet_valid", "wrong_issuer", "wrong_audience".
std::string_view failure_name(Failure failure);

struct VerifyResult {
  std::shared_ptr<const VerifiedToken> token;  // set exactly when the token passed
  Failure failure = Failure::Malformed;        // why not, when it did not

  bool ok() const { return token != nullptr; }
};

class Verifier {
 public:
  // Throws std::invalid_argument on an unknown algorithm name, an allow-list with no usable
  // algorithm, or a negative leeway (config time only).
  explicit Verifier(VerifierOptions options);

  // Key choice: a header "kid" held by the set picks the keys with that kid; an unknown kid
  // falls back to the keys that have none (a secret or PEM key); no kid tries every key.
  // Only keys of the algorithm's own family are ever tried.
  VerifyResult verify(std::string_view token, const KeySet& keys, std::int64_t now_unix) const;

  const VerifierOptions& options() const { return options_; }

 private:
  VerifierOptions options_;
  std::bitset<algorithm_count> allowed_;
};

}  // namespace portico::jwt
