#include "observability/series.h"

#include <array>

#include "observability/metrics.h"
#include "observability/prometheus_text.h"

namespace portico::observability {

namespace {

struct FamilyInfo {
  std::string_view name;
  std::string_view help;
  bool histogram;
};

constexpr std::array<FamilyInfo, family_count> families = {{
    {"portico_upstream_requests_total",
     "Requests sent to upstream targets, by outcome (success, failure, timeout, retry).", false},
    {"portico_upstream_duration_seconds",
     "Time from sending a request upstream to its response head, by upstream.", true},
    {"portico_auth_failures_total", "Requests refused by authentication or authorization.", false},
    {"portico_rate_limited_total", "Requests refused by a rate limit policy.", false},
    {"portico_rate_limit_store_errors_total",
     "Rate limit decisions made without the shared store (it did not answer in time).", false},
    {"portico_cache_requests_total",
     "Requests to cached routes, by result (hit, miss, stale, bypass).", false},
}};

void append_histogram(std::string& out, std::string_view name, std::string_view labels,
                      const Histogram& h) {
  using prometheus::append_number;
  std::uint64_t cumulative = 0;
  auto sample = [&](std::string_view suffix, std::string_view le) {
    out += name;
    out += suffix;
    out += '{';
    out += labels;
    if (!le.empty()) {
      out += ",le=\"";
      out += le;
      out += '"';
    }
    out += "} ";
  };
  for (std::size_t b = 0; b < duration_buckets.size(); ++b) {
    cumulative += h.buckets[b];
    std::string bound;
    prometheus::append_bound(bound, duration_buckets[b]);
    sample("_bucket", bound);
    append_number(out, cumulative);
    out += '\n';
  }
  sample("_bucket", "+Inf");
  append_number(out, h.count);
  out += '\n';
  sample("_sum", {});
  append_number(out, h.sum);
  out += '\n';
  sample("_count", {});
  append_number(out, h.count);
  out += '\n';
}

}  // namespace

std::uint32_t SeriesRegistry::id_of(
    Family family, std::initializer_list<std::pair<std::string_view, std::string_view>> labels) {
  std::string rendered;
  for (const auto& [name, value] : labels) {
    if (!rendered.empty()) rendered += ',';
    rendered += name;
    rendered += "=\"";
    prometheus::append_label_value(rendered, value);
    rendered += '"';
  }
  std::string key = std::to_string(static_cast<int>(family)) + '|' + rendered;
  std::lock_guard lock{mutex_};
  if (auto it = ids_.find(key); it != ids_.end()) return it->second;
  auto id = static_cast<std::uint32_t>(series_.size());
  series_.push_back({family, std::move(rendered)});
  ids_.emplace(std::move(key), id);
  return id;
}

std::vector<SeriesRegistry::Series> SeriesRegistry::series() const {
  std::lock_guard lock{mutex_};
  return series_;
}

void render_series(std::string& out, const MetricsShard& total,
                   const std::vector<SeriesRegistry::Series>& series) {
  const auto& counters = total.counters();
  const auto& histograms = total.histograms();
  for (std::size_t f = 0; f < family_count; ++f) {
    const auto& info = families[f];
    prometheus::append_family_header(out, info.name, info.help,
                                     info.histogram ? "histogram" : "counter");
    for (std::size_t id = 0; id < series.size(); ++id) {
      if (static_cast<std::size_t>(series[id].family) != f) continue;
      if (info.histogram) {
        if (id < histograms.size() && histograms[id].count > 0)
          append_histogram(out, info.name, series[id].labels, histograms[id]);
        continue;
      }
      // A counter is listed from the moment its series exists, at 0, so that rate() sees the
      // first increase.
      out += info.name;
      out += '{';
      out += series[id].labels;
      out += "} ";
      prometheus::append_number(out, id < counters.size() ? counters[id] : 0);
      out += '\n';
    }
  }
}

}  // namespace portico::observability
