#include "filters/jwt_auth/verified_token.h"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <charconv>
#include <cmath>
#include <limits>

namespace portico::jwt {

namespace {

namespace json = boost::json;

// An array of strings (other elements ignored) or a space-separated string.
std::vector<std::string> string_list(const json::value* claim) {
  std::vector<std::string> items;
  if (!claim) return items;
  if (const json::array* array = claim->if_array()) {
    for (const json::value& item : *array)
      if (item.is_string()) items.emplace_back(item.get_string());
  } else if (const json::string* text = claim->if_string()) {
    const std::string_view rest(*text);
    std::size_t start = 0;
    while (start < rest.size()) {
      const std::size_t end = std::min(rest.find(' ', start), rest.size());
      if (end > start) items.emplace_back(rest.substr(start, end - start));
      start = end + 1;
    }
  }
  return items;
}

std::optional<std::string> value_text(const json::value& value) {
  switch (value.kind()) {
    case json::kind::null:
      return std::nullopt;
    case json::kind::string:
      return std::string(value.get_string());
    case json::kind::array: {
      std::string joined;
      bool first = true;
      for (const json::value& item : value.get_array()) {
        if (!item.is_string()) return json::serialize(value);
        if (!first) joined += ',';
        first = false;
        joined += item.get_string();
      }
      return joined;
    }
    case json::kind::double_: {
      // Boost.JSON writes 0.5 as 5E-1; to_chars gives the shortest plain form a reader expects.
      char text[32];
      const auto written = std::to_chars(text, text + sizeof text, value.get_double());
      return std::string(text, written.ptr);
    }
    default:
      return json::serialize(value);
  }
}

// RFC 9110 §5.5: visible characters, spaces and tabs, and bytes >= 0x80.
bool is_header_value(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && byte != '\t') || byte == 0x7f) return false;
  }
  return true;
}

std::optional<std::int64_t> unix_seconds(const json::value* claim) {
  if (!claim) return std::nullopt;
  if (claim->is_int64()) return claim->get_int64();
  if (claim->is_uint64())
    return static_cast<std::int64_t>(
        std::min<std::uint64_t>(claim->get_uint64(), std::numeric_limits<std::int64_t>::max()));
  if (claim->is_double()) {
    // Rounded down: a cache keyed on it then ends no later than the token does.
    const double seconds = std::floor(claim->get_double());
    if (seconds >= 9.2e18) return std::numeric_limits<std::int64_t>::max();
    if (seconds <= -9.2e18) return std::numeric_limits<std::int64_t>::min();
    return static_cast<std::int64_t>(seconds);
  }
  return std::nullopt;
}

}  // namespace

VerifiedToken read_verified_token(json::object claims, std::string_view roles_claim,
                                  const ClaimHeaders& forward_claims) {
  VerifiedToken token;
  token.claims = std::move(claims);
  if (const json::value* sub = token.claims.if_contains("sub"); sub && sub->is_string())
    token.subject = sub->get_string();
  token.roles = string_list(token.claims.if_contains(roles_claim));
  const json::value* scope = token.claims.if_contains("scope");
  token.scopes = string_list(scope ? scope : token.claims.if_contains("scp"));
  token.expires_at = unix_seconds(token.claims.if_contains("exp"));
  for (const auto& [claim, header] : forward_claims) {
    std::optional<std::string> text = claim_text(token, claim);
    if (text && is_header_value(*text))
      token.forward_headers.emplace_back(header, std::move(*text));
  }
  return token;
}

std::optional<std::string> claim_text(const VerifiedToken& token, std::string_view claim) {
  const json::value* value = token.claims.if_contains(claim);
  if (!value) return std::nullopt;
  return value_text(*value);
}

}  // namespace portico::jwt
