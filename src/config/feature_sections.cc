// The feature sections read here: rate_limits and cache (validated in full now, so a config
// that loads today still loads when the feature arrives), and the `defaults:` that routes
// inherit.
#include <algorithm>

#include "config/sections.h"

namespace portico::config {
namespace {

bool contains(std::initializer_list<std::string_view> list, std::string_view word) {
  return std::find(list.begin(), list.end(), word) != list.end();
}

std::optional<RedisConfig> read_redis(YamlReader& r, const std::optional<Field>& field) {
  auto f = r.mapping(field, yaml_keys<RedisConfig>());
  if (!f) return std::nullopt;
  RedisConfig out;
  if (!f->has("url")) r.error(f->self(), "missing key \"url\" (redis://host:6379/0)");
  assign(r.url(f->get("url"), {"redis", "rediss"}), out.url);
  assign(r.duration(f->get("timeout")), out.timeout);
  assign(r.text(f->get("password")), out.password);
  return out;
}

bool valid_limit_key(std::string_view key) {
  while (true) {
    auto plus = key.find('+');
    std::string_view part = key.substr(0, plus);
    auto colon = part.find(':');
    std::string_view kind = part.substr(0, colon);
    std::string_view name = colon == std::string_view::npos ? "" : part.substr(colon + 1);
    bool valid =
        colon == std::string_view::npos
            ? contains({"client_ip", "consumer", "route", "global"}, part)
            : (kind == "header" && is_header_name(name)) || (kind == "jwt" && !name.empty());
    if (!valid) return false;
    if (plus == std::string_view::npos) return true;
    key = key.substr(plus + 1);
  }
}

}  // namespace

// Moves to src/filters/rate_limit/ with its feature, as filters/cors/cors_config.cc did.
void read_rate_limits(YamlReader& r, const std::optional<Field>& field, Config& config) {
  auto f = r.mapping(field, yaml_keys<RateLimitsConfig>());
  if (!f) return;
  RateLimitsConfig out;
  assign(r.choice(f->get("store"), kStores), out.store);
  out.redis = read_redis(r, f->get("redis"));
  if (out.store == "redis" && !f->has("redis")) {
    r.error(*f->get("store"), "store: redis needs a redis: {url: redis://host:6379/0} section");
  }
  assign(r.choice(f->get("on_store_error"), kOnStoreError), out.on_store_error);
  if (auto policies = r.entries(f->get("policies"))) {
    for (const auto& entry : *policies) {
      // Kept even when invalid, so routes naming it get no second, misleading error.
      RateLimitPolicy& policy = out.policies.emplace_back();
      policy.name = entry.key;
      policy.mark = entry.key_mark;
      auto p = r.mapping(entry.value, yaml_keys<RateLimitPolicy>());
      if (!p) continue;
      r.require(*p, required_keys<RateLimitPolicy>());
      if (auto key = r.non_empty(p->get("key"))) {
        if (valid_limit_key(*key))
          policy.key = *key;
        else
          r.error(*p->get("key"),
                  "expected client_ip, consumer, header:NAME, jwt:CLAIM, route "
                  "or global (joined with +), got " +
                      quoted(*key));
      }
      assign(r.rate(p->get("rate")), policy.rate);
      policy.burst = policy.rate.count;
      assign(r.integer(p->get("burst"), 1, INT32_MAX), policy.burst);
    }
  }
  config.rate_limits = std::move(out);
  r.not_built("rate_limits", f->self().path);
}

// Moves to src/filters/cache/ with its feature, as filters/cors/cors_config.cc did.
void read_cache(YamlReader& r, const std::optional<Field>& field, Config& config) {
  auto f = r.mapping(field, yaml_keys<CacheConfig>());
  if (!f) return;
  CacheConfig out;
  assign(r.choice(f->get("store"), kStores), out.store);
  out.redis = read_redis(r, f->get("redis"));
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

  if (out.rate_limit && !out.rate_limit->empty()) {
    r.not_built("rate_limits", f->get("rate_limit")->path);
  }
  if (out.compress.value_or(false)) r.not_built("compress", f->get("compress")->path);
  if (out.cache) r.not_built("cache", f->get("cache")->path);
}

}  // namespace portico::config
