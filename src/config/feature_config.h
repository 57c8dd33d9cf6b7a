// `auth:`, `rate_limits:` and `cache:`: sections of features whose config has not yet moved
// into the feature's own folder (filters/cors/cors_config.h shows the pattern).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config_types.h"
#include "config/describe.h"

namespace portico::config {

struct ApiKey {
  std::string key;  // the credential
  std::string consumer;
  bool operator==(const ApiKey&) const = default;
};
BOOST_DESCRIBE_STRUCT(ApiKey, (), (key, consumer))
constexpr auto notes_of(const ApiKey*) {
  return std::to_array<Note>({{.member = "key", .mask = Mask::Secret}});
}

inline constexpr std::string_view kAuthTypes[] = {"jwt", "api_key", "oauth2_introspection"};

// One `auth:` provider as written; filters/all_filters.cc builds verifiers from it. A key
// noted `only_for` a type is refused with the others (and not shown for them).
struct AuthProviderConfig {
  std::string name;
  std::string type;  // jwt | api_key | oauth2_introspection
  Mark mark;
  // jwt: exactly one key source among secret, public_key, jwks_url, jwks_file.
  std::string secret;
  std::string public_key;
  std::string jwks_url;
  std::string jwks_file;
  std::vector<std::string> algorithms;  // allow-list as written; `none` is rejected
  std::string issuer;
  std::vector<std::string> audience;
  Duration leeway = 30s;
  std::vector<std::string> token_from;  // header:NAME | query:NAME | cookie:NAME
  HeaderList forward_claims;            // claim -> header
  std::string roles_claim = "roles";
  // api_key
  std::string header = "X-API-Key";
  std::vector<ApiKey> keys;
  std::string keys_file;
  // oauth2_introspection
  std::string url;
  std::string client_id;
  std::string client_secret;
  Duration cache_ttl = 60s;
  // A recompile keeps a provider whose config compares equal (filters/all_filters.cc).
  bool operator==(const AuthProviderConfig&) const = default;
};
BOOST_DESCRIBE_STRUCT(AuthProviderConfig, (),
                      (name, type, mark, secret, public_key, jwks_url, jwks_file, algorithms,
                       issuer, audience, leeway, token_from, forward_claims, roles_claim, header,
                       keys, keys_file, url, client_id, client_secret, cache_ttl))
constexpr auto notes_of(const AuthProviderConfig*) {
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
      {.member = "algorithms",
       .only_for = jwt,
       .schema = R"({"type": "array", "items": {"enum": ["HS256", "HS384", "HS512", "RS256",
                    "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]}})"},
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
      {.member = "header", .only_for = api_key, .schema = kHeaderNameSchema},
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

struct RedisConfig {
  std::string url;  // redis:// or rediss://
  Duration timeout = 50ms;
  std::string password;
};
BOOST_DESCRIBE_STRUCT(RedisConfig, (), (url, timeout, password))
constexpr auto notes_of(const RedisConfig*) {
  return std::to_array<Note>({
      {.member = "", .key = "redis"},
      {.member = "url",
       .mask = Mask::UrlPassword,
       .required = true,
       .schema = R"json({"type": "string", "pattern": "^(rediss?://|\\$\\{)"})json"},
      {.member = "password", .mask = Mask::Secret},
  });
}

struct RateLimitPolicy {
  std::string name;
  Mark mark;
  std::string key;  // client_ip | consumer | header:NAME | jwt:CLAIM | route | global, joined by +
  core::Rate rate;
  std::uint64_t burst = 0;  // defaults to rate.count
};
BOOST_DESCRIBE_STRUCT(RateLimitPolicy, (), (name, mark, key, rate, burst))
constexpr auto notes_of(const RateLimitPolicy*) {
  return std::to_array<Note>({
      {.member = "name", .where = Where::Neither},
      {.member = "mark", .where = Where::Neither},
      {.member = "key",
       .required = true,
       .description = "client_ip | consumer | header:NAME | jwt:CLAIM | route | global, "
                      "joined with +"},
      {.member = "rate", .required = true},
  });
}

inline constexpr std::string_view kStores[] = {"memory", "redis"};
inline constexpr std::string_view kOnStoreError[] = {"allow", "deny"};

// `rate_limits:`; built by the rate-limit issue.
struct RateLimitsConfig {
  std::string store = "memory";
  std::optional<RedisConfig> redis;
  std::string on_store_error = "allow";
  std::vector<RateLimitPolicy> policies;  // in the order written, invalid ones too
};
BOOST_DESCRIBE_STRUCT(RateLimitsConfig, (), (store, redis, on_store_error, policies))
constexpr auto notes_of(const RateLimitsConfig*) {
  return std::to_array<Note>({
      {.member = "store", .schema = kStoreSchema},
      {.member = "on_store_error",
       .schema = R"({"anyOf": [{"enum": ["allow", "deny"]}, {"$ref": "#/$defs/env"}]})"},
      {.member = "policies", .by_name = true},
  });
}

// `cache:`; built by the cache issue.
struct CacheConfig {
  std::string store = "memory";
  std::optional<RedisConfig> redis;
  std::uint64_t max_size = 256ull * 1024 * 1024;
  std::uint64_t max_object_size = 1024 * 1024;
};
BOOST_DESCRIBE_STRUCT(CacheConfig, (), (store, redis, max_size, max_object_size))
constexpr auto notes_of(const CacheConfig*) {
  return std::to_array<Note>({{.member = "store", .schema = kStoreSchema},
                              {.member = "max_size", .schema = kSizeSchema},
                              {.member = "max_object_size", .schema = kSizeSchema}});
}

}  // namespace portico::config
