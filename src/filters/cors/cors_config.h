// `cors:`, the policy that routes with `cors: true` apply, and its parse rules. The pattern for
// a feature's config: the struct, its description and its reader live in the feature's folder
// as a small library (portico_cors_config) that depends only on the YAML reader, so that
// config/ can hold it in Config without depending on the filter.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config_types.h"
#include "config/describe.h"

namespace portico::config {
class YamlReader;
struct Field;
}  // namespace portico::config

namespace portico::filters::cors {

struct CorsConfig {
  std::vector<std::string> allow_origins;  // "*" or origins
  std::vector<std::string> allow_methods;  // upper case; empty: the CORS-safelisted ones
  std::vector<std::string> allow_headers;
  std::vector<std::string> expose_headers;
  bool allow_credentials = false;
  std::optional<config::Duration> max_age;
};
BOOST_DESCRIBE_STRUCT(CorsConfig, (),
                      (allow_origins, allow_methods, allow_headers, expose_headers,
                       allow_credentials, max_age))

// The top-level `cors:` section; nullopt when absent.
std::optional<CorsConfig> read_cors_config(config::YamlReader& reader,
                                           const std::optional<config::Field>& field);

// A route's (or defaults') `cors: true | false`; true needs the top-level policy.
std::optional<bool> read_cors_switch(config::YamlReader& reader,
                                     const std::optional<config::Field>& field, bool has_policy);

}  // namespace portico::filters::cors
