// Prometheus metrics. Each worker owns a MetricsShard and is its only writer; a scrape copies
// every shard on its own worker thread (proxy::Worker::snapshot_metrics) and sums them here.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace portico::observability {

// Route names become small integer ids once, when a config is compiled, so that the request
// path indexes a vector instead of hashing a string.
class NameRegistry {
 public:
  std::uint32_t id_of(std::string_view name);  // interns; takes a lock (control plane only)
  std::vector<std::string> names() const;      // index = id
 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::uint32_t> ids_;
  std::vector<std::string> names_;
};

enum class Method : std::uint8_t {
  Get,
  Head,
  Post,
  Put,
  Delete,
  Patch,
  Options,
  Connect,
  Trace,
  Other
};
inline constexpr std::size_t method_count = 10;
Method method_from(std::string_view method);
std::string_view method_name(Method m);

inline constexpr std::array<double, 14> duration_buckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

struct Histogram {
  std::array<std::uint64_t, duration_buckets.size()> buckets{};  // non-cumulative counts
  std::uint64_t count = 0;
  double sum = 0;
  void observe(double seconds);
  void add(const Histogram& other);
};

struct RouteStats {
  // (method, status) -> count; a handful of entries per route, so a short vector beats a map.
  struct Counter {
    Method method;
    std::uint16_t status;
    std::uint64_t count;
  };
  std::vector<Counter> requests;
  Histogram duration;
};

class MetricsShard {
 public:
  void record_request(std::uint32_t route_id, Method method, int status, double seconds);
  // Labelled feature series (observability/series.h): ids from a SeriesRegistry.
  void count(std::uint32_t series_id, std::uint64_t n = 1) {
    if (series_id >= counters_.size()) counters_.resize(std::size_t{series_id} + 1);
    counters_[series_id] += n;
  }
  void observe(std::uint32_t series_id, double seconds) {
    if (series_id >= histograms_.size()) histograms_.resize(std::size_t{series_id} + 1);
    histograms_[series_id].observe(seconds);
  }
  void connection_opened() { ++active_connections_; }
  void connection_closed() { --active_connections_; }
  void websocket_opened() { ++websocket_connections_; }
  void websocket_closed() { --websocket_connections_; }
  void http2_stream() { ++http2_streams_; }
  // An HTTP/2 connection ended with GOAWAY; `reason` indexes http2_goaway_reasons.
  void http2_goaway(std::size_t reason) {
    if (reason < http2_goaways_.size()) ++http2_goaways_[reason];
  }

  // Sum of shards; called on the scraping thread with copies taken on each worker.
  void add(const MetricsShard& other);

  const std::vector<RouteStats>& routes() const { return routes_; }
  std::int64_t active_connections() const { return active_connections_; }
  std::int64_t websocket_connections() const { return websocket_connections_; }
  std::uint64_t http2_streams() const { return http2_streams_; }
  const auto& http2_goaways() const { return http2_goaways_; }
  const std::vector<std::uint64_t>& counters() const { return counters_; }
  const std::vector<Histogram>& histograms() const { return histograms_; }

 private:
  std::vector<RouteStats> routes_;       // index = route id
  std::vector<std::uint64_t> counters_;  // index = series id
  std::vector<Histogram> histograms_;    // index = series id
  std::int64_t active_connections_ = 0;
  std::int64_t websocket_connections_ = 0;
  std::uint64_t http2_streams_ = 0;
  std::array<std::uint64_t, 10> http2_goaways_{};
};

// The reasons of portico_http2_goaway_total, in http2::EndReason's order.
inline constexpr std::array<std::string_view, 10> http2_goaway_reasons = {
    "none",          "protocol_error", "rapid_reset",    "continuation_flood", "header_too_large",
    "control_flood", "outbound_flood", "header_timeout", "idle_timeout",       "drain"};

// Process-wide counters that are not per request.
struct ProcessCounters {
  std::atomic<std::uint64_t> reloads_success{0};
  std::atomic<std::uint64_t> reloads_failure{0};
};

// Prometheus text exposition (version 0.0.4) of the summed shards.
void render_prometheus(std::string& out, const MetricsShard& total,
                       const std::vector<std::string>& route_names, const ProcessCounters& process);

}  // namespace portico::observability
