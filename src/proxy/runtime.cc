#include "proxy/runtime.h"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <map>
#include <stdexcept>

#include <boost/json/serialize.hpp>
#include "actions/aggregate/aggregate_action.h"
#include "actions/proxy/proxy_action.h"
#include "actions/respond/respond_action.h"
#include "config/config_json.h"
#include "control/control_plane.h"
#include "net/tls_client.h"

namespace portico::proxy {
namespace {

// What the proxy action of `route` needs of it.
actions::proxy::ProxyRoute proxy_route(const config::Config& config,
                                       const config::RouteConfig& route) {
  actions::proxy::ProxyRoute compiled;
  compiled.strip_prefix = route.strip_prefix;
  if (!route.rewrite.empty()) {
    compiled.has_rewrite = true;
    compiled.rewrite = actions::proxy::compile_rewrite(route.rewrite);
  }
  compiled.set_headers = route.set_headers;
  compiled.remove_headers = route.remove_headers;
  compiled.response_headers = route.response_headers;
  compiled.timeout = route.timeout;
  compiled.websocket = route.websocket.enabled;
  compiled.websocket_idle_timeout = route.websocket.idle_timeout;
  // Headers the gateway sets from a verified token must not arrive from the client.
  for (const auto& name : route.auth)
    if (auto it = config.auth.find(name); it != config.auth.end())
      for (const auto& [claim, header] : it->second.forward_claims)
        compiled.remove_headers.push_back(header);
  return compiled;
}

boost::asio::ip::tcp::endpoint resolve(const std::string& host, std::uint16_t port) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(host, ec);
  if (!ec) return {address, port};
  // Hostnames are resolved once per compile; control::DnsRefresher has the server compile again
  // when they move.
  boost::asio::io_context io;
  boost::asio::ip::tcp::resolver resolver(io);
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty())
    throw std::runtime_error("cannot resolve upstream host " + host + ": " + ec.message());
  return results.begin()->endpoint();
}

HashKey compile_hash_key(const std::string& spec) {
  HashKey key;
  if (spec.empty()) {
    key.source = HashKey::Source::ClientIp;  // consistent_hash without hash_key: per client
    return key;
  }
  auto colon = spec.find(':');
  std::string kind = spec.substr(0, colon);
  if (colon != std::string::npos) key.name = spec.substr(colon + 1);
  if (kind == "client_ip") key.source = HashKey::Source::ClientIp;
  if (kind == "header") key.source = HashKey::Source::Header;
  if (kind == "cookie") key.source = HashKey::Source::Cookie;
  if (kind == "jwt") key.source = HashKey::Source::Claim;
  if (kind == "path") key.source = HashKey::Source::Path;
  return key;
}

// Takes the shared state of the same upstream in `previous` when nothing about it changed.
bool reuse_shared_state(UpstreamRuntime& compiled, const Runtime* previous) {
  if (!previous) return false;
  for (const auto& old : previous->upstreams) {
    if (old.name != compiled.name || old.fingerprint != compiled.fingerprint) continue;
    compiled.state = old.state;
    compiled.maglev = old.maglev;
    compiled.health_checker = old.health_checker;
    return true;
  }
  return false;
}

// The filters of the route of that name in the snapshot being replaced: their state (caches,
// counters) carries over to the new chain where the filter's config is unchanged.
const filters::FilterChain* previous_filters(const CompileServices& services,
                                             std::string_view route_name) {
  if (!services.previous) return nullptr;
  for (const auto& route : services.previous->routes)
    if (route.name == route_name) return &route.filters;
  return nullptr;
}

// An aggregate's calls, each a proxy action of its own toward the call's upstream.
std::shared_ptr<Action> aggregate_action(const config::Config& config,
                                         const config::RouteConfig& route,
                                         const std::map<std::string, std::size_t>& upstream_index,
                                         const std::vector<UpstreamRuntime>& upstreams) {
  namespace aggregate = actions::aggregate;
  const auto& calls = route.aggregate->calls;
  auto index_of = [&](std::string_view name) -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < calls.size(); ++i)
      if (calls[i].name == name) return i;
    return std::nullopt;
  };
  aggregate::AggregatePlan plan;
  plan.timeout = route.aggregate->timeout;
  if (config.cache) plan.max_call_body = config.cache->max_object_size;
  plan.response_headers = route.response_headers;
  auto call_route = proxy_route(config, route);
  call_route.strip_prefix.clear();
  call_route.has_rewrite = false;
  call_route.response_headers.clear();
  call_route.websocket = false;
  for (const auto& call : calls) {
    auto upstream = upstream_index.find(call.upstream);
    if (upstream == upstream_index.end())
      throw std::runtime_error("route " + route.name + ": unknown upstream " + call.upstream);
    aggregate::CallPlan compiled{.name = call.name,
                                 .optional = call.optional,
                                 .fields = call.fields,
                                 .depends_on = {},
                                 .path = aggregate::CallPath(call.path, index_of),
                                 .proxy = std::make_unique<actions::proxy::ProxyAction>(
                                     call_route, upstream->second, upstreams[upstream->second])};
    for (const auto& name : call.depends_on)
      if (auto i = index_of(name)) compiled.depends_on.push_back(*i);
    plan.calls.push_back(std::move(compiled));
  }
  return std::make_shared<aggregate::AggregateAction>(std::move(plan));
}

std::string not_implemented_reason(const config::RouteConfig& route) {
  if (route.grpc) return "grpc transcoding is not built yet";
  return {};
}

}  // namespace

std::shared_ptr<const Runtime> compile_runtime(std::shared_ptr<const config::Config> config,
                                               std::uint64_t version, CompileServices& services) {
  auto runtime = std::make_shared<Runtime>();
  runtime->version = version;
  runtime->config = config;
  filters::FilterServices filter_services{services.series, services.control};
  const auto config_json = config::config_to_json(*config).as_object();
  runtime->auth_providers = filters::build_auth_providers(
      *config, filter_services, services.previous ? &services.previous->auth_providers : nullptr);
  runtime->rate_limiter = filters::build_rate_limiter(
      *config, filter_services, services.previous ? services.previous->rate_limiter : nullptr);
  runtime->response_cache = filters::build_response_cache(
      *config, services.previous ? services.previous->response_cache : nullptr);

  std::map<std::string, std::size_t> upstream_index;
  for (const auto& [name, upstream] : config->upstreams) {
    UpstreamRuntime compiled;
    compiled.name = name;
    compiled.config = &upstream;
    compiled.timeouts = upstream.timeouts;
    compiled.max_connections = upstream.max_connections;
    const auto& tls = upstream.tls;
    const std::string tls_json =
        boost::json::serialize(config_json.at("upstreams").at(name).at("tls"));
    if (std::any_of(upstream.targets.begin(), upstream.targets.end(),
                    [](const config::Target& t) { return t.scheme == "https"; })) {
      try {
        compiled.tls_context =
            net::make_tls_client_context({tls.ca_file, tls.verify, tls.cert_file, tls.key_file});
      } catch (const std::exception& e) {
        throw std::runtime_error("upstreams." + name + ".tls: " + e.what());
      }
      compiled.tls_verify = tls.verify;
    }
    using observability::Family;
    for (const auto& target : upstream.targets) {
      TargetRuntime t;
      t.host = target.host;
      t.port = target.port;
      t.weight = target.weight == 0 ? 1 : target.weight;
      t.key = target.host + ":" + std::to_string(target.port);
      t.endpoint = resolve(target.host, target.port);
      // A changed address (DNS refresh) gets fresh pooled connections, and so do changed TLS
      // settings: a connection is only reused for the peer checks it passed.
      t.pool_key = t.key + "@" + t.endpoint.address().to_string();
      if (target.scheme == "https") {
        t.tls = true;
        t.tls_server_name = tls.server_name.empty() ? target.host : tls.server_name;
        t.pool_key = "https://" + t.pool_key + " " + tls_json;
      }
      auto outcome_series = [&](std::string_view outcome) {
        return services.series.id_of(Family::UpstreamRequests,
                                     {{"upstream", name}, {"target", t.key}, {"outcome", outcome}});
      };
      t.success_series = outcome_series("success");
      t.failure_series = outcome_series("failure");
      t.timeout_series = outcome_series("timeout");
      t.retry_series = outcome_series("retry");
      compiled.targets.push_back(std::move(t));
    }
    compiled.duration_series =
        services.series.id_of(Family::UpstreamDuration, {{"upstream", name}});
    if (upstream.balance == "consistent_hash")
      compiled.hash_key = compile_hash_key(upstream.hash_key);
    if (upstream.retries && upstream.retries->attempts > 0)
      compiled.retry.emplace(*upstream.retries);
    compiled.fingerprint = boost::json::serialize(config_json.at("upstreams").at(name));
    for (const auto& t : compiled.targets) compiled.fingerprint += " " + t.pool_key;
    if (!reuse_shared_state(compiled, services.previous.get())) {
      compiled.state = std::make_shared<upstream::UpstreamState>(upstream);
      compiled.maglev = upstream::make_maglev_table(upstream);
      if (upstream.health_check && services.control && !compiled.targets.empty()) {
        std::vector<control::HealthTarget> probes;
        for (const auto& t : compiled.targets) {
          net::TlsPeer tls;
          if (t.tls) tls = {compiled.tls_context, t.tls_server_name, compiled.tls_verify};
          probes.push_back({t.key, t.endpoint, t.key, std::move(tls)});
        }
        compiled.health_checker = std::make_shared<control::HealthChecker>(
            *upstream.health_check, std::move(probes),
            [state = compiled.state](std::size_t i, bool healthy) {
              state->target(i).set_healthy(healthy);
            });
        compiled.health_checker->start(services.control->executor());
      }
    }
    upstream_index[name] = runtime->upstreams.size();
    runtime->upstreams.push_back(std::move(compiled));
  }

  for (const auto& route : config->routes) {
    CompiledRoute compiled;
    compiled.config = &route;
    compiled.name = route.name;
    compiled.metric_id = services.route_names.id_of(route.name);
    std::string not_built = not_implemented_reason(route);
    try {
      compiled.filters = filters::build_filter_chain(
          *config, route, route.name, runtime->auth_providers, runtime->rate_limiter,
          runtime->response_cache, filter_services, previous_filters(services, route.name));
    } catch (const std::runtime_error& e) {
      // A route that asks for authentication this build cannot do is refused, not served open.
      not_built = e.what();
    }
    if (!not_built.empty()) {
      runtime->warnings.push_back("route " + route.name + ": " + not_built + "; it answers 501");
      compiled.action = std::make_shared<actions::respond::NotBuiltAction>(std::move(not_built));
    } else if (route.aggregate) {
      compiled.action = aggregate_action(*config, route, upstream_index, runtime->upstreams);
    } else if (route.respond) {
      compiled.action =
          std::make_shared<actions::respond::RespondAction>(*route.respond, route.response_headers);
    } else {
      auto it = upstream_index.find(route.upstream);
      if (it == upstream_index.end())
        throw std::runtime_error("route " + route.name + ": unknown upstream " + route.upstream);
      compiled.upstream = it->second;
      compiled.action = std::make_shared<actions::proxy::ProxyAction>(
          proxy_route(*config, route), it->second, runtime->upstreams[it->second]);
    }
    runtime->routes.push_back(std::move(compiled));
  }
  const auto& server = config->server;
  if (server.tls) {
    // A DNS recompile of the same config keeps the files it read; a reload reads them again.
    if (services.previous && services.previous->config == config && services.previous->tls_server) {
      runtime->tls_server = services.previous->tls_server;
    } else {
      net::TlsServerOptions tls;
      for (const auto& certificate : server.tls->certificates)
        tls.certificates.push_back({certificate.cert, certificate.key});
      tls.tls13_only = server.tls->min_version == "1.3";
      tls.client_ca_file = server.tls->client_ca;
      tls.client_cert_required = server.tls->client_auth != "optional";
      tls.offer_h2 = server.http2.enabled;
      runtime->tls_server = std::make_shared<net::TlsServerContext>(tls);
    }
  }
  runtime->router = std::make_unique<routing::Router>(config->routes);
  return runtime;
}

}  // namespace portico::proxy
