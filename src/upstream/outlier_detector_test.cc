#include "upstream/outlier_detector.h"

#include <gtest/gtest.h>

#include "upstream/test_upstream.h"
#include "upstream/upstream_state.h"

using namespace portico::upstream;
using namespace std::chrono_literals;
using portico::config::OutlierDetectionConfig;
using test::t0;

namespace {

UpstreamState detecting(std::size_t targets, double max_ejected) {
  auto config = test::upstream(std::vector<std::uint32_t>(targets, 1));
  config.outlier_detection = OutlierDetectionConfig{
      .consecutive_failures = 3, .eject_for = 30s, .max_ejected = max_ejected};
  return UpstreamState(config);
}

void fail(UpstreamState& state, std::size_t i, int times, Clock::time_point now) {
  for (int k = 0; k < times; ++k) state.record(i, false, now);
}

int ejected_count(const UpstreamState& state, Clock::time_point now) {
  int count = 0;
  for (std::size_t i = 0; i < state.size(); ++i) count += state.target(i).ejected(now);
  return count;
}

}  // namespace

TEST(OutlierDetector, EjectsATargetAfterConsecutiveFailuresUntilEjectForPasses) {
  auto state = detecting(4, 0.5);
  fail(state, 1, 2, t0());
  state.record(1, true, t0());  // not in a row any more
  fail(state, 1, 2, t0());
  EXPECT_FALSE(state.target(1).ejected(t0()));
  fail(state, 1, 1, t0());
  EXPECT_TRUE(state.target(1).ejected(t0()));
  EXPECT_FALSE(state.available(1, t0()));
  EXPECT_TRUE(state.target(1).ejected(t0() + 29s));
  EXPECT_FALSE(state.target(1).ejected(t0() + 30s));
  EXPECT_TRUE(state.available(1, t0() + 30s));
}

TEST(OutlierDetector, NeverEjectsMoreThanMaxEjectedAtOnce) {
  auto state = detecting(5, 0.5);
  ASSERT_EQ(state.outlier_detector()->max_ejected(), 2u);
  for (std::size_t i = 0; i < 5; ++i) fail(state, i, 3, t0());
  EXPECT_EQ(ejected_count(state, t0()), 2);
  EXPECT_TRUE(state.target(0).ejected(t0()));
  EXPECT_TRUE(state.target(1).ejected(t0()));
  // Once those ejections end, the others can be ejected in their turn.
  auto later = t0() + 30s;
  for (std::size_t i = 2; i < 5; ++i) fail(state, i, 3, later);
  EXPECT_EQ(ejected_count(state, later), 2);
  EXPECT_TRUE(state.target(2).ejected(later));
  EXPECT_TRUE(state.target(3).ejected(later));
}

TEST(OutlierDetector, DoesNotSpendASecondSlotOnAnEjectedTarget) {
  auto state = detecting(4, 0.5);
  fail(state, 0, 6, t0());  // in panic or in flight, an ejected target can keep failing
  fail(state, 1, 3, t0());
  EXPECT_EQ(ejected_count(state, t0()), 2);
}

TEST(OutlierDetector, MayAlwaysEjectOneTarget) {
  EXPECT_EQ(detecting(1, 0.1).outlier_detector()->max_ejected(), 1u);
  EXPECT_EQ(detecting(100, 0.29).outlier_detector()->max_ejected(), 29u);
  EXPECT_EQ(detecting(10, 0.0).outlier_detector()->max_ejected(), 0u);
}

TEST(UpstreamState, BuildsOnlyTheConfiguredParts) {
  UpstreamState plain(test::upstream({1, 2}));
  EXPECT_EQ(plain.breaker(), nullptr);
  EXPECT_EQ(plain.outlier_detector(), nullptr);
  EXPECT_EQ(plain.retry_budget(), nullptr);
  EXPECT_EQ(plain.target(1).weight(), 2u);
  plain.record(0, false, t0());  // no outlier detection: nothing happens
  EXPECT_TRUE(plain.available(0, t0()));
}
