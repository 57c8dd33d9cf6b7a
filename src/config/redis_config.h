// `redis:` under `rate_limits:` and `cache:`: where a shared store lives. Read here, for both
// features; the client that connects to it is stores/redis.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config_types.h"
#include "config/describe.h"

namespace portico::config {

class YamlReader;
struct Field;

struct RedisConfig {
  std::string url;                   // redis:// or rediss://; empty with `cluster`
  std::vector<std::string> cluster;  // Redis Cluster seed nodes, "host:port"
  Duration timeout = 50ms;           // per call
  std::string password;              // overrides the URL's
  bool operator==(const RedisConfig&) const = default;
};
BOOST_DESCRIBE_STRUCT(RedisConfig, (), (url, cluster, timeout, password))
constexpr auto notes_of(const RedisConfig*) {
  return std::to_array<Note>({
      {.member = "", .key = "redis"},
      {.member = "url",
       .mask = Mask::UrlPassword,
       .empty = Empty::Omitted,
       .schema = R"json({"type": "string", "pattern": "^(rediss?://|\\$\\{)"})json"},
      {.member = "cluster",
       .empty = Empty::Omitted,
       .description = "Redis Cluster seed nodes (host:port); MOVED and ASK are followed"},
      {.member = "password", .mask = Mask::Secret},
  });
}

// A `redis:` mapping: `url` or `cluster` (one of them); `example` is the URL the message about
// a missing one suggests.
std::optional<RedisConfig> read_redis_config(YamlReader& reader, const std::optional<Field>& field,
                                             std::string_view example);

}  // namespace portico::config
