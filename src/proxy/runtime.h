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

#include "actions/proxy/upstream_runtime.h"
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

using actions::proxy::HashKey;
using actions::proxy::RewritePart;
using actions::proxy::TargetRuntime;
using actions::proxy::UpstreamRuntime;

struct CompiledRoute {
  const config::RouteConfig* config = nullptr;
  std::string name;
  std::uint32_t metric_id = 0;
  filters::FilterChain filters;          // run in order before the action
  std::shared_ptr<const Action> action;  // proxy, respond, or a 501 for what is not built
  std::size_t upstream = 0;              // a proxy route's: index into Runtime::upstreams
};

struct Runtime {
  std::uint64_t version = 0;
  std::shared_ptr<const config::Config> config;
  std::unique_ptr<routing::Router> router;
  std::vector<CompiledRoute> routes;  // same order as config->routes
  std::vector<UpstreamRuntime> upstreams;
  filters::AuthProviders auth_providers;
  std::shared_ptr<filters::rate_limit::RateLimiter> rate_limiter;  // null without rate_limits
  std::shared_ptr<filters::cache::ResponseCache> response_cache;   // null without cached routes
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
  // The snapshot being replaced, if any: what is unchanged from it (upstream state, auth
  // providers) is carried over instead of built again.
  std::shared_ptr<const Runtime> previous;
};

// Compiles a validated config. Throws std::runtime_error when something only the compile can
// see is wrong (a target host that does not resolve, a key file that cannot be read).
std::shared_ptr<const Runtime> compile_runtime(std::shared_ptr<const config::Config> config,
                                               std::uint64_t version, CompileServices& services);

}  // namespace portico::proxy
