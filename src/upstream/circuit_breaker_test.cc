#include "upstream/circuit_breaker.h"

#include <gtest/gtest.h>

#include "upstream/test_upstream.h"

using namespace portico::upstream;
using namespace std::chrono_literals;
using portico::config::CircuitBreakerConfig;
using State = CircuitBreaker::State;
using test::t0;

namespace {

CircuitBreakerConfig breaker_config() {
  CircuitBreakerConfig config;
  config.consecutive_failures = 3;
  config.open_for = 30s;
  config.half_open_requests = 2;
  return config;
}

// Admits one request at `now` and records its outcome.
void request(CircuitBreaker& breaker, bool success, Clock::time_point now) {
  auto admission = breaker.admit(now);
  ASSERT_TRUE(admission.allowed);
  breaker.record(success, admission, now);
}

void trip(CircuitBreaker& breaker, Clock::time_point now) {
  for (int k = 0; k < 3; ++k) request(breaker, false, now);
  ASSERT_EQ(breaker.state(), State::Open);
}

}  // namespace

TEST(CircuitBreaker, ReportsStatesAsTheMetricNumbersThem) {
  EXPECT_EQ(static_cast<int>(State::Closed), 0);
  EXPECT_EQ(static_cast<int>(State::HalfOpen), 1);
  EXPECT_EQ(static_cast<int>(State::Open), 2);
}

TEST(CircuitBreaker, OpensAfterConsecutiveFailures) {
  CircuitBreaker breaker(breaker_config());
  request(breaker, false, t0());
  request(breaker, false, t0());
  request(breaker, true, t0());  // not in a row any more
  request(breaker, false, t0());
  request(breaker, false, t0());
  EXPECT_EQ(breaker.state(), State::Closed);
  request(breaker, false, t0());
  EXPECT_EQ(breaker.state(), State::Open);
}

TEST(CircuitBreaker, RefusesWhileOpenWithSecondsUntilHalfOpenRoundedUp) {
  CircuitBreaker breaker(breaker_config());
  trip(breaker, t0());
  auto refused = breaker.admit(t0());
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after, 30s);
  EXPECT_EQ(breaker.admit(t0() + 100ms).retry_after, 30s);
  EXPECT_EQ(breaker.admit(t0() + 28500ms).retry_after, 2s);
  EXPECT_EQ(breaker.admit(t0() + 29999ms).retry_after, 1s);
}

TEST(CircuitBreaker, IgnoresOutcomesOfRequestsAdmittedBeforeItOpened) {
  CircuitBreaker breaker(breaker_config());
  auto early = breaker.admit(t0());
  trip(breaker, t0());
  breaker.record(true, early, t0() + 1s);
  EXPECT_EQ(breaker.state(), State::Open);
}

TEST(CircuitBreaker, OpensOnTheFailureRateOnceMinRequestsAreSeen) {
  auto config = breaker_config();
  config.consecutive_failures = 1000;
  config.failure_rate = 0.5;
  config.min_requests = 10;
  CircuitBreaker breaker(config);
  for (int k = 0; k < 4; ++k) {
    request(breaker, false, t0());
    request(breaker, true, t0());
  }
  request(breaker, true, t0());
  EXPECT_EQ(breaker.state(), State::Closed);  // 4 of 9: under min_requests and under the rate
  request(breaker, false, t0() + 1s);
  EXPECT_EQ(breaker.state(), State::Open);  // 5 of 10
}

TEST(CircuitBreaker, StaysClosedUnderTheFailureRate) {
  auto config = breaker_config();
  config.consecutive_failures = 1000;
  config.failure_rate = 0.5;
  config.min_requests = 10;
  CircuitBreaker breaker(config);
  for (int k = 0; k < 100; ++k) {
    request(breaker, k % 3 != 0, t0() + k * 10ms);  // one failure in three
  }
  EXPECT_EQ(breaker.state(), State::Closed);
}

TEST(CircuitBreaker, ForgetsOutcomesOlderThanTheWindow) {
  auto config = breaker_config();
  config.consecutive_failures = 1000;
  config.failure_rate = 0.5;
  config.min_requests = 10;
  config.window = 10s;
  CircuitBreaker breaker(config);
  for (int k = 0; k < 5; ++k) request(breaker, false, t0());
  // 11 s later the five failures are out of the window: 1 failure of 6 is not enough.
  auto later = t0() + 11s;
  for (int k = 0; k < 5; ++k) request(breaker, true, later);
  request(breaker, false, later);
  EXPECT_EQ(breaker.state(), State::Closed);
  // Within the window they count: 5 failures of 10.
  for (int k = 0; k < 4; ++k) request(breaker, false, later + 9s);
  EXPECT_EQ(breaker.state(), State::Open);
}

TEST(CircuitBreaker, HalfOpensAfterOpenForAndLetsALimitedNumberOfProbes) {
  CircuitBreaker breaker(breaker_config());
  trip(breaker, t0());
  auto now = t0() + 30s;
  auto probe1 = breaker.admit(now);
  auto probe2 = breaker.admit(now);
  auto third = breaker.admit(now);
  EXPECT_TRUE(probe1.allowed && probe1.probe);
  EXPECT_TRUE(probe2.allowed && probe2.probe);
  EXPECT_FALSE(third.allowed);
  EXPECT_EQ(third.retry_after, 1s);
  EXPECT_EQ(breaker.state(), State::HalfOpen);
  breaker.record(true, probe1, now);
  EXPECT_EQ(breaker.state(), State::HalfOpen);
  EXPECT_FALSE(breaker.admit(now).allowed);  // the budget of probes is for the whole period
  breaker.record(true, probe2, now);
  EXPECT_EQ(breaker.state(), State::Closed);
  auto after = breaker.admit(now);
  EXPECT_TRUE(after.allowed);
  EXPECT_FALSE(after.probe);
}

TEST(CircuitBreaker, StartsCountingAfreshOnceClosedAgain) {
  CircuitBreaker breaker(breaker_config());
  trip(breaker, t0());
  auto now = t0() + 30s;
  request(breaker, true, now);
  request(breaker, true, now);
  ASSERT_EQ(breaker.state(), State::Closed);
  request(breaker, false, now);
  request(breaker, false, now);
  EXPECT_EQ(breaker.state(), State::Closed);
  request(breaker, false, now);
  EXPECT_EQ(breaker.state(), State::Open);
}

TEST(CircuitBreaker, ReopensForAnotherOpenForWhenAProbeFails) {
  CircuitBreaker breaker(breaker_config());
  trip(breaker, t0());
  auto now = t0() + 31s;
  auto probe1 = breaker.admit(now);
  auto probe2 = breaker.admit(now);
  breaker.record(true, probe1, now);
  breaker.record(false, probe2, now + 1s);
  EXPECT_EQ(breaker.state(), State::Open);
  EXPECT_EQ(breaker.admit(now + 1s).retry_after, 30s);
  EXPECT_FALSE(breaker.admit(now + 30s).allowed);
  EXPECT_TRUE(breaker.admit(now + 31s).probe);  // the next half-open period
}

TEST(CircuitBreaker, IgnoresLateProbesOfAnEarlierHalfOpenPeriod) {
  CircuitBreaker breaker(breaker_config());
  trip(breaker, t0());
  auto late = breaker.admit(t0() + 30s);
  auto failing = breaker.admit(t0() + 30s);
  breaker.record(false, failing, t0() + 30s);  // reopens until 60 s
  auto probe1 = breaker.admit(t0() + 60s);
  ASSERT_TRUE(probe1.probe);
  EXPECT_NE(probe1.episode, late.episode);
  breaker.record(true, late, t0() + 60s);  // from the first period: no vote
  breaker.record(true, probe1, t0() + 60s);
  EXPECT_EQ(breaker.state(), State::HalfOpen);
  auto probe2 = breaker.admit(t0() + 60s);
  ASSERT_TRUE(probe2.probe);
  breaker.record(true, probe2, t0() + 60s);
  EXPECT_EQ(breaker.state(), State::Closed);
}

TEST(CircuitBreaker, CapsRequestsInFlightAtMaxRequests) {
  auto config = breaker_config();
  config.max_requests = 2;
  CircuitBreaker breaker(config);
  EXPECT_TRUE(breaker.try_begin());
  EXPECT_TRUE(breaker.try_begin());
  EXPECT_FALSE(breaker.try_begin());
  EXPECT_EQ(breaker.in_flight(), 2u);
  breaker.end();
  EXPECT_TRUE(breaker.try_begin());
  EXPECT_FALSE(breaker.try_begin());
}

TEST(CircuitBreaker, HasNoCapWithoutMaxRequests) {
  CircuitBreaker breaker(breaker_config());
  for (int k = 0; k < 10000; ++k) ASSERT_TRUE(breaker.try_begin());
}
