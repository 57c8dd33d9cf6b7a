// The `defaults:` that routes inherit.
#include "config/sections.h"

namespace portico::config {

void read_defaults(YamlReader& r, const std::optional<Field>& field, Config& config) {
  auto f = r.mapping(field, yaml_keys<DefaultsConfig>());
  if (!f) return;
  DefaultsConfig& out = config.defaults;
  assign(read_auth_names(r, f->get("auth"), config), out.auth);
  out.rate_limit = read_policy_names(r, f->get("rate_limit"), config);
  out.cors = filters::cors::read_cors_switch(r, f->get("cors"), config.cors.has_value());
  out.compress = r.boolean(f->get("compress"));
  out.timeout = r.duration(f->get("timeout"));
  out.cache = read_route_cache(r, f->get("cache"));
}

}  // namespace portico::config
