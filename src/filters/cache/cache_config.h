// `cache:`, the store that routes with a `cache:` setting share, and its parse rules (the
// route's own `cache:` is config::RouteCacheConfig, read with the route). A small library of
// its own (portico_cache_config) so that config/ can hold it in Config without depending on
// the filter.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "config/config_types.h"
#include "config/describe.h"
#include "config/redis_config.h"

namespace portico::config {
class YamlReader;
struct Field;
}  // namespace portico::config

namespace portico::filters::cache {

using namespace std::chrono_literals;

struct CacheConfig {
  std::string store = "memory";  // memory | redis
  std::optional<config::RedisConfig> redis;
  std::uint64_t max_size = 256ull * 1024 * 1024;  // memory store bound, in bytes
  std::uint64_t max_object_size = 1024 * 1024;    // larger answers are relayed, never stored
  config::Duration lock_timeout = 5s;             // how long concurrent misses wait for the fill
  bool operator==(const CacheConfig&) const = default;
};
BOOST_DESCRIBE_STRUCT(CacheConfig, (), (store, redis, max_size, max_object_size, lock_timeout))
constexpr auto notes_of(const CacheConfig*) {
  return std::to_array<config::Note>(
      {{.member = "store", .schema = config::kStoreSchema},
       {.member = "max_size", .schema = config::kSizeSchema},
       {.member = "max_object_size", .schema = config::kSizeSchema},
       {.member = "lock_timeout",
        .description = "Concurrent misses of one key wait this long for the one request that "
                       "fills it, then go upstream themselves."}});
}

// The top-level `cache:` section; nullopt when absent.
std::optional<CacheConfig> read_cache_config(config::YamlReader& reader,
                                             const std::optional<config::Field>& field);

}  // namespace portico::filters::cache
