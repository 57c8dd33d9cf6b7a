// Proves the per-request paths allocate nothing: this binary's operator new counts calls.
#include <gtest/gtest.h>

#include "core/testing/allocation_counter.h"
#include "upstream/balancer.h"
#include "upstream/key_hash.h"
#include "upstream/retry_policy.h"
#include "upstream/test_upstream.h"

using namespace portico::upstream;
using namespace std::chrono_literals;

TEST(HotPath, PicksAdmitsAndRecordsWithoutAllocating) {
  auto config = test::upstream({1, 3, 2, 1});
  config.circuit_breaker = portico::config::CircuitBreakerConfig{
      .consecutive_failures = 5, .failure_rate = 0.5, .open_for = 10ms, .max_requests = 100};
  config.outlier_detection = portico::config::OutlierDetectionConfig{};
  config.retries.emplace().on = {"reset", "503"};
  auto state = std::make_shared<UpstreamState>(config);
  auto table_config = config;
  table_config.balance = "consistent_hash";
  auto table = make_maglev_table(table_config);
  std::vector<std::unique_ptr<Balancer>> balancers;
  for (const char* policy : {"round_robin", "least_connections", "random", "consistent_hash"}) {
    config.balance = policy;
    balancers.push_back(make_balancer(config, state, table, 3));
  }
  RetryPolicy policy(*config.retries);
  Prng prng(5);
  CircuitBreaker& breaker = *state->breaker();
  state->target(2).set_healthy(false);  // the skipping paths too

  int refused = 0;
  int probes = 0;
  const long before = portico::testing::allocations_so_far();
  auto now = test::t0();
  for (int k = 0; k < 10000; ++k) {
    now += 1ms;
    for (auto& balancer : balancers) {
      std::size_t target = balancer->pick(hash_bytes("client-key"), no_target, now);
      balancer->pick(prng.next(), target, now);
      if (k == 5000) state->target(2).set_healthy(true);
    }
    if (!breaker.try_begin()) continue;
    auto admission = breaker.admit(now);
    refused += !admission.allowed;
    probes += admission.probe;
    if (admission.allowed) {
      bool success = (k / 50) % 2 == 0;  // spells of failures: opens, half-opens, closes
      breaker.record(success, admission, now);
      state->record(k % 4, success, now);
    }
    breaker.end();
    auto request = state->retry_budget()->start_request();
    if (policy.retries_status(503) && policy.retries_method("GET")) {
      auto retry = state->retry_budget()->try_start_retry();
      policy.backoff(1, prng);
    }
  }
  EXPECT_EQ(portico::testing::allocations_so_far() - before, 0);
  EXPECT_GT(refused, 0);  // every state of the breaker was passed through
  EXPECT_GT(probes, 0);
}
