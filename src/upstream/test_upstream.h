// Config builders for the upstream tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "upstream/clock.h"

namespace portico::upstream::test {

// An upstream of targets 10.0.0.1:80, 10.0.0.2:80, ... with these weights.
inline config::UpstreamConfig upstream(std::vector<std::uint32_t> weights,
                                       std::string balance = "round_robin") {
  config::UpstreamConfig config;
  config.name = "test";
  config.balance = std::move(balance);
  for (std::size_t i = 0; i < weights.size(); ++i) {
    config::Target target;
    target.scheme = "http";
    target.host = "10.0.0." + std::to_string(i + 1);
    target.port = 80;
    target.url = "http://" + target.host + ":80";
    target.weight = weights[i];
    config.targets.push_back(target);
  }
  return config;
}

// A fixed instant to start a test's clock from.
inline Clock::time_point t0() {
  return Clock::time_point{} + std::chrono::hours(1);
}

}  // namespace portico::upstream::test
