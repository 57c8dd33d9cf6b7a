// The running configuration: a Config compiled once into what requests use (router, routes with
// their prebuilt pieces, upstream targets). Immutable; a reload builds a new one and workers
// swap their pointer between requests, so in-flight requests finish on the snapshot they began.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "control/health_checker.h"
#include "filters/all_filters.h"
#include "net/tls_server.h"
#include "observability/metrics.h"
#include "observability/series.h"
#include "proxy/action.h"
#include "routing/router.h"
#include "upstream/balancer.h"
#include "upstream/retry_policy.h"
#include "upstream/upstream_state.h"

namespace boost::asio::ssl {
class context;
}

namespace portico::proxy {

struct TargetRuntime {
  std::string key;       // "host:port" as configured: metrics, logs, admin
  std::string pool_key;  // key and resolved address: names the per-worker connection pool
  std::string host;
  std::uint16_t port = 0;
  std::uint32_t weight = 1;
  boost::asio::ip::tcp::endpoint endpoint;  // resolved when the config was compiled
  bool tls = false;                         // an https:// target
  std::string tls_server_name;              // SNI and the name its certificate must carry
  // portico_upstream_requests_total series of this target, by outcome.
  std::uint32_t success_series = 0, failure_series = 0, timeout_series = 0, retry_series = 0;
};

// Where consistent_hash takes its key from (`hash_key`).
struct HashKey {
  enum class Source { None, ClientIp, Header, Cookie, Claim, Path } source = Source::None;
  std::string name;  // header, cookie or claim name
};

struct UpstreamRuntime {
  std::string name;
  const config::UpstreamConfig* config = nullptr;
  std::vector<TargetRuntime> targets;
  config::UpstreamTimeouts timeouts;
  std::uint64_t max_connections = 1024;
  // Shared by every worker: health, ejection, load, breaker, retry budget.
  std::shared_ptr<upstream::UpstreamState> state;
  // TLS settings of the https:// targets (`tls:`); null when the upstream has none.
  std::shared_ptr<boost::asio::ssl::context> tls_context;
  bool tls_verify = true;
  std::shared_ptr<const upstream::MaglevTable> maglev;  // consistent_hash only
  std::optional<upstream::RetryPolicy> retry;
  HashKey hash_key;
  std::uint32_t duration_series = 0;  // portico_upstream_duration_seconds
  // Active health checks on the control plane; they stop with the last snapshot using them.
  std::shared_ptr<control::HealthChecker> health_checker;
  // The upstream's config and resolved addresses: a recompile that finds the same fingerprint
  // keeps the state, balancer table and health checker, so a reload or a DNS refresh that
  // changes nothing here loses no breaker, ejection or health history.
  std::string fingerprint;
};

// A piece of a `rewrite` template: literal text, or the value of a path parameter.
struct RewritePart {
  std::string text;
  bool is_param = false;
};

// Proxy: the built-in upstream exchange (client_connection + proxy_action); Run: `action`.
enum class ActionKind { Proxy, Run, NotImplemented };

struct CompiledRoute {
  const config::RouteConfig* config = nullptr;
  std::string name;
  std::uint32_t metric_id = 0;
  ActionKind kind = ActionKind::Proxy;
  std::shared_ptr<const Action> action;  // kind Run: what answers (respond...)
  filters::FilterChain filters;          // run in order before the action
  std::size_t upstream = 0;              // index into Runtime::upstreams
  std::string not_implemented;           // why this build cannot serve the route (NotImplemented)
  std::string strip_prefix;
  bool has_rewrite = false;
  std::vector<RewritePart> rewrite;
  config::HeaderList set_headers;
  std::vector<std::string> remove_headers;
  config::HeaderList response_headers;
  std::optional<config::Duration> timeout;
};

struct Runtime {
  std::uint64_t version = 0;
  std::shared_ptr<const config::Config> config;
  std::unique_ptr<routing::Router> router;
  std::vector<CompiledRoute> routes;  // same order as config->routes
  std::vector<UpstreamRuntime> upstreams;
  filters::AuthProviders auth_providers;
  // The listeners' TLS (`server.tls`); null when they speak plain HTTP. Connections hold it
  // for their lifetime, so a reload's new certificates reach only new handshakes.
  std::shared_ptr<net::TlsServerContext> tls_server;
  std::vector<std::string> warnings;  // what the compile noticed (unresolvable hosts...)

  const config::Limits& limits() const { return config->server.limits; }
};

// What compiling uses from the process: metric names and series outlive every snapshot.
struct CompileServices {
  observability::NameRegistry& route_names;
  observability::SeriesRegistry& series;
  control::ControlPlane* control = nullptr;
  std::shared_ptr<const Runtime> previous;  // the snapshot being replaced, if any
  // Take `previous`'s auth providers (token caches, fetched JWKS) instead of building new ones:
  // for a recompile of the same config (DNS refresh). A reload re-reads key files.
  bool keep_auth_providers = false;
};

// Compiles a validated config. Throws std::runtime_error when something only the compile can
// see is wrong (a target host that does not resolve, a key file that cannot be read).
std::shared_ptr<const Runtime> compile_runtime(std::shared_ptr<const config::Config> config,
                                               std::uint64_t version, CompileServices& services);

}  // namespace portico::proxy
