#include "filters/rate_limit/rate_limit_config.h"

#include <algorithm>

#include "config/yaml_reader.h"

namespace portico::filters::rate_limit {
namespace {

using config::assign;

bool valid_limit_key(std::string_view key) {
  constexpr std::string_view plain[] = {"client_ip", "consumer", "route", "global"};
  while (true) {
    auto plus = key.find('+');
    std::string_view part = key.substr(0, plus);
    auto colon = part.find(':');
    std::string_view kind = part.substr(0, colon);
    std::string_view name = colon == std::string_view::npos ? "" : part.substr(colon + 1);
    bool valid = colon == std::string_view::npos
                     ? std::find(std::begin(plain), std::end(plain), part) != std::end(plain)
                     : (kind == "header" && config::is_header_name(name)) ||
                           (kind == "jwt" && !name.empty());
    if (!valid) return false;
    if (plus == std::string_view::npos) return true;
    key = key.substr(plus + 1);
  }
}

}  // namespace

std::optional<RateLimitsConfig> read_rate_limits_config(config::YamlReader& r,
                                                        const std::optional<config::Field>& field) {
  auto f = r.mapping(field, config::yaml_keys<RateLimitsConfig>());
  if (!f) return std::nullopt;
  RateLimitsConfig out;
  assign(r.choice(f->get("store"), kStores), out.store);
  out.redis = config::read_redis_config(r, f->get("redis"), "redis://host:6379/0");
  if (out.store == "redis" && !f->has("redis")) {
    r.error(*f->get("store"), "store: redis needs a redis: {url: redis://host:6379/0} section");
  }
  assign(r.choice(f->get("on_store_error"), kOnStoreError), out.on_store_error);
  assign(r.integer(f->get("expected_instances"), 1, 10000), out.expected_instances);
  assign(r.integer(f->get("max_keys"), 1, 1'000'000'000), out.max_keys);
  if (auto policies = r.entries(f->get("policies"))) {
    for (const auto& entry : *policies) {
      // Kept even when invalid, so routes naming it get no second, misleading error.
      RateLimitPolicy& policy = out.policies.emplace_back();
      policy.name = entry.key;
      policy.mark = entry.key_mark;
      auto p = r.mapping(entry.value, config::yaml_keys<RateLimitPolicy>());
      if (!p) continue;
      r.require(*p, config::required_keys<RateLimitPolicy>());
      if (auto key = r.non_empty(p->get("key"))) {
        if (valid_limit_key(*key))
          policy.key = *key;
        else
          r.error(*p->get("key"),
                  "expected client_ip, consumer, header:NAME, jwt:CLAIM, route "
                  "or global (joined with +), got " +
                      config::quoted(*key));
      }
      assign(r.rate(p->get("rate")), policy.rate);
      policy.burst = policy.rate.count;
      assign(r.integer(p->get("burst"), 1, INT32_MAX), policy.burst);
    }
  }
  return out;
}

}  // namespace portico::filters::rate_limit
