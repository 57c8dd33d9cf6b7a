#include "filters/jwt_auth/verifier.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <optional>
#include <stdexcept>

#include "filters/jwt_auth/base64url.h"
#include "filters/jwt_auth/signature.h"

namespace portico::jwt {

namespace {

namespace json = boost::json;

struct Segments {
  std::string_view header;
  std::string_view payload;
  std::string_view signature;
  std::string_view signing_input;  // header.payload, as signed
};

// Exactly three dot-separated segments.
std::optional<Segments> split(std::string_view token) {
  const std::size_t first = token.find('.');
  if (first == std::string_view::npos) return std::nullopt;
  const std::size_t second = token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos)
    return std::nullopt;
  return Segments{token.substr(0, first), token.substr(first + 1, second - first - 1),
                  token.substr(second + 1), token.substr(0, second)};
}

std::optional<json::object> parse_object(std::string_view text) {
  json::error_code error;
  json::value value = json::parse(text, error);
  if (error || !value.is_object()) return std::nullopt;
  return std::move(value.get_object());
}

enum class DateClaim { Absent, Present, NotNumber };

// A NumericDate claim (RFC 7519 §2): a JSON number of seconds, fractions allowed.
DateClaim read_date(const json::object& claims, std::string_view name, double& seconds) {
  const json::value* value = claims.if_contains(name);
  if (!value) return DateClaim::Absent;
  if (value->is_int64())
    seconds = static_cast<double>(value->get_int64());
  else if (value->is_uint64())
    seconds = static_cast<double>(value->get_uint64());
  else if (value->is_double())
    seconds = value->get_double();
  else
    return DateClaim::NotNumber;
  return DateClaim::Present;
}

bool names_audience(const json::value* aud, const std::vector<std::string>& accepted) {
  const auto accepts = [&](const json::value& item) {
    if (!item.is_string()) return false;
    for (const std::string& audience : accepted)
      if (item.get_string() == audience) return true;
    return false;
  };
  if (!aud) return false;
  if (const json::array* list = aud->if_array()) {
    for (const json::value& item : *list)
      if (accepts(item)) return true;
    return false;
  }
  return accepts(*aud);
}

// Why the claims of a correctly signed token refuse it, or nullopt when they do not.
std::optional<Failure> check_claims(const json::object& claims, const VerifierOptions& options,
                                    std::int64_t now_unix) {
  const auto now = static_cast<double>(now_unix);
  const auto leeway = static_cast<double>(options.leeway.count());
  double exp = 0;
  double nbf = 0;
  double iat = 0;
  const DateClaim has_exp = read_date(claims, "exp", exp);
  const DateClaim has_nbf = read_date(claims, "nbf", nbf);
  const DateClaim has_iat = read_date(claims, "iat", iat);
  const json::value* sub = claims.if_contains("sub");
  if (has_exp == DateClaim::NotNumber || has_nbf == DateClaim::NotNumber ||
      has_iat == DateClaim::NotNumber || (sub && !sub->is_string()))
    return Failure::Malformed;
  // Valid while now < exp + leeway, from nbf - leeway on; issued no later than now + leeway.
  if (has_exp == DateClaim::Present && now >= exp + leeway) return Failure::Expired;
  if ((has_nbf == DateClaim::Present && now < nbf - leeway) ||
      (has_iat == DateClaim::Present && iat > now + leeway))
    return Failure::NotYetValid;
  if (!options.issuer.empty()) {
    const json::value* iss = claims.if_contains("iss");
    if (!iss || !iss->is_string() || iss->get_string() != options.issuer)
      return Failure::WrongIssuer;
  }
  if (!options.audience.empty() && !names_audience(claims.if_contains("aud"), options.audience))
    return Failure::WrongAudience;
  return std::nullopt;
}

}  // namespace

std::string_view failure_name(Failure failure) {
  switch (failure) {
    case Failure::Malformed:
      return "malformed";
    case Failure::AlgorithmNotAllowed:
      return "algorithm_not_allowed";
    case Failure::UnknownKey:
      return "unknown_key";
    case Failure::BadSignature:
      return "bad_signature";
    case Failure::Expired:
      return "expired";
    case Failure::NotYetValid:
      return "not_yet_valid";
    case Failure::WrongIssuer:
      return "wrong_issuer";
    case Failure::WrongAudience:
      return "wrong_audience";
  }
  return "malformed";
}

Verifier::Verifier(VerifierOptions options) : options_(std::move(options)) {
  for (const std::string& name : options_.algorithms) {
    if (name == "none") continue;  // unsigned tokens are never accepted, listed or not
    const std::optional<Algorithm> algorithm = parse_algorithm(name);
    if (!algorithm) throw std::invalid_argument("unknown JWT algorithm \"" + name + "\"");
    allowed_.set(static_cast<std::size_t>(*algorithm));
  }
  if (allowed_.none()) throw std::invalid_argument("JWT verifier allows no signing algorithm");
  if (options_.leeway.count() < 0) throw std::invalid_argument("negative JWT leeway");
}

VerifyResult Verifier::verify(std::string_view token, const KeySet& keys,
                              std::int64_t now_unix) const {
  const auto refuse = [](Failure failure) { return VerifyResult{nullptr, failure}; };
  if (token.empty() || token.size() > options_.max_token_bytes) return refuse(Failure::Malformed);
  const std::optional<Segments> segments = split(token);
  std::string header_text;
  std::string payload_text;
  std::string signature;
  if (!segments || !base64url_decode(segments->header, header_text) ||
      !base64url_decode(segments->payload, payload_text) ||
      !base64url_decode(segments->signature, signature))
    return refuse(Failure::Malformed);

  const std::optional<json::object> header = parse_object(header_text);
  if (!header) return refuse(Failure::Malformed);
  const json::value* alg = header->if_contains("alg");
  const json::value* kid_value = header->if_contains("kid");
  // RFC 7515 §4.1.11: extensions listed in "crit" must be understood; this verifier has none.
  if (!alg || !alg->is_string() || (kid_value && !kid_value->is_string()) ||
      header->contains("crit"))
    return refuse(Failure::Malformed);
  const std::optional<Algorithm> algorithm = parse_algorithm(alg->get_string());
  if (!algorithm || !allowed_.test(static_cast<std::size_t>(*algorithm)))
    return refuse(Failure::AlgorithmNotAllowed);

  const std::string_view kid = kid_value ? std::string_view(kid_value->get_string()) : "";
  const bool kid_known = kid_value && keys.has_kid(kid);
  bool any_key = false;
  bool matched = false;
  for (const Key& key : keys.keys()) {
    const bool in_scope = kid_known ? key.kid == kid : !kid_value || key.kid.empty();
    if (!in_scope || !key.verifies(*algorithm)) continue;
    any_key = true;
    if (signature_matches(*algorithm, key, segments->signing_input, signature)) {
      matched = true;
      break;
    }
  }
  if (!any_key) return refuse(Failure::UnknownKey);
  if (!matched) return refuse(Failure::BadSignature);

  // The payload is parsed only once its signature holds.
  std::optional<json::object> claims = parse_object(payload_text);
  if (!claims) return refuse(Failure::Malformed);
  if (const std::optional<Failure> failure = check_claims(*claims, options_, now_unix))
    return refuse(*failure);

  return {std::make_shared<const VerifiedToken>(read_verified_token(
              std::move(*claims), options_.roles_claim, options_.forward_claims)),
          Failure::Malformed};
}

}  // namespace portico::jwt
