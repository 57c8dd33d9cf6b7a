// `upstreams:` — named pools of targets, with their timeouts and resilience settings.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config_types.h"
#include "config/describe.h"

namespace portico::config {

struct Target {
  std::string url;     // as written
  std::string scheme;  // http | https
  std::string host;
  std::uint16_t port = 0;
  std::uint32_t weight = 1;
};
BOOST_DESCRIBE_STRUCT(Target, (), (url, scheme, host, port, weight))
constexpr auto notes_of(const Target*) {
  return std::to_array<Note>({
      {.member = "", .key = "target", .shorthand = kHttpUrlSchema},
      {.member = "url", .required = true, .schema = kHttpUrlSchema},
      {.member = "scheme", .where = Where::Neither},
      {.member = "host", .where = Where::ViewOnly},
      {.member = "port", .where = Where::ViewOnly},
  });
}

struct UpstreamTimeouts {
  Duration connect = 2s;
  Duration request = 30s;  // first response byte
  Duration idle = 60s;     // pooled connection unused this long is closed
};
BOOST_DESCRIBE_STRUCT(UpstreamTimeouts, (), (connect, request, idle))

struct RetryConfig {
  int attempts = 0;
  std::vector<std::string> on;  // connect_failure | reset | timeout | 5xx codes
  Duration backoff = 25ms;
  double budget = 0.2;
  std::vector<std::string> methods;
};
BOOST_DESCRIBE_STRUCT(RetryConfig, (), (attempts, on, backoff, budget, methods))
constexpr auto notes_of(const RetryConfig*) {
  return std::to_array<Note>({
      {.member = "attempts", .schema = kIntegerSchema},
      {.member = "on", .schema = R"({"type": "array", "items": {"anyOf": [
                    {"enum": ["connect_failure", "reset", "timeout"]},
                    {"type": "integer", "minimum": 400, "maximum": 599}]}})"},
  });
}

struct CircuitBreakerConfig {
  int consecutive_failures = 5;
  std::optional<double> failure_rate;
  Duration window = 10s;
  int min_requests = 20;
  Duration open_for = 30s;
  int half_open_requests = 3;
  std::optional<std::uint64_t> max_requests;
};
BOOST_DESCRIBE_STRUCT(CircuitBreakerConfig, (),
                      (consecutive_failures, failure_rate, window, min_requests, open_for,
                       half_open_requests, max_requests))

inline constexpr std::string_view kHealthCheckTypes[] = {"http", "tcp"};

struct HealthCheckConfig {
  std::string type = "http";
  std::string path = "/health";
  Duration interval = 5s;
  Duration timeout = 1s;
  int healthy_after = 2;
  int unhealthy_after = 3;
};
BOOST_DESCRIBE_STRUCT(HealthCheckConfig, (),
                      (type, path, interval, timeout, healthy_after, unhealthy_after))
constexpr auto notes_of(const HealthCheckConfig*) {
  return std::to_array<Note>({{.member = "type", .choices = kHealthCheckTypes},
                              {.member = "path", .schema = kPathSchema}});
}

struct OutlierDetectionConfig {
  int consecutive_failures = 5;
  Duration eject_for = 30s;
  double max_ejected = 0.5;
};
BOOST_DESCRIBE_STRUCT(OutlierDetectionConfig, (), (consecutive_failures, eject_for, max_ejected))

// How https:// targets are reached (`upstreams.NAME.tls`); http:// targets ignore it.
struct UpstreamTlsConfig {
  std::string ca_file;      // `ca`: trusted instead of the system store
  bool verify = true;       // false accepts any certificate
  std::string server_name;  // SNI and the name checked; empty: the target's host
  std::string cert_file;    // `cert` + `key`: client certificate (mutual TLS)
  std::string key_file;
};
BOOST_DESCRIBE_STRUCT(UpstreamTlsConfig, (), (ca_file, verify, server_name, cert_file, key_file))
constexpr auto notes_of(const UpstreamTlsConfig*) {
  return std::to_array<Note>({
      {.member = "ca_file", .key = "ca", .empty = Empty::Null, .schema = kNonEmptySchema},
      {.member = "server_name", .empty = Empty::Null, .schema = kNonEmptySchema},
      {.member = "cert_file", .key = "cert", .empty = Empty::Null, .schema = kNonEmptySchema},
      {.member = "key_file", .key = "key", .empty = Empty::Null, .schema = kNonEmptySchema},
  });
}

inline constexpr std::string_view kProtocols[] = {"http1", "http2", "grpc"};
inline constexpr std::string_view kBalancers[] = {"round_robin", "least_connections", "random",
                                                  "consistent_hash"};

struct UpstreamConfig {
  std::string name;
  Mark mark;
  std::vector<Target> targets;
  std::string protocol = "http1";
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
BOOST_DESCRIBE_STRUCT(UpstreamConfig, (),
                      (name, mark, targets, protocol, balance, hash_key, timeouts, max_connections,
                       dns_refresh, retries, circuit_breaker, health_check, outlier_detection, tls))
constexpr auto notes_of(const UpstreamConfig*) {
  return std::to_array<Note>({
      {.member = "", .key = "upstream"},
      {.member = "name", .where = Where::Neither},
      {.member = "mark", .where = Where::Neither},
      {.member = "targets", .required = true, .one_or_list = true},
      {.member = "protocol", .choices = kProtocols},
      {.member = "balance", .choices = kBalancers},
      {.member = "hash_key", .empty = Empty::Null, .schema = R"({"type": "string",
                    "pattern": "^(client_ip|path|header:.+|cookie:.+|jwt:.+)$"})"},
      {.member = "tls", .description = "How https:// targets are reached."},
  });
}

}  // namespace portico::config
