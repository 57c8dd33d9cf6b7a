// The typed, immutable configuration: what `portico.yaml` says, after validation.
// Built by config_loader.h; never changed after load (a reload builds a new one).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/units.h"

namespace portico::config {

using core::Duration;
using namespace std::chrono_literals;

// Where a value came from, for messages that point at the line.
struct Mark {
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;  // order as written

struct Endpoint {
  std::string host;  // "0.0.0.0", "127.0.0.1", "::" (brackets removed)
  std::uint16_t port = 0;
  std::string text;  // as written: "127.0.0.1:8080"
};

// An IP network for trusted_proxies: 10.0.0.0/8, ::1/128.
struct Cidr {
  std::string text;
  bool v6 = false;
  std::uint8_t bytes[16] = {};
  int prefix = 0;
};

struct TlsCertificate {
  std::string cert;
  std::string key;
};

struct Limits {
  std::uint64_t max_header_bytes = 16 * 1024;
  std::uint64_t max_body_bytes = 10 * 1024 * 1024;
  Duration header_timeout = 10s;
  Duration idle_timeout = 60s;
  std::uint64_t max_connections = 100000;
};

struct ServerConfig {
  std::vector<Endpoint> listen;  // default: 0.0.0.0:8080
  int workers = 0;               // 0 = auto (one per core)
  std::vector<TlsCertificate> tls_certificates;  // empty: the listeners speak plain HTTP
  std::string tls_min_version = "1.2";           // "1.2" | "1.3"
  std::string tls_client_ca;                     // PEM bundle; empty: no client certificates
  std::string tls_client_auth = "require";       // require | optional (with tls_client_ca)
  Limits limits;
  std::vector<Cidr> trusted_proxies;
  std::string request_id_header = "X-Correlation-ID";
  Duration drain_timeout = 15s;
};

struct AdminConfig {
  std::optional<Endpoint> listen;  // no admin listener when absent
  std::string token;               // empty: /admin/* open
};

struct Target {
  std::string url;     // as written
  std::string scheme;  // http | https
  std::string host;
  std::uint16_t port = 0;
  std::uint32_t weight = 1;
};

struct UpstreamTimeouts {
  Duration connect = 2s;
  Duration request = 30s;  // first response byte
  Duration idle = 60s;     // pooled connection unused this long is closed
};

// Sections of an upstream implemented by the resilience issue; parsed and validated now.
struct RetryConfig {
  int attempts = 0;
  std::vector<std::string> on;  // connect_failure | reset | timeout | 5xx codes
  Duration backoff = 25ms;
  double budget = 0.2;
  std::vector<std::string> methods;
};

struct CircuitBreakerConfig {
  int consecutive_failures = 5;
  std::optional<double> failure_rate;
  Duration window = 10s;
  int min_requests = 20;
  Duration open_for = 30s;
  int half_open_requests = 3;
  std::optional<std::uint64_t> max_requests;
};

struct HealthCheckConfig {
  std::string type = "http";
  std::string path = "/health";
  Duration interval = 5s;
  Duration timeout = 1s;
  int healthy_after = 2;
  int unhealthy_after = 3;
};

struct OutlierDetectionConfig {
  int consecutive_failures = 5;
  Duration eject_for = 30s;
  double max_ejected = 0.5;
};

// How https:// targets are reached (`upstreams.NAME.tls`); http:// targets ignore it.
struct UpstreamTlsConfig {
  std::string ca_file;      // `ca`: trusted instead of the system store
  bool verify = true;       // false accepts any certificate
  std::string server_name;  // SNI and the name checked; empty: the target's host
  std::string cert_file;    // `cert` + `key`: client certificate (mutual TLS)
  std::string key_file;
};

struct UpstreamConfig {
  std::string name;
  Mark mark;
  std::vector<Target> targets;
  std::string protocol = "http1";  // http1 | http2 | grpc
  std::string balance = "round_robin";
  std::string hash_key;
  UpstreamTimeouts timeouts;
  std::uint64_t max_connections = 1024;  // per target, per process
  Duration dns_refresh = 30s;
  std::optional<RetryConfig> retries;
  std::optional<CircuitBreakerConfig> circuit_breaker;
  std::optional<HealthCheckConfig> health_check;
  std::optional<OutlierDetectionConfig> outlier_detection;
  UpstreamTlsConfig tls;  // defaults when the key is absent: system CAs, verify on
};

struct ValueMatch {
  std::string name;
  std::string value;   // exact value, or an RE2 pattern when `regex`
  bool regex = false;  // written with a leading `~`
};

struct RouteMatch {
  enum class Kind { Prefix, Path, Regex };
  Kind kind = Kind::Prefix;
  std::string pattern;               // the prefix, path template or regex as written
  std::vector<std::string> methods;  // upper case; empty = all
  std::string host;                  // exact or "*.example.com"; empty = any
  std::vector<ValueMatch> headers;
  std::vector<ValueMatch> query;
};

// `cache:` on a route (or in `defaults:`); built by the cache issue.
struct RouteCacheConfig {
  Duration ttl = 0ms;
  std::vector<std::string> vary;
};

struct AggregateCall {
  std::string name;
  std::string upstream;
  std::string path;  // may use {param}, {jwt.CLAIM}, {consumer}
  bool optional = false;
};

// `aggregate:` on a route; built by the aggregation issue.
struct AggregateConfig {
  std::optional<Duration> timeout;
  std::vector<AggregateCall> calls;  // in the order written
};

// `grpc:` on a route; built by the transcoding issue.
struct GrpcConfig {
  std::string upstream;
  std::string descriptors;           // FileDescriptorSet path
  std::string method;                // package.Service/Method
  std::string json_names = "camel";  // camel | original
};

struct RespondConfig {
  int status = 200;
  std::string body;
  HeaderList headers;
};

struct RouteConfig {
  std::string name;
  Mark mark;
  RouteMatch match;
  std::string upstream;  // proxy action target; empty for respond / aggregate / grpc
  std::optional<RespondConfig> respond;
  std::string strip_prefix;
  std::string rewrite;
  HeaderList set_headers;
  std::vector<std::string> remove_headers;
  HeaderList response_headers;
  std::optional<Duration> timeout;
  // `websocket`: upgrade requests are relayed (upstream routes) unless false (403).
  bool websocket = true;
  Duration websocket_idle_timeout = std::chrono::minutes(10);

  // Filters and actions built by later issues. Parsed and kept so validation and reload see
  // them; `unimplemented` lists what this build cannot serve yet (see the route compiler).
  std::vector<std::string> auth;  // provider names; ["none"] = explicitly none
  std::vector<std::string> require_roles;
  std::vector<std::string> require_scopes;
  std::optional<std::vector<std::string>> rate_limit;
  std::optional<bool> compress;
  std::optional<bool> cors;
  bool has_cache = false;
  bool has_aggregate = false;
  bool has_grpc = false;
  std::optional<RouteCacheConfig> cache;     // set exactly when has_cache
  std::optional<AggregateConfig> aggregate;  // set exactly when has_aggregate
  std::optional<GrpcConfig> grpc;            // set exactly when has_grpc
};

// One `auth:` provider as written; the auth issue builds verifiers from it.
struct AuthProviderConfig {
  std::string name;
  std::string type;  // jwt | api_key | oauth2_introspection
  Mark mark;
  // jwt: exactly one key source among secret, public_key, jwks_url, jwks_file.
  std::string secret;
  std::string public_key;
  std::string jwks_url;
  std::string jwks_file;
  std::vector<std::string> algorithms;  // allow-list as written; `none` is rejected
  std::string issuer;
  std::vector<std::string> audience;
  Duration leeway = 30s;
  std::vector<std::string> token_from;  // header:NAME | query:NAME | cookie:NAME
  HeaderList forward_claims;            // claim -> header
  std::string roles_claim = "roles";
  // api_key
  std::string header = "X-API-Key";
  HeaderList keys;  // key -> consumer
  std::string keys_file;
  // oauth2_introspection
  std::string url;
  std::string client_id;
  std::string client_secret;
  Duration cache_ttl = 60s;
};

struct RedisConfig {
  std::string url;  // redis:// or rediss://
  Duration timeout = 50ms;
  std::string password;
};

struct RateLimitPolicy {
  std::string name;
  Mark mark;
  std::string key;  // client_ip | consumer | header:NAME | jwt:CLAIM | route | global, joined by +
  core::Rate rate;
  std::uint64_t burst = 0;  // defaults to rate.count
};

// `rate_limits:`; built by the rate-limit issue.
struct RateLimitsConfig {
  std::string store = "memory";  // memory | redis
  std::optional<RedisConfig> redis;
  std::string on_store_error = "allow";   // allow | deny
  std::vector<RateLimitPolicy> policies;  // in the order written
};

// `cache:`; built by the cache issue.
struct CacheConfig {
  std::string store = "memory";  // memory | redis
  std::optional<RedisConfig> redis;
  std::uint64_t max_size = 256ull * 1024 * 1024;
  std::uint64_t max_object_size = 1024 * 1024;
};

// `cors:`, the policy that routes with `cors: true` apply; built by the CORS issue.
struct CorsConfig {
  std::vector<std::string> allow_origins;
  std::vector<std::string> allow_methods;
  std::vector<std::string> allow_headers;
  std::vector<std::string> expose_headers;
  bool allow_credentials = false;
  std::optional<Duration> max_age;
};

struct TracingConfig {
  bool propagate = true;
  std::string otlp_endpoint;  // empty: spans are not exported
  double sample_ratio = 1.0;
};

struct AccessLogConfig {
  std::string path = "stdout";  // stdout | stderr | off | a file
  std::string format = "json";
};

struct ObservabilityConfig {
  AccessLogConfig access_log;
  std::string log_level = "info";        // trace debug info warn error off
  std::optional<TracingConfig> tracing;  // built by the tracing issue
};

// `defaults:` — route settings applied to routes that do not set them.
struct DefaultsConfig {
  std::vector<std::string> auth;
  std::optional<std::vector<std::string>> rate_limit;
  std::optional<bool> compress;
  std::optional<bool> cors;
  std::optional<Duration> timeout;
  std::optional<RouteCacheConfig> cache;
};

struct Config {
  std::string source_path;  // the file it came from; empty when loaded from a string
  ServerConfig server;
  AdminConfig admin;
  std::map<std::string, UpstreamConfig> upstreams;
  std::map<std::string, std::string> auth_providers;  // name -> type (providers built later)
  std::vector<std::string> rate_limit_policies;       // names (limits built later)
  DefaultsConfig defaults;
  std::vector<RouteConfig> routes;  // in the order written, defaults applied
  ObservabilityConfig observability;
  bool watch = false;
  // Sections built by later issues, kept whole so they can be validated, shown and reloaded.
  std::map<std::string, AuthProviderConfig> auth;  // the `auth:` section; keys as auth_providers
  std::optional<RateLimitsConfig> rate_limits;
  std::optional<CacheConfig> cache;
  std::optional<CorsConfig> cors;
};

}  // namespace portico::config
