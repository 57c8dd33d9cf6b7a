#include "proxy/gateway.h"

#include "actions/respond/respond_action.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <iostream>
#include <thread>

#include "config/config_json.h"
#include "config/config_loader.h"
#include "control/dns_resolver.h"
#include "core/log.h"

namespace portico::proxy {

using core::log_error;
using core::log_info;
using core::log_warn;
using core::set_log_level;

namespace asio = boost::asio;
namespace json = boost::json;

Gateway::Gateway(std::string config_path, Overrides overrides)
    : config_path_(std::move(config_path)),
      overrides_(std::move(overrides)),
      signals_(control_, SIGINT, SIGTERM, SIGHUP),
      drain_timer_(control_),
      watch_timer_(control_) {
  // Id 0 labels requests no route matched.
  route_names_.id_of("unmatched");
}

Gateway::~Gateway() = default;

std::shared_ptr<const Runtime> Gateway::build_runtime(std::vector<std::string>& errors) {
  auto loaded = config::load_config_file(config_path_);
  for (const auto& warning : loaded.warnings) log_warn(warning);
  if (!loaded.ok()) {
    for (const auto& error : loaded.errors) errors.push_back(error.to_string());
    if (errors.empty()) errors.push_back(config_path_ + ": invalid config");
    return nullptr;
  }
  auto config = std::make_shared<config::Config>(*loaded.config);
  if (overrides_.workers) config->server.workers = *overrides_.workers;
  if (overrides_.log_level) config->observability.log_level = *overrides_.log_level;
  if (config->server.listen.empty())
    config->server.listen.push_back({"0.0.0.0", 8080, "0.0.0.0:8080"});
  try {
    CompileServices services{route_names_, series_, &background_, current_runtime()};
    auto runtime = compile_runtime(config, version_ + 1, services);
    for (const auto& warning : runtime->warnings) log_warn(warning);
    return runtime;
  } catch (const std::exception& e) {
    errors.push_back(config_path_ + ": " + e.what());
    return nullptr;
  }
}

std::shared_ptr<const Runtime> Gateway::current_runtime() {
  std::lock_guard lock(mutex_);
  return runtime_;
}

void Gateway::install(std::shared_ptr<const Runtime> runtime,
                      std::shared_ptr<observability::AccessLogWriter> log) {
  {
    std::lock_guard lock(mutex_);
    version_ = runtime->version;
    runtime_ = runtime;
    access_log_ = log;
  }
  set_log_level(runtime->config->observability.log_level);
  for (auto& worker : workers_) worker->swap_runtime(runtime, log);
  if (admin_) admin_->set_token(runtime->config->admin.token);
}

// Hostnames in targets are looked up again every dns_refresh (the shortest any upstream asks
// for). When a target's address is no longer among the answers, the same config is compiled
// again: upstreams whose addresses did not change keep their state (see compile_runtime), the
// others get pools to the new address, and requests in flight finish on the old snapshot.
asio::awaitable<void> Gateway::refresh_dns() {
  asio::steady_timer timer(control_);
  while (!draining_) {
    auto runtime = current_runtime();
    auto every = std::chrono::milliseconds::max();
    bool any_name = false;
    for (const auto& upstream : runtime->upstreams) {
      for (const auto& target : upstream.targets) {
        boost::system::error_code ec;
        asio::ip::make_address(target.host, ec);
        if (!ec) continue;
        any_name = true;
        every = std::min(every, std::chrono::duration_cast<std::chrono::milliseconds>(
                                    upstream.config->dns_refresh));
      }
    }
    // Without hostnames, look again later: a reload may bring some.
    if (!any_name) every = std::chrono::milliseconds(30000);
    timer.expires_after(std::max(every, std::chrono::milliseconds(100)));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!any_name || draining_ || runtime != current_runtime()) continue;
    bool changed = false;
    for (const auto& upstream : runtime->upstreams) {
      for (const auto& target : upstream.targets) {
        boost::system::error_code ec;
        asio::ip::make_address(target.host, ec);
        if (!ec) continue;
        auto found = co_await control::resolve_all(target.host, target.port,
                                                   std::chrono::milliseconds(2000));
        if (!found.error.empty() || found.endpoints.empty()) {
          log_warn("dns: " + target.host + ": " +
                   (found.error.empty() ? "no addresses" : found.error) + "; keeping " +
                   target.endpoint.address().to_string());
          continue;
        }
        if (std::find(found.endpoints.begin(), found.endpoints.end(), target.endpoint) ==
            found.endpoints.end()) {
          log_info("dns: " + target.key + " moved from " + target.endpoint.address().to_string() +
                   " to " + found.endpoints.front().address().to_string());
          changed = true;
        }
      }
    }
    if (!changed || runtime != current_runtime()) continue;
    try {
      CompileServices services{route_names_, series_, &background_, runtime};
      auto fresh = compile_runtime(runtime->config, runtime->version, services);
      install(fresh, access_log_);
    } catch (const std::exception& e) {
      log_warn(std::string("dns: recompile failed: ") + e.what());
    }
  }
}

std::shared_ptr<observability::AccessLogWriter> Gateway::access_log_for(
    const config::Config& config) {
  const auto& path = config.observability.access_log.path;
  if (path == "off" || path.empty()) return nullptr;
  if (access_log_ && path == access_log_path_) return access_log_;
  access_log_path_ = path;
  return std::make_shared<observability::AccessLogWriter>(path);
}

int Gateway::run() {
  background_.start();
  std::vector<std::string> errors;
  auto runtime = build_runtime(errors);
  if (!runtime) {
    for (const auto& e : errors) std::cerr << e << "\n";
    std::cerr << "portico: config has " << errors.size() << " error(s); not starting\n";
    return 1;
  }
  set_log_level(runtime->config->observability.log_level);
  version_ = runtime->version;
  runtime_ = runtime;
  try {
    access_log_ = access_log_for(*runtime->config);
  } catch (const std::exception& e) {
    std::cerr << "portico: " << e.what() << "\n";
    return 1;
  }

  const auto& server = runtime->config->server;
  unsigned count = server.workers > 0 ? static_cast<unsigned>(server.workers)
                                      : std::max(1u, std::thread::hardware_concurrency());
  try {
    for (unsigned i = 0; i < count; ++i) {
      workers_.push_back(std::make_unique<Worker>(count, runtime, access_log_));
      workers_.back()->listen(server.listen);
    }
    if (runtime->config->admin.listen) {
      admin::AdminHooks hooks;
      hooks.ready = [this] { return !draining_; };
      hooks.metrics = [this] { return render_metrics(); };
      hooks.routes = [this] { return routes_json(); };
      hooks.upstreams = [this] { return upstreams_json(); };
      hooks.config = [this] {
        std::lock_guard lock(mutex_);
        return config::config_to_json(*runtime_->config);
      };
      hooks.reload = [this] { return reload(); };
      admin_ = std::make_unique<admin::AdminServer>(control_, *runtime->config->admin.listen,
                                                    runtime->config->admin.token, std::move(hooks));
    }
  } catch (const std::exception& e) {
    std::cerr << "portico: cannot listen: " << e.what() << "\n";
    return 1;
  }

  for (auto& worker : workers_) worker->start();
  if (admin_) admin_->start();
  for (const auto& address : server.listen) log_info("listening on " + address.text);
  if (admin_) log_info("admin listening on " + runtime->config->admin.listen->text);
  log_info("serving config version " + std::to_string(version_) + " with " + std::to_string(count) +
           " worker(s)");

  std::function<void(boost::system::error_code, int)> on_signal =
      [this, &on_signal](boost::system::error_code ec, int signal) {
        if (ec) return;
        if (signal == SIGHUP) {
          reload();
          signals_.async_wait(on_signal);
        } else {
          log_info("signal received: draining");
          begin_drain();
        }
      };
  signals_.async_wait(on_signal);
  std::error_code mtime_ec;
  config_mtime_ = std::filesystem::last_write_time(config_path_, mtime_ec);
  watch_config_file();
  asio::co_spawn(control_, refresh_dns(), asio::detached);
  control_.run();

  for (auto& worker : workers_) worker->join();
  background_.stop();
  if (access_log_) access_log_->flush_and_wait();
  log_info("stopped");
  return 0;
}

admin::ReloadOutcome Gateway::reload() {
  admin::ReloadOutcome outcome;
  std::vector<std::string> errors;
  auto runtime = build_runtime(errors);
  std::shared_ptr<observability::AccessLogWriter> log;
  if (runtime) {
    try {
      log = access_log_for(*runtime->config);
    } catch (const std::exception& e) {
      errors.push_back(e.what());
      runtime = nullptr;
    }
  }
  if (!runtime) {
    counters_.reloads_failure.fetch_add(1);
    for (const auto& e : errors) log_error("reload rejected: " + e);
    outcome.errors = std::move(errors);
    std::lock_guard lock(mutex_);
    outcome.version = version_;
    return outcome;
  }
  install(runtime, log);
  counters_.reloads_success.fetch_add(1);
  log_info("reloaded: serving config version " + std::to_string(runtime->version));
  outcome.ok = true;
  outcome.version = runtime->version;
  return outcome;
}

void Gateway::watch_config_file() {
  // Polling once a second is portable and cheap; inotify would miss editors that replace the
  // file by rename unless the directory is watched too.
  watch_timer_.expires_after(std::chrono::seconds(1));
  watch_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || draining_) return;
    bool watching;
    {
      std::lock_guard lock(mutex_);
      watching = runtime_->config->watch;
    }
    std::error_code mtime_ec;
    auto mtime = std::filesystem::last_write_time(config_path_, mtime_ec);
    if (!mtime_ec && mtime != config_mtime_) {
      config_mtime_ = mtime;
      if (watching) {
        log_info("config file changed: reloading");
        reload();
      }
    }
    watch_config_file();
  });
}

void Gateway::begin_drain() {
  if (draining_) return;
  draining_ = true;
  drain_started_ = std::chrono::steady_clock::now();
  signals_.cancel();
  watch_timer_.cancel();
  for (auto& worker : workers_) worker->begin_drain();
  poll_drain();
}

void Gateway::poll_drain() {
  std::size_t open = 0;
  for (auto& worker : workers_) open += worker->connection_count();
  auto limit = runtime_->config->server.drain_timeout;
  if (open == 0 || std::chrono::steady_clock::now() - drain_started_ >= limit) {
    if (open > 0 && !closing_upgraded_) {
      // Upgraded connections are closed first and given a moment to write their log lines.
      closing_upgraded_ = true;
      for (auto& worker : workers_) worker->close_upgraded();
      drain_timer_.expires_after(std::chrono::milliseconds(100));
      drain_timer_.async_wait([this](boost::system::error_code ec) {
        if (!ec) poll_drain();
      });
      return;
    }
    if (open > 0) log_warn("drain timeout: closing " + std::to_string(open) + " connection(s)");
    for (auto& worker : workers_) worker->stop();
    if (admin_) admin_->stop();
    control_.stop();
    return;
  }
  drain_timer_.expires_after(std::chrono::milliseconds(20));
  drain_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) poll_drain();
  });
}

std::string Gateway::render_metrics() {
  observability::MetricsShard total;
  for (auto& worker : workers_) total.add(worker->snapshot_metrics());
  std::string out;
  observability::render_prometheus(out, total, route_names_.names(), counters_);
  observability::render_series(out, total, series_.series());
  render_upstream_gauges(out);
  return out;
}

// Gauges read from the shared upstream state at scrape time.
void Gateway::render_upstream_gauges(std::string& out) {
  std::shared_ptr<const Runtime> runtime;
  {
    std::lock_guard lock(mutex_);
    runtime = runtime_;
  }
  auto now = upstream::Clock::now();
  out +=
      "# HELP portico_circuit_state Circuit breaker state by upstream: 0 closed, 1 half-open, 2 "
      "open.\n"
      "# TYPE portico_circuit_state gauge\n";
  for (const auto& upstream : runtime->upstreams) {
    auto* breaker = upstream.state->breaker();
    out += "portico_circuit_state{upstream=\"" + upstream.name + "\"} ";
    out += std::to_string(breaker ? static_cast<int>(breaker->state()) : 0);
    out += '\n';
  }
  out +=
      "# HELP portico_upstream_healthy Whether a target gets traffic: healthy and not ejected.\n"
      "# TYPE portico_upstream_healthy gauge\n";
  for (const auto& upstream : runtime->upstreams) {
    for (std::size_t i = 0; i < upstream.targets.size(); ++i) {
      out += "portico_upstream_healthy{upstream=\"" + upstream.name + "\",target=\"" +
             upstream.targets[i].key + "\"} ";
      out += upstream.state->available(i, now) ? '1' : '0';
      out += '\n';
    }
  }
}

json::value Gateway::routes_json() {
  std::shared_ptr<const Runtime> runtime;
  {
    std::lock_guard lock(mutex_);
    runtime = runtime_;
  }
  static constexpr const char* kinds[] = {"prefix", "path", "regex"};
  json::array routes;
  for (const auto& route : runtime->routes) {
    const auto& c = *route.config;
    json::object match;
    match[kinds[static_cast<int>(c.match.kind())]] = c.match.pattern();
    if (!c.match.methods.empty()) match["methods"] = json::value_from(c.match.methods);
    if (!c.match.host.empty()) match["host"] = c.match.host;
    json::object entry;
    entry["name"] = route.name;
    entry["match"] = std::move(match);
    json::array filters;
    if (!c.strip_prefix.empty()) filters.emplace_back("strip_prefix");
    if (!c.rewrite.empty()) filters.emplace_back("rewrite");
    if (!c.set_headers.empty()) filters.emplace_back("set_headers");
    if (!c.remove_headers.empty()) filters.emplace_back("remove_headers");
    if (!c.response_headers.empty()) filters.emplace_back("response_headers");
    entry["filters"] = std::move(filters);
    auto action = route.action->name();
    entry["action"] = std::string(action);
    if (action == "proxy") entry["upstream"] = runtime->upstreams[route.upstream].name;
    if (const auto* not_built =
            dynamic_cast<const actions::respond::NotBuiltAction*>(route.action.get()))
      entry["reason"] = not_built->reason();
    routes.push_back(std::move(entry));
  }
  return json::object{{"version", runtime->version}, {"routes", std::move(routes)}};
}

json::value Gateway::upstreams_json() {
  std::shared_ptr<const Runtime> runtime;
  {
    std::lock_guard lock(mutex_);
    runtime = runtime_;
  }
  std::map<std::string, std::uint64_t> open;
  for (auto& worker : workers_)
    for (const auto& [key, count] : worker->pool_counts()) open[key] += count;
  json::array upstreams;
  for (const auto& upstream : runtime->upstreams) {
    json::array targets;
    const auto& state = *upstream.state;
    auto now = upstream::Clock::now();
    for (std::size_t i = 0; i < upstream.targets.size(); ++i) {
      const auto& target = upstream.targets[i];
      targets.push_back(json::object{{"target", target.key},
                                     {"address", target.endpoint.address().to_string()},
                                     {"weight", target.weight},
                                     {"healthy", state.target(i).healthy()},
                                     {"ejected", state.target(i).ejected(now)},
                                     {"in_flight", state.target(i).in_flight()},
                                     {"active_connections", open[target.pool_key]}});
    }
    static constexpr const char* breaker_states[] = {"closed", "half_open", "open"};
    const auto* breaker = upstream.state->breaker();
    json::object entry{
        {"name", upstream.name},
        {"balance", upstream.config->balance},
        {"circuit_state", breaker_states[breaker ? static_cast<int>(breaker->state()) : 0]},
        {"panic", state.panic(now)},
        {"targets", std::move(targets)}};
    if (breaker) entry["in_flight"] = breaker->in_flight();
    upstreams.push_back(std::move(entry));
  }
  return json::object{{"upstreams", std::move(upstreams)}};
}

}  // namespace portico::proxy
