// Active health checks for one upstream's targets, run once per process on the control plane
// (not once per worker). Every target starts healthy; each is probed every `interval`; a healthy
// one turns unhealthy after `unhealthy_after` failures in a row, an unhealthy one healthy after
// `healthy_after` successes in a row. http: GET `path`, healthy on 2xx or 3xx within `timeout`;
// tcp: healthy when a connection opens within `timeout`.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "net/tls_client.h"

namespace portico::control {

struct HealthTarget {
  std::string label;  // as the upstream names it, for logs and the admin API
  boost::asio::ip::tcp::endpoint endpoint;
  std::string host_header;  // Host of http probes; empty: the endpoint's address
  net::TlsPeer tls;         // http probes of an https:// target go over TLS
};

class HealthChecker {
 public:
  // Called on the control thread at each transition, never after stop() has returned (so it
  // must not wait on a thread that is calling stop()).
  using Callback = std::function<void(std::size_t target_index, bool healthy)>;

  HealthChecker(config::HealthCheckConfig config, std::vector<HealthTarget> targets,
                Callback on_change);
  ~HealthChecker();  // stop(); probes in flight end on the executor without calling back
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Begins probing on `executor`, which must be single-threaded (the control plane's). Once.
  void start(boost::asio::any_io_executor executor);
  // Any thread, idempotent: closes the probes in flight and ends their loops.
  void stop();

  bool healthy(std::size_t target_index) const;  // a snapshot, from any thread
  std::size_t size() const;

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with the probe loops, which may outlive this
};

}  // namespace portico::control
