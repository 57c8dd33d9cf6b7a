#include "server/gateway.h"

#include <iostream>
#include <thread>

#include "admin/routes_view.h"
#include "admin/upstreams_view.h"
#include "config/config_json.h"
#include "config/config_loader.h"
#include "core/log.h"

namespace portico::server {

using core::log_error;
using core::log_info;
using core::log_warn;
using core::set_log_level;

Gateway::Gateway(std::string config_path, Overrides overrides)
    : config_path_(std::move(config_path)),
      overrides_(std::move(overrides)),
      signals_(control_, SIGINT, SIGTERM, SIGHUP),
      drain_timer_(control_),
      watch_timer_(control_),
      dns_(control_, {[this] { return dns_targets(); }, [this] { recompile_for_dns(); }}) {
  // Id 0 labels requests no route matched.
  route_names_.id_of("unmatched");
}

Gateway::~Gateway() = default;

std::shared_ptr<const proxy::Runtime> Gateway::build_runtime(std::vector<std::string>& errors) {
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
    proxy::CompileServices services{route_names_, series_, &background_, current_runtime()};
    auto runtime = proxy::compile_runtime(config, version_ + 1, services);
    for (const auto& warning : runtime->warnings) log_warn(warning);
    return runtime;
  } catch (const std::exception& e) {
    errors.push_back(config_path_ + ": " + e.what());
    return nullptr;
  }
}

std::shared_ptr<const proxy::Runtime> Gateway::current_runtime() {
  std::lock_guard lock(mutex_);
  return runtime_;
}

void Gateway::install(std::shared_ptr<const proxy::Runtime> runtime,
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

control::DnsRefresher::Snapshot Gateway::dns_targets() {
  auto runtime = current_runtime();
  control::DnsRefresher::Snapshot snapshot{runtime, {}};
  for (const auto& upstream : runtime->upstreams)
    for (const auto& target : upstream.targets)
      snapshot.targets.push_back(
          {target.host, target.port, target.key, target.endpoint,
           std::chrono::duration_cast<std::chrono::milliseconds>(upstream.config->dns_refresh)});
  return snapshot;
}

void Gateway::recompile_for_dns() {
  auto runtime = current_runtime();
  try {
    proxy::CompileServices services{route_names_, series_, &background_, runtime};
    auto fresh = proxy::compile_runtime(runtime->config, runtime->version, services);
    install(fresh, access_log_);
  } catch (const std::exception& e) {
    log_warn(std::string("dns: recompile failed: ") + e.what());
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
      workers_.push_back(std::make_unique<proxy::Worker>(count, runtime, access_log_));
      workers_.back()->listen(server.listen);
    }
    if (runtime->config->admin.listen) {
      admin::AdminHooks hooks;
      hooks.ready = [this] { return !draining_; };
      hooks.metrics = [this] { return render_metrics(); };
      hooks.routes = [this] { return admin::routes_json(*current_runtime()); };
      hooks.upstreams = [this] {
        admin::OpenConnections open;
        for (auto& worker : workers_)
          for (const auto& [key, count] : worker->pool_counts()) open[key] += count;
        return admin::upstreams_json(*current_runtime(), open);
      };
      hooks.config = [this] {
        std::lock_guard lock(mutex_);
        return config::config_to_json(*runtime_->config);
      };
      hooks.reload = [this] { return reload(); };
      hooks.purge_cache = [this](std::string prefix) -> boost::asio::awaitable<std::size_t> {
        auto runtime = current_runtime();
        if (!runtime->response_cache) co_return 0;
        co_return co_await runtime->response_cache->purge(control_, std::move(prefix));
      };
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
  dns_.start();
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
  dns_.stop();
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
  admin::render_upstream_gauges(out, *current_runtime());
  return out;
}

}  // namespace portico::server
