#include "config/config_json.h"

#include <boost/json.hpp>

namespace portico::config {
namespace json = boost::json;
namespace {

constexpr std::string_view kMasked = "***";

json::value secret(const std::string& value) {
  return value.empty() ? json::value("") : json::value(kMasked);
}

json::array strings(const std::vector<std::string>& items) {
  json::array out;
  for (const auto& item : items) out.emplace_back(item);
  return out;
}

json::object pairs(const HeaderList& items) {
  json::object out;
  for (const auto& [name, value] : items) out[name] = value;
  return out;
}

std::string format_rate(const core::Rate& rate) {
  std::string unit = rate.per == std::chrono::hours(1)     ? "h"
                     : rate.per == std::chrono::minutes(1) ? "min"
                                                           : "s";
  return std::to_string(rate.count) + "/" + unit;
}

json::value optional_duration(const std::optional<Duration>& duration) {
  return duration ? json::value(format_duration(*duration)) : json::value(nullptr);
}

// An empty string means "not set".
json::value or_null(const std::string& value) {
  return value.empty() ? json::value(nullptr) : json::value(value);
}

json::value optional_bool(const std::optional<bool>& value) {
  return value ? json::value(*value) : json::value(nullptr);
}

json::value optional_strings(const std::optional<std::vector<std::string>>& items) {
  return items ? json::value(strings(*items)) : json::value(nullptr);
}

json::object server_json(const ServerConfig& server) {
  json::array listen;
  for (const auto& item : server.listen) listen.emplace_back(item.text);
  json::array certificates;
  for (const auto& item : server.tls_certificates) {
    certificates.emplace_back(json::object{{"cert", item.cert}, {"key", item.key}});
  }
  json::array proxies;
  for (const auto& item : server.trusted_proxies) proxies.emplace_back(item.text);
  const Limits& limits = server.limits;
  return {
      {"listen", std::move(listen)},
      {"workers", server.workers == 0 ? json::value("auto") : json::value(server.workers)},
      {"tls", certificates.empty()
                  ? json::value(nullptr)
                  : json::value(json::object{
                        {"certificates", certificates},
                        {"min_version", server.tls_min_version},
                        {"client_ca", or_null(server.tls_client_ca)},
                        {"client_auth", server.tls_client_ca.empty()
                                            ? json::value(nullptr)
                                            : json::value(server.tls_client_auth)}})},
      {"limits",
       {{"max_header_bytes", limits.max_header_bytes},
        {"max_body_bytes", limits.max_body_bytes},
        {"header_timeout", format_duration(limits.header_timeout)},
        {"idle_timeout", format_duration(limits.idle_timeout)},
        {"max_connections", limits.max_connections}}},
      {"trusted_proxies", std::move(proxies)},
      {"request_id_header", server.request_id_header},
      {"drain_timeout", format_duration(server.drain_timeout)},
  };
}

json::object upstream_json(const UpstreamConfig& upstream) {
  json::array targets;
  for (const auto& target : upstream.targets) {
    targets.emplace_back(json::object{{"url", target.url},
                                      {"host", target.host},
                                      {"port", target.port},
                                      {"weight", target.weight}});
  }
  json::object out{
      {"targets", std::move(targets)},
      {"protocol", upstream.protocol},
      {"balance", upstream.balance},
      {"hash_key", or_null(upstream.hash_key)},
      {"timeouts",
       {{"connect", format_duration(upstream.timeouts.connect)},
        {"request", format_duration(upstream.timeouts.request)},
        {"idle", format_duration(upstream.timeouts.idle)}}},
      {"max_connections", upstream.max_connections},
      {"dns_refresh", format_duration(upstream.dns_refresh)},
      {"retries", nullptr},
      {"circuit_breaker", nullptr},
      {"health_check", nullptr},
      {"outlier_detection", nullptr},
      {"tls",
       {{"ca", or_null(upstream.tls.ca_file)},
        {"verify", upstream.tls.verify},
        {"server_name", or_null(upstream.tls.server_name)},
        {"cert", or_null(upstream.tls.cert_file)},
        {"key", or_null(upstream.tls.key_file)}}},
  };
  if (const auto& retries = upstream.retries) {
    out["retries"] = json::object{{"attempts", retries->attempts},
                                  {"on", strings(retries->on)},
                                  {"backoff", format_duration(retries->backoff)},
                                  {"budget", retries->budget},
                                  {"methods", strings(retries->methods)}};
  }
  if (const auto& breaker = upstream.circuit_breaker) {
    out["circuit_breaker"] =
        json::object{{"consecutive_failures", breaker->consecutive_failures},
                     {"failure_rate", breaker->failure_rate ? json::value(*breaker->failure_rate)
                                                            : json::value(nullptr)},
                     {"window", format_duration(breaker->window)},
                     {"min_requests", breaker->min_requests},
                     {"open_for", format_duration(breaker->open_for)},
                     {"half_open_requests", breaker->half_open_requests},
                     {"max_requests", breaker->max_requests ? json::value(*breaker->max_requests)
                                                            : json::value(nullptr)}};
  }
  if (const auto& check = upstream.health_check) {
    out["health_check"] = json::object{{"type", check->type},
                                       {"path", check->path},
                                       {"interval", format_duration(check->interval)},
                                       {"timeout", format_duration(check->timeout)},
                                       {"healthy_after", check->healthy_after},
                                       {"unhealthy_after", check->unhealthy_after}};
  }
  if (const auto& outlier = upstream.outlier_detection) {
    out["outlier_detection"] = json::object{{"consecutive_failures", outlier->consecutive_failures},
                                            {"eject_for", format_duration(outlier->eject_for)},
                                            {"max_ejected", outlier->max_ejected}};
  }
  return out;
}

json::object provider_json(const AuthProviderConfig& provider) {
  json::object out{{"type", provider.type}};
  if (provider.type == "jwt") {
    if (!provider.secret.empty()) out["secret"] = kMasked;
    if (!provider.public_key.empty()) out["public_key"] = provider.public_key;
    if (!provider.jwks_url.empty()) out["jwks_url"] = mask_url_password(provider.jwks_url);
    if (!provider.jwks_file.empty()) out["jwks_file"] = provider.jwks_file;
    out["algorithms"] = strings(provider.algorithms);
    out["issuer"] = provider.issuer;
    out["audience"] = strings(provider.audience);
    out["leeway"] = format_duration(provider.leeway);
    out["token_from"] = strings(provider.token_from);
    out["forward_claims"] = pairs(provider.forward_claims);
    out["roles_claim"] = provider.roles_claim;
  } else if (provider.type == "api_key") {
    out["header"] = provider.header;
    json::array keys;  // the keys are the credentials; their consumers are not
    for (const auto& [key, consumer] : provider.keys) {
      keys.emplace_back(json::object{{"key", kMasked}, {"consumer", consumer}});
    }
    out["keys"] = std::move(keys);
    if (!provider.keys_file.empty()) out["keys_file"] = provider.keys_file;
  } else if (provider.type == "oauth2_introspection") {
    out["url"] = mask_url_password(provider.url);
    out["client_id"] = provider.client_id;
    out["client_secret"] = secret(provider.client_secret);
    out["cache_ttl"] = format_duration(provider.cache_ttl);
  }
  return out;
}

json::value redis_json(const std::optional<RedisConfig>& redis) {
  if (!redis) return nullptr;
  return json::object{{"url", mask_url_password(redis->url)},
                      {"timeout", format_duration(redis->timeout)},
                      {"password", secret(redis->password)}};
}

json::value rate_limits_json(const std::optional<RateLimitsConfig>& limits) {
  if (!limits) return nullptr;
  json::object policies;
  for (const auto& policy : limits->policies) {
    policies[policy.name] = json::object{
        {"key", policy.key}, {"rate", format_rate(policy.rate)}, {"burst", policy.burst}};
  }
  return json::object{{"store", limits->store},
                      {"redis", redis_json(limits->redis)},
                      {"on_store_error", limits->on_store_error},
                      {"policies", std::move(policies)}};
}

json::value cache_json(const std::optional<CacheConfig>& cache) {
  if (!cache) return nullptr;
  return json::object{{"store", cache->store},
                      {"redis", redis_json(cache->redis)},
                      {"max_size", cache->max_size},
                      {"max_object_size", cache->max_object_size}};
}

json::value cors_json(const std::optional<CorsConfig>& cors) {
  if (!cors) return nullptr;
  return json::object{{"allow_origins", strings(cors->allow_origins)},
                      {"allow_methods", strings(cors->allow_methods)},
                      {"allow_headers", strings(cors->allow_headers)},
                      {"expose_headers", strings(cors->expose_headers)},
                      {"allow_credentials", cors->allow_credentials},
                      {"max_age", optional_duration(cors->max_age)}};
}

json::value route_cache_json(const std::optional<RouteCacheConfig>& cache) {
  if (!cache) return nullptr;
  return json::object{{"ttl", format_duration(cache->ttl)}, {"vary", strings(cache->vary)}};
}

json::object observability_json(const ObservabilityConfig& observability) {
  json::value tracing = nullptr;
  if (const auto& t = observability.tracing) {
    tracing = json::object{{"propagate", t->propagate},
                           {"otlp_endpoint", mask_url_password(t->otlp_endpoint)},
                           {"sample_ratio", t->sample_ratio}};
  }
  return {{"access_log",
           {{"path", observability.access_log.path}, {"format", observability.access_log.format}}},
          {"log_level", observability.log_level},
          {"tracing", std::move(tracing)}};
}

json::array value_matches(const std::vector<ValueMatch>& matches) {
  json::array out;
  for (const auto& match : matches) {
    out.emplace_back(
        json::object{{"name", match.name}, {"value", match.value}, {"regex", match.regex}});
  }
  return out;
}

json::object route_json(const RouteConfig& route) {
  static constexpr std::string_view kKinds[] = {"prefix", "path", "regex"};
  const RouteMatch& match = route.match;
  json::object out{
      {"name", route.name},
      {"match",
       {{kKinds[static_cast<int>(match.kind)], match.pattern},
        {"methods", strings(match.methods)},
        {"host", match.host},
        {"headers", value_matches(match.headers)},
        {"query", value_matches(match.query)}}},
      {"upstream", route.upstream.empty() ? json::value(nullptr) : json::value(route.upstream)},
      {"strip_prefix", route.strip_prefix},
      {"rewrite", route.rewrite},
      {"set_headers", pairs(route.set_headers)},
      {"remove_headers", strings(route.remove_headers)},
      {"response_headers", pairs(route.response_headers)},
      {"timeout", optional_duration(route.timeout)},
      {"websocket", json::object{{"enabled", route.websocket},
                                 {"idle_timeout", format_duration(route.websocket_idle_timeout)}}},
      {"auth", strings(route.auth)},
      {"require_roles", strings(route.require_roles)},
      {"require_scopes", strings(route.require_scopes)},
      {"rate_limit", optional_strings(route.rate_limit)},
      {"cache", route_cache_json(route.cache)},
      {"compress", optional_bool(route.compress)},
      {"cors", optional_bool(route.cors)},
  };
  if (route.respond) {
    out["respond"] = json::object{{"status", route.respond->status},
                                  {"body", route.respond->body},
                                  {"headers", pairs(route.respond->headers)}};
  }
  if (route.aggregate) {
    json::object calls;
    for (const auto& call : route.aggregate->calls) {
      calls[call.name] = json::object{
          {"upstream", call.upstream}, {"path", call.path}, {"optional", call.optional}};
    }
    out["aggregate"] = json::object{{"timeout", optional_duration(route.aggregate->timeout)},
                                    {"calls", std::move(calls)}};
  }
  if (route.grpc) {
    out["grpc"] = json::object{{"upstream", route.grpc->upstream},
                               {"descriptors", route.grpc->descriptors},
                               {"method", route.grpc->method},
                               {"json_names", route.grpc->json_names}};
  }
  return out;
}

json::object defaults_json(const DefaultsConfig& defaults) {
  return {{"auth", strings(defaults.auth)},
          {"rate_limit", optional_strings(defaults.rate_limit)},
          {"cors", optional_bool(defaults.cors)},
          {"compress", optional_bool(defaults.compress)},
          {"timeout", optional_duration(defaults.timeout)},
          {"cache", route_cache_json(defaults.cache)}};
}

}  // namespace

std::string format_duration(Duration duration) {
  auto ms = duration.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string mask_url_password(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  auto authority_start = scheme_end + 3;
  auto authority_end = url.find_first_of("/?#", authority_start);
  if (authority_end == std::string_view::npos) authority_end = url.size();
  auto at = url.substr(0, authority_end).rfind('@');
  if (at == std::string_view::npos || at < authority_start) return std::string(url);
  std::string_view user_info = url.substr(authority_start, at - authority_start);
  auto colon = user_info.find(':');
  // Without a colon, clients such as Redis read the whole user info as the password.
  std::string user = colon == std::string_view::npos ? "" : std::string(user_info.substr(0, colon));
  return std::string(url.substr(0, authority_start)) + user + ":" + std::string(kMasked) +
         std::string(url.substr(at));
}

json::value config_to_json(const Config& config) {
  json::object upstreams;
  for (const auto& [name, upstream] : config.upstreams) upstreams[name] = upstream_json(upstream);
  json::object auth;
  for (const auto& [name, type] : config.auth_providers) {
    auto it = config.auth.find(name);
    auth[name] = it != config.auth.end() ? provider_json(it->second) : json::object{{"type", type}};
  }
  json::array routes;
  for (const auto& route : config.routes) routes.emplace_back(route_json(route));
  json::object out{
      {"source_path", config.source_path},
      {"server", server_json(config.server)},
      {"admin",
       {{"listen",
         config.admin.listen ? json::value(config.admin.listen->text) : json::value(nullptr)},
        {"token", secret(config.admin.token)}}},
      {"upstreams", std::move(upstreams)},
      {"auth", std::move(auth)},
      {"rate_limits", rate_limits_json(config.rate_limits)},
      {"cache", cache_json(config.cache)},
      {"cors", cors_json(config.cors)},
      {"observability", observability_json(config.observability)},
      {"defaults", defaults_json(config.defaults)},
      {"routes", std::move(routes)},
      {"watch", config.watch},
  };
  return out;
}

}  // namespace portico::config
