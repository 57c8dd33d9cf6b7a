// The feature section read here: cache (validated in full now, so a config that loads today
// still loads when the feature arrives), and the `defaults:` that routes inherit.
#include "config/sections.h"

namespace portico::config {

// Moves to src/filters/cache/ with its feature, as filters/cors/cors_config.cc did.
void read_cache(YamlReader& r, const std::optional<Field>& field, Config& config) {
  auto f = r.mapping(field, yaml_keys<CacheConfig>());
  if (!f) return;
  CacheConfig out;
  assign(r.choice(f->get("store"), kStores), out.store);
  out.redis = read_redis_config(r, f->get("redis"), "redis://host:6379/1");
  if (out.store == "redis" && !f->has("redis")) {
    r.error(*f->get("store"), "store: redis needs a redis: {url: redis://host:6379/1} section");
  }
  assign(r.size(f->get("max_size")), out.max_size);
  assign(r.size(f->get("max_object_size")), out.max_object_size);
  if (out.max_object_size > out.max_size) {
    auto where = f->has("max_object_size") ? f->get("max_object_size") : f->get("max_size");
    r.error(*where, "max_object_size is larger than max_size");
  }
  config.cache = std::move(out);
  r.not_built("cache", f->self().path);
}

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

  if (out.cache) r.not_built("cache", f->get("cache")->path);
}

}  // namespace portico::config
