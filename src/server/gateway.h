// The process: loads and compiles the config, runs the workers, the admin listener, DNS refresh
// and the signal handling; reloads by swapping snapshots; drains on SIGTERM/SIGINT.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "admin/admin_server.h"
#include "control/control_plane.h"
#include "control/dns_refresher.h"
#include "observability/access_log.h"
#include "observability/metrics.h"
#include "proxy/runtime.h"
#include "proxy/worker.h"

namespace portico::server {

struct Overrides {
  std::optional<int> workers;
  std::optional<std::string> log_level;
};

class Gateway {
 public:
  Gateway(std::string config_path, Overrides overrides);
  ~Gateway();
  int run();  // blocks until drained; the process exit code

 private:
  // Loads, validates and compiles; on failure returns null and fills `errors`.
  std::shared_ptr<const proxy::Runtime> build_runtime(std::vector<std::string>& errors);
  admin::ReloadOutcome reload();
  std::shared_ptr<const proxy::Runtime> current_runtime();
  // Makes `runtime` the one workers serve (each swaps between requests).
  void install(std::shared_ptr<const proxy::Runtime> runtime,
               std::shared_ptr<observability::AccessLogWriter> log);
  control::DnsRefresher::Snapshot dns_targets();
  void recompile_for_dns();  // same config, same version: hostnames resolved again
  void begin_drain();
  void poll_drain();
  void watch_config_file();  // with `watch: true`: reload when the file changes
  std::string render_metrics();
  std::shared_ptr<observability::AccessLogWriter> access_log_for(const config::Config& config);

  std::string config_path_;
  Overrides overrides_;
  boost::asio::io_context control_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer drain_timer_;
  boost::asio::steady_timer watch_timer_;
  std::filesystem::file_time_type config_mtime_{};
  std::chrono::steady_clock::time_point drain_started_;
  bool closing_upgraded_ = false;  // the drain has closed upgraded connections
  observability::NameRegistry route_names_;
  observability::SeriesRegistry series_;
  observability::ProcessCounters counters_;

  // Health checks, JWKS and introspection calls. Declared before the snapshots and workers so
  // that it outlives them: a snapshot's health checkers post their stop to it.
  control::ControlPlane background_;

  std::mutex mutex_;  // guards runtime_ and access_log_ (control plane only)
  std::shared_ptr<const proxy::Runtime> runtime_;
  std::shared_ptr<observability::AccessLogWriter> access_log_;
  std::string access_log_path_;
  std::uint64_t version_ = 0;

  std::vector<std::unique_ptr<proxy::Worker>> workers_;
  std::unique_ptr<admin::AdminServer> admin_;
  control::DnsRefresher dns_;
  bool draining_ = false;
};

}  // namespace portico::server
