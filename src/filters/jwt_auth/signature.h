// The signature check of a JWS: HMAC, RSA PKCS#1 v1.5, RSA-PSS, ECDSA, Ed25519 (RFC 7518, 8037).
#pragma once

#include <string_view>

#include "filters/jwt_auth/algorithm.h"
#include "filters/jwt_auth/key_set.h"

namespace portico::jwt {

// True when `signature` (the decoded third segment) signs `signing_input` (the first two
// segments as sent, with their dot) under `key`. False, never a crash, for any bytes; and
// always false unless key.verifies(algorithm).
bool signature_matches(Algorithm algorithm, const Key& key, std::string_view signing_input,
                       std::string_view signature);

}  // namespace portico::jwt
