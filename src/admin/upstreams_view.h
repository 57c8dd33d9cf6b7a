// What the admin listener shows of the upstreams of a runtime snapshot: GET /admin/upstreams,
// and the gauges /metrics reads from their shared state at scrape time.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <map>
#include <string>

#include "proxy/runtime.h"

namespace portico::admin {

// Open pooled connections by pool key, summed over the workers (Worker::pool_counts).
using OpenConnections = std::map<std::string, std::uint64_t>;

// {"upstreams": [{"name", "balance", "circuit_state", "panic", "targets": [...]}]}
boost::json::value upstreams_json(const proxy::Runtime& runtime, const OpenConnections& open);

// portico_circuit_state and portico_upstream_healthy, appended to `out` (Prometheus text).
void render_upstream_gauges(std::string& out, const proxy::Runtime& runtime);

}  // namespace portico::admin
