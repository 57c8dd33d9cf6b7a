// `server:`, `admin:` and `observability:`: the listeners and what the process reports.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config_types.h"
#include "config/describe.h"

namespace portico::config {

struct TlsCertificate {
  std::string cert;
  std::string key;
};
BOOST_DESCRIBE_STRUCT(TlsCertificate, (), (cert, key))
constexpr auto notes_of(const TlsCertificate*) {
  return std::to_array<Note>(
      {{.member = "cert", .required = true}, {.member = "key", .required = true}});
}

inline constexpr std::string_view kTlsVersions[] = {"1.2", "1.3"};
inline constexpr std::string_view kClientAuthModes[] = {"require", "optional"};

// `server.tls`: with it the listeners speak TLS.
struct ServerTlsConfig {
  std::vector<TlsCertificate> certificates;  // at least one; SNI picks among them
  std::string min_version = "1.2";
  std::string client_ca;                   // PEM bundle; empty: no client certificates
  std::optional<std::string> client_auth;  // set exactly when client_ca is
};
BOOST_DESCRIBE_STRUCT(ServerTlsConfig, (), (certificates, min_version, client_ca, client_auth))
constexpr auto notes_of(const ServerTlsConfig*) {
  return std::to_array<Note>({
      {.member = "certificates", .required = true, .extend = R"({"minItems": 1})"},
      {.member = "min_version",
       .choices = kTlsVersions,
       .description = "Oldest TLS version accepted; 1.0 and 1.1 are always refused."},
      {.member = "client_ca",
       .empty = Empty::Null,
       .description = "PEM bundle verifying client certificates (mutual TLS)."},
      {.member = "client_auth",
       .choices = kClientAuthModes,
       .description = "With client_ca: require a certificate, or accept clients without one."},
  });
}

struct Limits {
  std::uint64_t max_header_bytes = 16 * 1024;
  std::uint64_t max_body_bytes = 10 * 1024 * 1024;
  Duration header_timeout = 10s;
  Duration idle_timeout = 60s;
  std::uint64_t max_connections = 100000;
};
BOOST_DESCRIBE_STRUCT(Limits, (),
                      (max_header_bytes, max_body_bytes, header_timeout, idle_timeout,
                       max_connections))
constexpr auto notes_of(const Limits*) {
  return std::to_array<Note>({{.member = "max_header_bytes", .schema = kSizeSchema},
                              {.member = "max_body_bytes", .schema = kSizeSchema}});
}

// `server.http2`: h2 via ALPN on TLS listeners, h2c (prior-knowledge preface) on plain ones.
struct Http2Config {
  bool enabled = true;
  std::uint64_t max_concurrent_streams = 128;
  std::uint64_t initial_window = 1024 * 1024;  // per-stream receive window
};
BOOST_DESCRIBE_STRUCT(Http2Config, (), (enabled, max_concurrent_streams, initial_window))
constexpr auto notes_of(const Http2Config*) {
  return std::to_array<Note>({
      {.member = "enabled",
       .description = "Offer h2 by ALPN on TLS listeners and serve h2c on plain ones."},
      {.member = "max_concurrent_streams",
       .description = "Streams a client may have open at once on one connection."},
      {.member = "initial_window",
       .description = "Each stream's receive window: what a client may send ahead of what "
                      "the upstream has taken.",
       .schema = kSizeSchema},
  });
}

struct ServerConfig {
  std::vector<Endpoint> listen;        // default: 0.0.0.0:8080
  int workers = 0;                     // 0 = auto (one per core)
  std::optional<ServerTlsConfig> tls;  // absent: the listeners speak plain HTTP
  Http2Config http2;
  Limits limits;
  std::vector<Cidr> trusted_proxies;
  std::string request_id_header = "X-Correlation-ID";
  Duration drain_timeout = 15s;
};
BOOST_DESCRIBE_STRUCT(ServerConfig, (),
                      (listen, workers, tls, http2, limits, trusted_proxies, request_id_header,
                       drain_timeout))
constexpr auto notes_of(const ServerConfig*) {
  return std::to_array<Note>({
      {.member = "listen",
       .one_or_list = true,
       .description = "One or more addresses: host:port, [::]:port."},
      {.member = "workers",
       .zero = "auto",
       .description = "Event-loop threads; auto = one per CPU core.",
       .schema = R"({"anyOf": [{"const": "auto"}, {"type": "integer", "minimum": 1,
                    "maximum": 1024}, {"$ref": "#/$defs/env"}]})"},
      {.member = "trusted_proxies", .schema = kStringListSchema},
      {.member = "request_id_header", .schema = kHeaderNameSchema},
  });
}

struct AdminConfig {
  std::optional<Endpoint> listen;  // no admin listener when absent
  std::string token;               // empty: /admin/* open
};
BOOST_DESCRIBE_STRUCT(AdminConfig, (), (listen, token))
constexpr auto notes_of(const AdminConfig*) {
  return std::to_array<Note>({{.member = "token",
                               .mask = Mask::Secret,
                               .description = "When non-empty, /admin/* needs Authorization: "
                                              "Bearer <token>.",
                               .schema = R"({"type": ["string", "null"]})"}});
}

struct TracingConfig {
  bool propagate = true;
  std::string otlp_endpoint;  // empty: spans are not exported
  double sample_ratio = 1.0;
};
BOOST_DESCRIBE_STRUCT(TracingConfig, (), (propagate, otlp_endpoint, sample_ratio))
constexpr auto notes_of(const TracingConfig*) {
  return std::to_array<Note>(
      {{.member = "otlp_endpoint", .mask = Mask::UrlPassword, .schema = kHttpUrlSchema}});
}

inline constexpr std::string_view kAccessLogFormats[] = {"json"};
inline constexpr std::string_view kLogLevels[] = {"trace", "debug", "info", "warn", "error", "off"};

struct AccessLogConfig {
  std::string path = "stdout";  // stdout | stderr | off | a file
  std::string format = "json";
};
BOOST_DESCRIBE_STRUCT(AccessLogConfig, (), (path, format))
constexpr auto notes_of(const AccessLogConfig*) {
  return std::to_array<Note>({{.member = "path", .description = "stdout | stderr | off | a file"},
                              {.member = "format", .choices = kAccessLogFormats}});
}

struct ObservabilityConfig {
  AccessLogConfig access_log;
  std::string log_level = "info";
  std::optional<TracingConfig> tracing;  // built by the tracing issue
};
BOOST_DESCRIBE_STRUCT(ObservabilityConfig, (), (access_log, log_level, tracing))
constexpr auto notes_of(const ObservabilityConfig*) {
  return std::to_array<Note>({{.member = "log_level", .choices = kLogLevels}});
}

}  // namespace portico::config
