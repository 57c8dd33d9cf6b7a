// The typed, immutable configuration: what `portico.yaml` says, after validation.
// Built by config_loader.h; never changed after load (a reload builds a new one). Each
// section's structs are described (config/describe.h) where they are declared.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config_types.h"
#include "config/describe.h"
#include "config/route_config.h"
#include "config/server_config.h"
#include "config/upstream_config.h"
#include "filters/auth/auth_config.h"
#include "filters/cache/cache_config.h"
#include "filters/compress/compress_config.h"
#include "filters/cors/cors_config.h"
#include "filters/rate_limit/rate_limit_config.h"

namespace portico::config {

using filters::auth::AuthProviderConfig;
using filters::cache::CacheConfig;
using filters::compress::CompressionConfig;
using filters::cors::CorsConfig;
using filters::rate_limit::RateLimitsConfig;

struct Config {
  std::string source_path;  // the file it came from; empty when loaded from a string
  ServerConfig server;
  AdminConfig admin;
  std::map<std::string, UpstreamConfig> upstreams;
  // Feature sections, each read by its feature's folder.
  std::map<std::string, AuthProviderConfig> auth;  // name -> provider; routes name them
  std::optional<RateLimitsConfig> rate_limits;
  std::optional<CacheConfig> cache;
  std::optional<CompressionConfig> compression;  // built; absent: compressing routes use defaults
  std::optional<CorsConfig> cors;
  ObservabilityConfig observability;
  DefaultsConfig defaults;
  std::vector<RouteConfig> routes;  // in the order written, defaults applied
  bool watch = false;
};
BOOST_DESCRIBE_STRUCT(Config, (),
                      (source_path, server, admin, upstreams, auth, rate_limits, cache, compression,
                       cors, observability, defaults, routes, watch))
constexpr auto notes_of(const Config*) {
  return std::to_array<Note>({
      {.member = "",
       .description = "Portico API gateway configuration. Any string value may use ${VAR} or "
                      "${VAR:-default}."},
      {.member = "source_path", .where = Where::ViewOnly},
      {.member = "upstreams", .extend = R"({"propertyNames": {"pattern": "^[A-Za-z0-9_.-]+$"}})"},
      {.member = "watch", .description = "Reload when the file changes."},
  });
}

}  // namespace portico::config
