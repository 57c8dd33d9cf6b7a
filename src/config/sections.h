// Internal to the config loader: one reader per top-level section of portico.yaml (a feature
// whose config lives in its own folder brings its reader along: filters/cors/cors_config.h,
// filters/auth/auth_config.h).
// Sections are read in dependency order (upstreams, auth and rate_limits before the routes
// that name them), whatever order the file uses; errors are sorted by position at the end.
//
// A feature that this build accepts but does not act on calls YamlReader::not_built(); the
// issue that builds the feature deletes that call.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/yaml_reader.h"

namespace portico::config {

void read_server(YamlReader& reader, const std::optional<Field>& field, ServerConfig& server);
void read_admin(YamlReader& reader, const std::optional<Field>& field, AdminConfig& admin);
void read_observability(YamlReader& reader, const std::optional<Field>& field,
                        ObservabilityConfig& observability);
void read_upstreams(YamlReader& reader, const std::optional<Field>& field, Config& config);
void read_defaults(YamlReader& reader, const std::optional<Field>& field, Config& config);
void read_routes(YamlReader& reader, const std::optional<Field>& field, Config& config);

// Route settings that `defaults:` shares with routes; references are checked against `config`.
std::optional<std::vector<std::string>> read_auth_names(YamlReader& reader,
                                                        const std::optional<Field>& field,
                                                        const Config& config);
std::optional<std::vector<std::string>> read_policy_names(YamlReader& reader,
                                                          const std::optional<Field>& field,
                                                          const Config& config);
std::optional<RouteCacheConfig> read_route_cache(YamlReader& reader,
                                                 const std::optional<Field>& field);

}  // namespace portico::config
