#include "admin/upstreams_view.h"

#include <boost/json.hpp>

namespace portico::admin {

namespace json = boost::json;

json::value upstreams_json(const proxy::Runtime& runtime, const OpenConnections& open) {
  json::array upstreams;
  for (const auto& upstream : runtime.upstreams) {
    json::array targets;
    const auto& state = *upstream.state;
    auto now = upstream::Clock::now();
    for (std::size_t i = 0; i < upstream.targets.size(); ++i) {
      const auto& target = upstream.targets[i];
      auto pooled = open.find(target.pool_key);
      targets.push_back(json::object{
          {"target", target.key},
          {"address", target.endpoint.address().to_string()},
          {"weight", target.weight},
          {"healthy", state.target(i).healthy()},
          {"ejected", state.target(i).ejected(now)},
          {"in_flight", state.target(i).in_flight()},
          {"active_connections", pooled == open.end() ? std::uint64_t{0} : pooled->second}});
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

void render_upstream_gauges(std::string& out, const proxy::Runtime& runtime) {
  auto now = upstream::Clock::now();
  out +=
      "# HELP portico_circuit_state Circuit breaker state by upstream: 0 closed, 1 half-open, 2 "
      "open.\n"
      "# TYPE portico_circuit_state gauge\n";
  for (const auto& upstream : runtime.upstreams) {
    auto* breaker = upstream.state->breaker();
    out += "portico_circuit_state{upstream=\"" + upstream.name + "\"} ";
    out += std::to_string(breaker ? static_cast<int>(breaker->state()) : 0);
    out += '\n';
  }
  out +=
      "# HELP portico_upstream_healthy Whether a target gets traffic: healthy and not ejected.\n"
      "# TYPE portico_upstream_healthy gauge\n";
  for (const auto& upstream : runtime.upstreams) {
    for (std::size_t i = 0; i < upstream.targets.size(); ++i) {
      out += "portico_upstream_healthy{upstream=\"" + upstream.name + "\",target=\"" +
             upstream.targets[i].key + "\"} ";
      out += upstream.state->available(i, now) ? '1' : '0';
      out += '\n';
    }
  }
}

}  // namespace portico::admin
