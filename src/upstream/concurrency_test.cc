// Workers hammering one upstream's shared state at once; meant to run under ThreadSanitizer.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "upstream/balancer.h"
#include "upstream/prng.h"
#include "upstream/test_upstream.h"

using namespace portico::upstream;
using namespace std::chrono_literals;

namespace {

constexpr int threads = 4;
constexpr int rounds = 20000;

}  // namespace

TEST(Concurrency, WorkersShareBreakerOutliersAndTargetsConsistently) {
  auto config = test::upstream({1, 2, 1, 1, 3, 1, 1, 2});
  config.circuit_breaker = portico::config::CircuitBreakerConfig{
      .consecutive_failures = 20,
      .failure_rate = 0.5,
      .window = 50ms,
      .min_requests = 20,
      .open_for = 1ms,
      .half_open_requests = 3,
      .max_requests = 6,
  };
  config.outlier_detection = portico::config::OutlierDetectionConfig{
      .consecutive_failures = 3, .eject_for = 1ms, .max_ejected = 0.25};
  config.retries.emplace().attempts = 1;
  auto state = std::make_shared<UpstreamState>(config);
  auto table_config = config;
  table_config.balance = "consistent_hash";
  auto table = make_maglev_table(table_config);
  CircuitBreaker& breaker = *state->breaker();

  std::atomic<std::uint64_t> in_flight_seen{0};
  std::atomic<int> over_max_ejected{0};
  std::atomic<int> refused{0}, probes{0}, saw_ejections{0};
  std::vector<std::atomic<int>> probes_per_episode(1 << 16);
  std::atomic<bool> stop{false};

  // The health checker's thread flips targets while the workers pick.
  std::thread checker([&] {
    Prng prng(99);
    while (!stop.load()) {
      state->target(prng.below(state->size())).set_healthy(prng.below(4) != 0);
      std::this_thread::yield();
    }
  });

  std::vector<std::thread> workers;
  const char* policies[] = {"round_robin", "least_connections", "random", "consistent_hash"};
  for (int w = 0; w < threads; ++w) {
    workers.emplace_back([&, w] {
      auto worker_config = config;
      worker_config.balance = policies[w];
      auto balancer = make_balancer(worker_config, state, table, w + 1);
      Prng prng(w + 100);
      for (int k = 0; k < rounds; ++k) {
        auto now = Clock::now();
        std::size_t target = balancer->pick(prng.next(), no_target, now);
        EXPECT_LT(target, state->size());
        std::size_t retry_target = balancer->pick(prng.next(), target, now);
        EXPECT_LT(retry_target, state->size());
        if (!breaker.try_begin()) continue;
        auto admission = breaker.admit(now);
        if (admission.allowed) {
          if (admission.probe) {
            probes.fetch_add(1);
            probes_per_episode[admission.episode & 0xffff].fetch_add(1);
          }
          state->target(target).begin_request();
          in_flight_seen.store(std::max<std::uint64_t>(in_flight_seen.load(), breaker.in_flight()));
          // Spells of mostly failures, then of mostly successes: the breaker cycles.
          bool success = prng.below(10) < ((k / 500) % 2 ? 1u : 9u);
          state->record(target, success, now);
          // Ejections running at `check`: begun by then (another worker may have taken a freed
          // slot at a later `now` of its own) and not yet over.
          auto check = Clock::now();
          int ejected = 0;
          for (std::size_t i = 0; i < state->size(); ++i) {
            auto until = state->target(i).ejected_until();
            ejected += until > check && until - 1ms <= check;
          }
          if (ejected > 2) over_max_ejected.fetch_add(1);
          if (ejected > 0) saw_ejections.fetch_add(1);
          state->target(target).end_request();
          breaker.record(success, admission, Clock::now());
        } else {
          refused.fetch_add(1);
        }
        breaker.end();
        auto request = state->retry_budget()->start_request();
        if (auto retry = state->retry_budget()->try_start_retry()) {
          EXPECT_LE(state->retry_budget()->active_retries(), 4u * threads);
        }
      }
    });
  }
  for (auto& worker : workers) worker.join();
  stop.store(true);
  checker.join();

  // The test exercised what it checks: the breaker cycled, targets were ejected.
  EXPECT_GT(refused.load(), 0);
  EXPECT_GT(probes.load(), 0);
  EXPECT_GT(saw_ejections.load(), 0);
  EXPECT_LE(in_flight_seen.load(), 6u);
  EXPECT_EQ(breaker.in_flight(), 0u);
  EXPECT_EQ(over_max_ejected.load(), 0);
  for (std::size_t i = 0; i < state->size(); ++i) EXPECT_EQ(state->target(i).in_flight(), 0u);
  for (auto& probes : probes_per_episode) EXPECT_LE(probes.load(), 3);
  EXPECT_EQ(state->retry_budget()->active_requests(), 0u);
  EXPECT_EQ(state->retry_budget()->active_retries(), 0u);
}
