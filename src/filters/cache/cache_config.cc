#include "filters/cache/cache_config.h"

#include "config/yaml_reader.h"

namespace portico::filters::cache {

using config::assign;

namespace {
constexpr std::string_view kStores[] = {"memory", "redis"};
}

std::optional<CacheConfig> read_cache_config(config::YamlReader& r,
                                             const std::optional<config::Field>& field) {
  auto f = r.mapping(field, config::yaml_keys<CacheConfig>());
  if (!f) return std::nullopt;
  CacheConfig out;
  assign(r.choice(f->get("store"), kStores), out.store);
  out.redis = config::read_redis_config(r, f->get("redis"), "redis://host:6379/1");
  if (out.store == "redis" && !f->has("redis")) {
    r.error(*f->get("store"), "store: redis needs a redis: {url: redis://host:6379/1} section");
  }
  assign(r.size(f->get("max_size")), out.max_size);
  assign(r.size(f->get("max_object_size")), out.max_object_size);
  if (out.max_object_size > out.max_size) {
    auto where = f->has("max_object_size") ? f->get("max_object_size") : f->get("max_size");
    r.error(*where, "max_object_size is larger than max_size");
  }
  assign(r.duration(f->get("lock_timeout")), out.lock_timeout);
  return out;
}

}  // namespace portico::filters::cache
