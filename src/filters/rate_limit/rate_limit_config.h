// `rate_limits:`: the policies routes name, the store that holds their buckets, and what to do
// when that store cannot answer. The struct and its parse rules (portico_rate_limit_config,
// which config/ holds in Config without depending on the filter).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/config_types.h"
#include "config/describe.h"
#include "config/redis_config.h"
#include "core/units.h"

namespace portico::config {
class YamlReader;
struct Field;
}  // namespace portico::config

namespace portico::filters::rate_limit {

struct RateLimitPolicy {
  std::string name;
  config::Mark mark;
  std::string key;  // client_ip | consumer | header:NAME | jwt:CLAIM | route | global, joined by +
  core::Rate rate;
  std::uint64_t burst = 0;  // defaults to rate.count
  bool operator==(const RateLimitPolicy&) const = default;
};
BOOST_DESCRIBE_STRUCT(RateLimitPolicy, (), (name, mark, key, rate, burst))
constexpr auto notes_of(const RateLimitPolicy*) {
  using config::Note, config::Where;
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
inline constexpr std::string_view kOnStoreError[] = {"allow", "deny", "local"};

struct RateLimitsConfig {
  std::string store = "memory";
  std::optional<config::RedisConfig> redis;
  std::string on_store_error = "allow";   // allow | deny | local
  std::uint64_t expected_instances = 1;   // `local` enforces rate / expected_instances
  std::uint64_t max_keys = 1'000'000;     // memory store bound
  std::vector<RateLimitPolicy> policies;  // in the order written, invalid ones too
};
BOOST_DESCRIBE_STRUCT(RateLimitsConfig, (),
                      (store, redis, on_store_error, expected_instances, max_keys, policies))
constexpr auto notes_of(const RateLimitsConfig*) {
  using config::Note;
  return std::to_array<Note>({
      {.member = "store", .schema = config::kStoreSchema},
      {.member = "on_store_error",
       .schema = R"({"anyOf": [{"enum": ["allow", "deny", "local"]}, {"$ref": "#/$defs/env"}]})"},
      {.member = "expected_instances", .schema = config::kIntegerSchema},
      {.member = "max_keys", .schema = config::kIntegerSchema},
      {.member = "policies", .by_name = true},
  });
}

// The top-level `rate_limits:` section; nullopt when absent.
std::optional<RateLimitsConfig> read_rate_limits_config(config::YamlReader& reader,
                                                        const std::optional<config::Field>& field);

}  // namespace portico::filters::rate_limit
