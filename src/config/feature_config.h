// `rate_limits:` and `cache:`: sections of features not built yet, whose config has no feature
// folder to live in (filters/cors/cors_config.h and filters/auth/auth_config.h show the pattern).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config_types.h"
#include "config/describe.h"

namespace portico::config {

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
// Moves to src/filters/rate_limit/ with its feature, RateLimitPolicy with it.
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
// Moves to src/filters/cache/ with its feature.
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
