// Labelled series of the features (auth failures, upstream outcomes and durations...). A series
// is interned once, when a config is compiled, into a small id; a worker then bumps
// `MetricsShard::count(id)` or `observe(id, seconds)` without hashing or locking.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace portico::observability {

class MetricsShard;

// The metric families whose series are interned here; their HELP and TYPE live in series.cc.
enum class Family : std::uint8_t {
  UpstreamRequests,      // portico_upstream_requests_total{upstream,target,outcome}
  UpstreamDuration,      // portico_upstream_duration_seconds{upstream}
  AuthFailures,          // portico_auth_failures_total{route,provider,reason}
  RateLimited,           // portico_rate_limited_total{route,policy}
  RateLimitStoreErrors,  // portico_rate_limit_store_errors_total{store}
  CacheRequests,         // portico_cache_requests_total{route,result}
};
inline constexpr std::size_t family_count = 6;

class SeriesRegistry {
 public:
  // `labels` is the label pairs as pairs; values are escaped here. Thread-safe (control plane).
  std::uint32_t id_of(Family family,
                      std::initializer_list<std::pair<std::string_view, std::string_view>> labels);

  struct Series {
    Family family;
    std::string labels;  // rendered: upstream="a",target="b"
  };
  std::vector<Series> series() const;  // index = id

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::uint32_t> ids_;
  std::vector<Series> series_;
};

// Appends every family's HELP, TYPE and samples (counters or histograms) from the summed shard.
void render_series(std::string& out, const MetricsShard& total,
                   const std::vector<SeriesRegistry::Series>& series);

}  // namespace portico::observability
