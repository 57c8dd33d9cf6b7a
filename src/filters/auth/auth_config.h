// `auth:`, the providers that routes name, and its parse rules. As for CORS (cors_config.h),
// the struct, its description and its reader are a small library (portico_auth_config) that
// depends only on the YAML reader, so that config/ can hold the providers in Config without
// depending on the filters; filters/all_filters.cc builds a provider from each.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_types.h"
#include "config/describe.h"

namespace portico::config {
class YamlReader;
struct Field;
}  // namespace portico::config

namespace portico::filters::auth {

struct ApiKey {
  std::string key;  // the credential
  std::string consumer;
  bool operator==(const ApiKey&) const = default;
};
BOOST_DESCRIBE_STRUCT(ApiKey, (), (key, consumer))
constexpr auto notes_of(const ApiKey*) {
  return std::to_array<config::Note>({{.member = "key", .mask = config::Mask::Secret}});
}

inline constexpr std::string_view kAuthTypes[] = {"jwt", "api_key", "oauth2_introspection"};
// The JWS algorithms a jwt provider may allow: the reader's list and the schema's enum.
inline constexpr std::string_view kJwtAlgorithms[] = {"HS256", "HS384", "HS512", "RS256",
                                                      "RS384", "RS512", "PS256", "PS384",
                                                      "PS512", "ES256", "ES384", "EdDSA"};

// One provider as written. One struct for the three types: a key noted `only_for` a type is
// refused with the others (and not shown for them).
struct AuthProviderConfig {
  std::string name;
  std::string type;  // jwt | api_key | oauth2_introspection
  config::Mark mark;
  // jwt: exactly one key source among secret, public_key, jwks_url, jwks_file.
  std::string secret;
  std::string public_key;
  std::string jwks_url;
  std::string jwks_file;
  std::vector<std::string> algorithms;  // allow-list as written; `none` is rejected
  std::string issuer;
  std::vector<std::string> audience;
  config::Duration leeway = std::chrono::seconds(30);
  std::vector<std::string> token_from;  // header:NAME | query:NAME | cookie:NAME
  config::HeaderList forward_claims;    // claim -> header
  std::string roles_claim = "roles";
  // api_key
  std::string header = "X-API-Key";
  std::vector<ApiKey> keys;
  std::string keys_file;
  // oauth2_introspection
  std::string url;
  std::string client_id;
  std::string client_secret;
  config::Duration cache_ttl = std::chrono::seconds(60);
  // A recompile keeps a provider whose config compares equal (filters/all_filters.cc).
  bool operator==(const AuthProviderConfig&) const = default;
};
BOOST_DESCRIBE_STRUCT(AuthProviderConfig, (),
                      (name, type, mark, secret, public_key, jwks_url, jwks_file, algorithms,
                       issuer, audience, leeway, token_from, forward_claims, roles_claim, header,
                       keys, keys_file, url, client_id, client_secret, cache_ttl))
constexpr auto notes_of(const AuthProviderConfig*) {
  using config::Empty, config::Mask, config::Note, config::Where;
  constexpr std::string_view jwt = "jwt", api_key = "api_key", oauth2 = "oauth2_introspection";
  return std::to_array<Note>({
      {.member = "", .key = "authProvider"},
      {.member = "name", .where = Where::Neither},
      {.member = "type", .required = true, .choices = kAuthTypes},
      {.member = "mark", .where = Where::Neither},
      {.member = "",
       .only_for = jwt,
       .extend = R"({"oneOf": [{"required": ["secret"]}, {"required": ["public_key"]},
                    {"required": ["jwks_url"]}, {"required": ["jwks_file"]}]})"},
      {.member = "secret", .mask = Mask::Secret, .empty = Empty::Omitted, .only_for = jwt},
      {.member = "public_key", .empty = Empty::Omitted, .only_for = jwt},
      {.member = "jwks_url", .mask = Mask::UrlPassword, .empty = Empty::Omitted, .only_for = jwt},
      {.member = "jwks_file", .empty = Empty::Omitted, .only_for = jwt},
      {.member = "algorithms", .only_for = jwt, .choices = kJwtAlgorithms},
      {.member = "issuer", .only_for = jwt},
      {.member = "audience", .only_for = jwt},
      {.member = "leeway", .only_for = jwt},
      {.member = "token_from", .only_for = jwt, .schema = R"({"type": "array",
                    "items": {"type": "string", "pattern": "^(header|query|cookie):.+$"}})"},
      {.member = "forward_claims",
       .only_for = jwt,
       .schema = R"({"type": "object", "additionalProperties": {"$ref": "#/$defs/headerName"}})"},
      {.member = "roles_claim", .only_for = jwt},
      {.member = "",
       .only_for = api_key,
       .extend = R"({"oneOf": [{"required": ["keys"]}, {"required": ["keys_file"]}]})"},
      {.member = "header", .only_for = api_key, .schema = config::kHeaderNameSchema},
      {.member = "keys",
       .only_for = api_key,
       .schema = R"({"type": "object", "additionalProperties": {"type": "string"}})"},
      {.member = "keys_file", .empty = Empty::Omitted, .only_for = api_key},
      {.member = "url", .mask = Mask::UrlPassword, .only_for = oauth2, .required = true},
      {.member = "client_id", .only_for = oauth2, .required = true},
      {.member = "client_secret", .mask = Mask::Secret, .only_for = oauth2},
      {.member = "cache_ttl", .only_for = oauth2},
  });
}

// The top-level `auth:` section: name -> provider. A provider with errors is kept, so that
// routes naming it get no second, misleading error.
std::map<std::string, AuthProviderConfig> read_auth_config(
    config::YamlReader& reader, const std::optional<config::Field>& field);

}  // namespace portico::filters::auth
