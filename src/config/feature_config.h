// `cache:`: the section of a feature not built yet, whose config has no feature folder to live
// in (filters/rate_limit/rate_limit_config.h and filters/cors/cors_config.h show the pattern).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config_types.h"
#include "config/describe.h"
#include "config/redis_config.h"

namespace portico::config {

inline constexpr std::string_view kStores[] = {"memory", "redis"};

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
