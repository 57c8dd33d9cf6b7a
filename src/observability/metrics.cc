#include "observability/metrics.h"

#include "observability/prometheus_text.h"

#include <algorithm>
#include <charconv>
#include <tuple>

namespace portico::observability {

std::uint32_t NameRegistry::id_of(std::string_view name) {
  std::lock_guard lock{mutex_};
  std::string key{name};
  if (auto it = ids_.find(key); it != ids_.end()) return it->second;
  auto id = static_cast<std::uint32_t>(names_.size());
  names_.push_back(key);
  ids_.emplace(std::move(key), id);
  return id;
}

std::vector<std::string> NameRegistry::names() const {
  std::lock_guard lock{mutex_};
  return names_;
}

namespace {

constexpr std::array<std::string_view, method_count> method_names = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "OTHER"};

}  // namespace

Method method_from(std::string_view method) {
  // Methods are case-sensitive (RFC 9110 9.1); "get" is some other method.
  for (std::size_t i = 0; i + 1 < method_names.size(); ++i) {
    if (method_names[i] == method) return static_cast<Method>(i);
  }
  return Method::Other;
}

std::string_view method_name(Method m) {
  auto i = static_cast<std::size_t>(m);
  return i < method_names.size() ? method_names[i] : method_names.back();
}

void Histogram::observe(double seconds) {
  ++count;
  sum += seconds;
  // Above the last bound the observation lives only in count, which is the +Inf bucket.
  auto it = std::lower_bound(duration_buckets.begin(), duration_buckets.end(), seconds);
  if (it != duration_buckets.end())
    ++buckets[static_cast<std::size_t>(it - duration_buckets.begin())];
}

void Histogram::add(const Histogram& other) {
  for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += other.buckets[i];
  count += other.count;
  sum += other.sum;
}

namespace {

void add_count(std::vector<RouteStats::Counter>& counters, Method method, std::uint16_t status,
               std::uint64_t n) {
  for (auto& c : counters) {
    if (c.method == method && c.status == status) {
      c.count += n;
      return;
    }
  }
  counters.push_back({method, status, n});
}

}  // namespace

void MetricsShard::record_request(std::uint32_t route_id, Method method, int status,
                                  double seconds) {
  if (route_id >= routes_.size()) routes_.resize(std::size_t{route_id} + 1);
  auto& route = routes_[route_id];
  add_count(route.requests, method, static_cast<std::uint16_t>(std::clamp(status, 0, 999)), 1);
  route.duration.observe(seconds);
}

void MetricsShard::add(const MetricsShard& other) {
  if (other.routes_.size() > routes_.size()) routes_.resize(other.routes_.size());
  for (std::size_t i = 0; i < other.routes_.size(); ++i) {
    const auto& from = other.routes_[i];
    auto& into = routes_[i];
    for (const auto& c : from.requests) add_count(into.requests, c.method, c.status, c.count);
    into.duration.add(from.duration);
  }
  active_connections_ += other.active_connections_;
  websocket_connections_ += other.websocket_connections_;
  http2_streams_ += other.http2_streams_;
  for (std::size_t i = 0; i < http2_goaways_.size(); ++i)
    http2_goaways_[i] += other.http2_goaways_[i];
  if (other.counters_.size() > counters_.size()) counters_.resize(other.counters_.size());
  for (std::size_t i = 0; i < other.counters_.size(); ++i) counters_[i] += other.counters_[i];
  if (other.histograms_.size() > histograms_.size()) histograms_.resize(other.histograms_.size());
  for (std::size_t i = 0; i < other.histograms_.size(); ++i)
    histograms_[i].add(other.histograms_[i]);
}

namespace {

using prometheus::append_bound;
using prometheus::append_label_value;
using prometheus::append_number;

void append_route_label(std::string& out, const std::vector<std::string>& names, std::size_t id) {
  out += "route=\"";
  if (id < names.size()) append_label_value(out, names[id]);
  out += '"';
}

void append_header(std::string& out, std::string_view name, std::string_view help,
                   std::string_view type) {
  prometheus::append_family_header(out, name, help, type);
}

}  // namespace

void render_prometheus(std::string& out, const MetricsShard& total,
                       const std::vector<std::string>& route_names,
                       const ProcessCounters& process) {
  const auto& routes = total.routes();

  append_header(out, "portico_requests_total", "Requests answered, by route, method and status.",
                "counter");
  for (std::size_t id = 0; id < routes.size(); ++id) {
    // Sorted so that successive scrapes list series in the same order, whatever the arrival order.
    auto counters = routes[id].requests;
    std::sort(counters.begin(), counters.end(), [](const auto& a, const auto& b) {
      return std::tie(a.method, a.status) < std::tie(b.method, b.status);
    });
    for (const auto& c : counters) {
      out += "portico_requests_total{";
      append_route_label(out, route_names, id);
      out += ",method=\"";
      out += method_name(c.method);
      out += "\",status=\"";
      append_number(out, c.status);
      out += "\"} ";
      append_number(out, c.count);
      out += '\n';
    }
  }

  append_header(out, "portico_request_duration_seconds",
                "Time from request head received to response complete, by route.", "histogram");
  for (std::size_t id = 0; id < routes.size(); ++id) {
    const auto& h = routes[id].duration;
    if (h.count == 0) continue;
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < duration_buckets.size(); ++b) {
      cumulative += h.buckets[b];
      out += "portico_request_duration_seconds_bucket{";
      append_route_label(out, route_names, id);
      out += ",le=\"";
      append_bound(out, duration_buckets[b]);
      out += "\"} ";
      append_number(out, cumulative);
      out += '\n';
    }
    out += "portico_request_duration_seconds_bucket{";
    append_route_label(out, route_names, id);
    out += ",le=\"+Inf\"} ";
    append_number(out, h.count);
    out += "\nportico_request_duration_seconds_sum{";
    append_route_label(out, route_names, id);
    out += "} ";
    append_number(out, h.sum);
    out += "\nportico_request_duration_seconds_count{";
    append_route_label(out, route_names, id);
    out += "} ";
    append_number(out, h.count);
    out += '\n';
  }

  append_header(out, "portico_active_connections", "Client connections open now.", "gauge");
  out += "portico_active_connections ";
  append_number(out, total.active_connections());
  out += '\n';
  append_header(out, "portico_websocket_connections", "Upgraded WebSocket connections open now.",
                "gauge");
  out += "portico_websocket_connections ";
  append_number(out, total.websocket_connections());
  out += '\n';
  append_header(out, "portico_http2_streams_total", "HTTP/2 streams opened by clients.",
                "counter");
  out += "portico_http2_streams_total ";
  append_number(out, total.http2_streams());
  out += '\n';
  append_header(out, "portico_http2_goaway_total",
                "HTTP/2 connections the gateway ended with GOAWAY, by reason.", "counter");
  for (std::size_t i = 1; i < http2_goaway_reasons.size(); ++i) {
    out += "portico_http2_goaway_total{reason=\"";
    out += http2_goaway_reasons[i];
    out += "\"} ";
    append_number(out, total.http2_goaways()[i]);
    out += '\n';
  }

  append_header(out, "portico_config_reloads_total", "Config reloads, by result.", "counter");
  out += "portico_config_reloads_total{result=\"success\"} ";
  append_number(out, process.reloads_success.load(std::memory_order_relaxed));
  out += "\nportico_config_reloads_total{result=\"failure\"} ";
  append_number(out, process.reloads_failure.load(std::memory_order_relaxed));
  out += '\n';
}

}  // namespace portico::observability
