#include "upstream/balancer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "upstream/test_upstream.h"

using namespace portico::upstream;
using namespace std::chrono_literals;
using portico::config::OutlierDetectionConfig;
using test::t0;

namespace {

struct Fixture {
  explicit Fixture(portico::config::UpstreamConfig c, std::uint64_t seed = 7)
      : config(std::move(c)),
        state(std::make_shared<UpstreamState>(config)),
        balancer(make_balancer(config, state, make_maglev_table(config), seed)) {}

  std::map<std::size_t, int> count(int picks, std::size_t avoid = no_target) {
    std::map<std::size_t, int> counts;
    for (int k = 0; k < picks; ++k)
      ++counts[balancer->pick(k * 0x9e3779b97f4a7c15ULL, avoid, t0())];
    return counts;
  }

  portico::config::UpstreamConfig config;
  std::shared_ptr<UpstreamState> state;
  std::unique_ptr<Balancer> balancer;
};

// Outlier detection that ejects on the first failure, to eject targets in tests.
portico::config::UpstreamConfig ejecting(portico::config::UpstreamConfig config) {
  config.outlier_detection =
      OutlierDetectionConfig{.consecutive_failures = 1, .eject_for = 30s, .max_ejected = 1.0};
  return config;
}

}  // namespace

TEST(RoundRobinBalancer, SplitsEvenlyOverEqualWeights) {
  Fixture f(test::upstream({1, 1, 1}));
  auto counts = f.count(300);
  EXPECT_EQ(counts[0], 100);
  EXPECT_EQ(counts[1], 100);
  EXPECT_EQ(counts[2], 100);
}

TEST(RoundRobinBalancer, SplitsOneToThreeExactlyAndInterleaved) {
  Fixture f(test::upstream({1, 3}));
  std::string sequence;
  for (int k = 0; k < 400; ++k) sequence += f.balancer->pick(0, no_target, t0()) == 0 ? 'A' : 'B';
  EXPECT_EQ(std::count(sequence.begin(), sequence.end(), 'A'), 100);
  EXPECT_EQ(std::count(sequence.begin(), sequence.end(), 'B'), 300);
  // Smooth: every 4 picks in a row hold exactly one A (B A B B ..., never A A B B B B ...).
  for (std::size_t k = 0; k + 4 <= sequence.size(); ++k) {
    EXPECT_EQ(std::count(sequence.begin() + k, sequence.begin() + k + 4, 'A'), 1) << k;
  }
}

TEST(RoundRobinBalancer, KeepsExactSharesWithWeightsTooLongToTable) {
  Fixture f(test::upstream({4999, 5000}));  // a period of 9999 picks: the live algorithm
  auto counts = f.count(9999 * 2);
  EXPECT_EQ(counts[0], 4999 * 2);
  EXPECT_EQ(counts[1], 5000 * 2);
}

TEST(RoundRobinBalancer, WorkersWithOtherSeedsStartElsewhere) {
  std::set<std::size_t> first;
  for (std::uint64_t seed = 0; seed < 16; ++seed) {
    first.insert(Fixture(test::upstream({1, 1, 1, 1}), seed).balancer->pick(0, no_target, t0()));
  }
  EXPECT_GT(first.size(), 1u);
}

TEST(LeastConnectionsBalancer, PicksTheTargetWithFewerRequestsInFlight) {
  Fixture f(test::upstream({1, 1}, "least_connections"));
  for (int k = 0; k < 10; ++k) f.state->target(0).begin_request();
  // With two targets both choices are always drawn, so the lighter one always wins.
  EXPECT_EQ(f.count(1000)[1], 1000);
}

TEST(LeastConnectionsBalancer, NeverPicksTheBusiestOfSeveral) {
  Fixture f(test::upstream({1, 1, 1, 1}, "least_connections"));
  for (int k = 0; k < 50; ++k) f.state->target(2).begin_request();
  auto counts = f.count(4000);
  EXPECT_EQ(counts.count(2), 0u);
  EXPECT_GT(counts[0], 1000);  // the other three share
}

TEST(LeastConnectionsBalancer, ComparesLoadPerWeight) {
  Fixture f(test::upstream({1, 4}, "least_connections"));
  for (int k = 0; k < 2; ++k) f.state->target(0).begin_request();  // 2 per weight
  for (int k = 0; k < 6; ++k) f.state->target(1).begin_request();  // 1.5 per weight
  EXPECT_EQ(f.count(100)[1], 100);
  for (int k = 0; k < 3; ++k) f.state->target(1).begin_request();  // 2.25 per weight
  EXPECT_EQ(f.count(100)[0], 100);
}

TEST(RandomBalancer, RespectsWeightsOverManyPicks) {
  Fixture f(test::upstream({1, 2, 7}, "random"));
  auto counts = f.count(100000);
  EXPECT_NEAR(counts[0], 10000, 500);
  EXPECT_NEAR(counts[1], 20000, 1000);
  EXPECT_NEAR(counts[2], 70000, 3500);
}

TEST(MakeBalancer, RefusesAnUnknownPolicyAndAMissingTable) {
  auto config = test::upstream({1}, "fastest");
  auto state = std::make_shared<UpstreamState>(config);
  EXPECT_THROW(make_balancer(config, state, nullptr, 1), std::invalid_argument);
  config.balance = "consistent_hash";
  EXPECT_THROW(make_balancer(config, state, nullptr, 1), std::invalid_argument);
}

// Behaviour every policy shares.
class EveryBalancer : public ::testing::TestWithParam<std::string> {};

INSTANTIATE_TEST_SUITE_P(Policies, EveryBalancer,
                         ::testing::Values("round_robin", "least_connections", "random",
                                           "consistent_hash"));

TEST_P(EveryBalancer, AvoidsTheTargetAlreadyTried) {
  Fixture f(test::upstream({1, 2, 1}, GetParam()));
  for (std::size_t avoid = 0; avoid < 3; ++avoid) {
    auto counts = f.count(600, avoid);
    EXPECT_EQ(counts.count(avoid), 0u) << avoid;
  }
}

TEST_P(EveryBalancer, SkipsUnhealthyAndEjectedTargets) {
  Fixture f(ejecting(test::upstream({1, 1, 1, 1}, GetParam())));
  f.state->target(1).set_healthy(false);
  f.state->record(3, false, t0());
  ASSERT_TRUE(f.state->target(3).ejected(t0()));
  EXPECT_FALSE(f.state->panic(t0()));
  auto counts = f.count(1000);
  EXPECT_EQ(counts.count(1), 0u);
  EXPECT_EQ(counts.count(3), 0u);
  EXPECT_EQ(counts[0] + counts[2], 1000);
}

TEST_P(EveryBalancer, RetriesTheTriedTargetWhenItIsTheOnlyAvailableOne) {
  Fixture f(test::upstream({1, 1, 1}, GetParam()));
  f.state->target(0).set_healthy(false);
  f.state->target(2).set_healthy(false);
  EXPECT_EQ(f.count(100, 1)[1], 100);
}

TEST_P(EveryBalancer, SpreadsOverAllTargetsInPanicMode) {
  Fixture f(test::upstream({1, 1, 1}, GetParam()));
  for (std::size_t i = 0; i < 3; ++i) f.state->target(i).set_healthy(false);
  EXPECT_TRUE(f.state->panic(t0()));
  for (std::size_t i = 0; i < 3; ++i) EXPECT_TRUE(f.state->usable(i, t0()));
  auto counts = f.count(3000);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_GT(counts[i], 500) << i;
  // Still a different target for a retry.
  EXPECT_EQ(f.count(300, 0).count(0), 0u);
}

TEST_P(EveryBalancer, LeavesPanicModeWhenATargetRecovers) {
  Fixture f(test::upstream({1, 1, 1}, GetParam()));
  for (std::size_t i = 0; i < 3; ++i) f.state->target(i).set_healthy(false);
  f.state->target(2).set_healthy(true);
  EXPECT_FALSE(f.state->panic(t0()));
  EXPECT_FALSE(f.state->usable(0, t0()));
  EXPECT_EQ(f.count(300)[2], 300);
}

TEST_P(EveryBalancer, HandsASingleTargetEvenWhenTriedAndDown) {
  Fixture f(test::upstream({1}, GetParam()));
  f.state->target(0).set_healthy(false);
  EXPECT_EQ(f.balancer->pick(1, no_target, t0()), 0u);
  EXPECT_EQ(f.balancer->pick(1, 0, t0()), 0u);
}
