// What a request learns from a token that passed verification, read out of its claims once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>

namespace portico::jwt {

// claim -> upstream header name, in the order written (config `forward_claims`).
using ClaimHeaders = std::vector<std::pair<std::string, std::string>>;

struct VerifiedToken {
  boost::json::object claims;
  std::string subject;                                               // "sub"; empty when absent
  std::vector<std::string> roles;                                    // the roles claim
  std::vector<std::string> scopes;                                   // "scope", else "scp"
  std::optional<std::int64_t> expires_at;                            // "exp", unix seconds
  std::vector<std::pair<std::string, std::string>> forward_headers;  // header name, value
};

// Builds the token from claims that passed every check. Roles come from `roles_claim` as an
// array of strings or one space-separated string; scopes likewise from "scope" or "scp".
// A forwarded claim whose text could not be a header value (CR, LF, other controls) gives no
// header, so a claim cannot smuggle a header into the upstream request.
VerifiedToken read_verified_token(boost::json::object claims, std::string_view roles_claim,
                                  const ClaimHeaders& forward_claims);

// A claim as text, for headers and rate-limit or hash keys: strings as they are; numbers and
// booleans as JSON; arrays of strings joined with ","; other arrays and objects as JSON.
// nullopt when the claim is absent or null.
std::optional<std::string> claim_text(const VerifiedToken& token, std::string_view claim);

}  // namespace portico::jwt
