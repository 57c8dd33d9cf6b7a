// An upstream as compiled for the proxy action: its targets (resolved), timeouts, TLS, the
// state every worker shares (health, breaker, retry budget) and the balancing key. Built by
// compile_runtime, read by every request that goes to it.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "control/health_checker.h"
#include "upstream/balancer.h"
#include "upstream/retry_policy.h"
#include "upstream/upstream_state.h"

namespace boost::asio::ssl {
class context;
}

namespace portico::actions::proxy {

struct TargetRuntime {
  std::string key;       // "host:port" as configured: metrics, logs, admin
  std::string pool_key;  // key and resolved address: names the per-worker connection pool
  std::string host;
  std::uint16_t port = 0;
  std::uint32_t weight = 1;
  boost::asio::ip::tcp::endpoint endpoint;  // resolved when the config was compiled
  bool tls = false;                         // an https:// target
  std::string tls_server_name;              // SNI and the name its certificate must carry
  // portico_upstream_requests_total series of this target, by outcome.
  std::uint32_t success_series = 0, failure_series = 0, timeout_series = 0, retry_series = 0;
};

// Where consistent_hash takes its key from (`hash_key`).
struct HashKey {
  enum class Source { None, ClientIp, Header, Cookie, Claim, Path } source = Source::None;
  std::string name;  // header, cookie or claim name
};

struct UpstreamRuntime {
  std::string name;
  const config::UpstreamConfig* config = nullptr;
  std::vector<TargetRuntime> targets;
  config::UpstreamTimeouts timeouts;
  std::uint64_t max_connections = 1024;
  // Shared by every worker: health, ejection, load, breaker, retry budget.
  std::shared_ptr<upstream::UpstreamState> state;
  // TLS settings of the https:// targets (`tls:`); null when the upstream has none.
  std::shared_ptr<boost::asio::ssl::context> tls_context;
  bool tls_verify = true;
  std::shared_ptr<const upstream::MaglevTable> maglev;  // consistent_hash only
  std::optional<upstream::RetryPolicy> retry;
  HashKey hash_key;
  std::uint32_t duration_series = 0;  // portico_upstream_duration_seconds
  // Active health checks on the control plane; they stop with the last snapshot using them.
  std::shared_ptr<control::HealthChecker> health_checker;
  // The upstream's config and resolved addresses: a recompile that finds the same fingerprint
  // keeps the state, balancer table and health checker, so a reload or a DNS refresh that
  // changes nothing here loses no breaker, ejection or health history.
  std::string fingerprint;
};

// A piece of a `rewrite` template: literal text, or the value of a path parameter.
struct RewritePart {
  std::string text;
  bool is_param = false;
};

}  // namespace portico::actions::proxy
