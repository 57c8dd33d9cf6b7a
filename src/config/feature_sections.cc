// The feature sections read here: auth (built), rate_limits and cache (validated in full now,
// so a config that loads today still loads when the feature arrives), and the `defaults:` that
// routes inherit.
#include <algorithm>

#include "config/sections.h"

namespace portico::config {
namespace {

constexpr std::string_view kHmacAlgorithms[] = {"HS256", "HS384", "HS512"};
constexpr std::string_view kKeyAlgorithms[] = {"RS256", "RS384", "RS512", "PS256", "PS384",
                                               "PS512", "ES256", "ES384", "EdDSA"};

bool contains(std::initializer_list<std::string_view> list, std::string_view word) {
  return std::find(list.begin(), list.end(), word) != list.end();
}

template <std::size_t N>
bool contains(const std::string_view (&list)[N], std::string_view word) {
  return std::find(std::begin(list), std::end(list), word) != std::end(list);
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

void read_jwt(YamlReader& r, const Fields& f, AuthProviderConfig& out) {
  auto secret = r.text(f.get("secret"));
  if (secret && secret->empty()) r.error(*f.get("secret"), "the secret is empty");
  assign(std::move(secret), out.secret);
  assign(r.non_empty(f.get("public_key")), out.public_key);
  assign(r.url(f.get("jwks_url"), {"https", "http"}), out.jwks_url);
  assign(r.non_empty(f.get("jwks_file")), out.jwks_file);
  int written = f.has("secret") + f.has("public_key") + f.has("jwks_url") + f.has("jwks_file");
  if (written == 0) {
    r.error(f.self(), "a jwt provider needs one key: secret, public_key, jwks_url or jwks_file");
  } else if (written > 1) {
    r.error(f.self(), "give only one of secret, public_key, jwks_url or jwks_file");
  }
  bool hmac = f.has("secret");
  if (auto algorithms = r.list(f.get("algorithms"), true)) {
    for (const auto& item : *algorithms) {
      auto name = r.non_empty(item);
      if (!name) continue;
      if (lower_ascii(*name) == "none") {
        r.error(item, "the none algorithm is never accepted: it means an unsigned token");
      } else if (!contains(kHmacAlgorithms, *name) && !contains(kKeyAlgorithms, *name)) {
        r.error(item,
                "expected a JWS algorithm (HS256, RS256, ES256, EdDSA, ...), got " + quoted(*name));
      } else if (written == 1 && hmac != contains(kHmacAlgorithms, *name)) {
        // Mixing the two lets a public key be used as an HMAC secret.
        r.error(item, hmac ? "a secret signs HS256/HS384/HS512 only, not " + *name
                           : "HS* algorithms need a secret, not a public key: " + *name);
      } else {
        out.algorithms.push_back(*name);
      }
    }
  }
  assign(r.non_empty(f.get("issuer")), out.issuer);
  assign(r.strings(f.get("audience")), out.audience);
  assign(r.duration(f.get("leeway"), true), out.leeway);
  if (auto sources_from = r.list(f.get("token_from"), true)) {
    for (const auto& item : *sources_from) {
      auto source = r.non_empty(item);
      if (!source) continue;
      auto colon = source->find(':');
      std::string kind = source->substr(0, colon);
      bool valid = colon != std::string::npos && colon + 1 < source->size() &&
                   contains({"header", "query", "cookie"}, kind) &&
                   (kind != "header" || is_header_name(source->substr(colon + 1)));
      if (valid)
        out.token_from.push_back(*source);
      else
        r.error(item, "expected header:NAME, query:NAME or cookie:NAME, got " + quoted(*source));
    }
  }
  if (out.token_from.empty()) out.token_from.push_back("header:Authorization");
  if (auto claims = r.entries(f.get("forward_claims"))) {
    for (const auto& entry : *claims) {
      if (auto header = r.header_name(entry.value))
        out.forward_claims.emplace_back(entry.key, *header);
    }
  }
  assign(r.non_empty(f.get("roles_claim")), out.roles_claim);
}

void read_api_key(YamlReader& r, const Fields& f, AuthProviderConfig& out) {
  assign(r.header_name(f.get("header")), out.header);
  if (f.has("keys") == f.has("keys_file")) {
    r.error(f.self(), "an api_key provider needs one of keys (key: consumer) or keys_file");
  }
  if (auto keys = r.entries(f.get("keys"))) {
    for (const auto& entry : *keys) {
      if (auto consumer = r.non_empty(entry.value)) out.keys.push_back({entry.key, *consumer});
    }
  }
  assign(r.non_empty(f.get("keys_file")), out.keys_file);
}

void read_introspection(YamlReader& r, const Fields& f, AuthProviderConfig& out) {
  for (auto key : {"url", "client_id"}) {
    if (!f.has(key)) r.error(f.self(), std::string("missing key \"") + key + "\"");
  }
  assign(r.url(f.get("url"), {"http", "https"}), out.url);
  assign(r.non_empty(f.get("client_id")), out.client_id);
  assign(r.text(f.get("client_secret")), out.client_secret);
  assign(r.duration(f.get("cache_ttl"), true), out.cache_ttl);
}

void read_provider(YamlReader& r, const Field& field, AuthProviderConfig& out) {
  auto f = r.mapping(field, yaml_keys<AuthProviderConfig>());
  if (!f) return;
  if (!f->has("type")) {
    r.error(f->self(), "missing key \"type\" (jwt | api_key | oauth2_introspection)");
    return;
  }
  auto type = r.choice(f->get("type"), kAuthTypes);
  if (!type) return;
  out.type = *type;
  // Which type a key belongs to is noted beside the struct (feature_config.h).
  for (const Note& note : notes_of(&out)) {
    auto key = key_of(note);
    if (!note.member.empty() && !note.only_for.empty() && note.only_for != *type && f->has(key))
      r.error(*f->get(key), "key " + quoted(key) + " does not apply to type " + *type);
  }
  if (*type == "jwt")
    read_jwt(r, *f, out);
  else if (*type == "api_key")
    read_api_key(r, *f, out);
  else
    read_introspection(r, *f, out);
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

void read_auth(YamlReader& r, const std::optional<Field>& field, Config& config) {
  auto entries = r.entries(field);
  if (!entries) return;
  for (const auto& entry : *entries) {
    AuthProviderConfig provider;
    provider.name = entry.key;
    provider.mark = entry.key_mark;
    read_provider(r, entry.value, provider);
    // Kept even when invalid, so routes naming it get no second, misleading error.
    config.auth[entry.key] = std::move(provider);
  }
}

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
      for (auto key : {"key", "rate"}) {
        if (!p->has(key)) r.error(entry.value, std::string("missing key \"") + key + "\"");
      }
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
