#include "upstream/retry_policy.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "upstream/retry_budget.h"

using namespace portico::upstream;
using namespace std::chrono_literals;
using portico::config::RetryConfig;

namespace {

RetryConfig retries(std::vector<std::string> on, std::vector<std::string> methods = {}) {
  RetryConfig config;
  config.attempts = 2;
  config.on = std::move(on);
  config.methods = std::move(methods);
  return config;
}

}  // namespace

TEST(RetryPolicy, RetriesOnlyTheConfiguredConditions) {
  RetryPolicy policy(retries({"connect_failure", "timeout", "503"}));
  EXPECT_EQ(policy.attempts(), 2);
  EXPECT_TRUE(policy.retries(AttemptFailure::ConnectFailure));
  EXPECT_TRUE(policy.retries(AttemptFailure::Timeout));
  EXPECT_FALSE(policy.retries(AttemptFailure::Reset));
  EXPECT_TRUE(policy.retries_status(503));
  EXPECT_FALSE(policy.retries_status(502));
  EXPECT_FALSE(policy.retries_status(200));
  EXPECT_FALSE(policy.retries_status(0));
  EXPECT_FALSE(policy.retries_status(999));
}

TEST(RetryPolicy, RefusesAConditionTheParserWouldHaveRefused) {
  EXPECT_THROW(RetryPolicy(retries({"sometimes"})), std::invalid_argument);
  EXPECT_THROW(RetryPolicy(retries({"200"})), std::invalid_argument);
}

TEST(RetryPolicy, RetriesIdempotentMethodsByDefault) {
  RetryPolicy policy(RetryConfig{});
  for (const char* method : {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"}) {
    EXPECT_TRUE(policy.retries_method(method)) << method;
  }
  EXPECT_FALSE(policy.retries_method("POST"));
  EXPECT_FALSE(policy.retries_method("PATCH"));
  EXPECT_FALSE(policy.retries_method("get"));  // methods are case-sensitive
}

TEST(RetryPolicy, RetriesTheMethodsListedInstead) {
  RetryPolicy policy(retries({}, {"GET", "POST"}));
  EXPECT_TRUE(policy.retries_method("POST"));
  EXPECT_TRUE(policy.retries_method("GET"));
  EXPECT_FALSE(policy.retries_method("PUT"));
}

TEST(RetryPolicy, BacksOffWithFullJitterUnderADoublingCeiling) {
  RetryPolicy policy(retries({}));  // backoff: 25ms
  Prng prng(42);
  // Ceilings 25, 50, 100, 200 ms, then ten times the base.
  const std::vector<std::chrono::microseconds> ceilings = {25ms, 50ms, 100ms, 200ms, 250ms, 250ms};
  for (int retry = 1; retry <= 6; ++retry) {
    auto ceiling = ceilings[retry - 1];
    std::chrono::microseconds low = ceiling, high{0};
    for (int k = 0; k < 2000; ++k) {
      auto wait = policy.backoff(retry, prng);
      low = std::min(low, wait);
      high = std::max(high, wait);
    }
    EXPECT_GE(low.count(), 0) << retry;
    EXPECT_LT(low, ceiling / 20) << retry;
    EXPECT_LT(high, ceiling) << retry;
    EXPECT_GT(high, ceiling * 19 / 20) << retry;
  }
  EXPECT_LT(policy.backoff(60, prng), 250ms);  // no overflow on a silly retry number
}

TEST(RetryBudget, AllowsThreeRetriesWhateverTheLoad) {
  RetryBudget budget(0.2);
  std::vector<RetryBudget::ActiveRetry> retries;
  for (int k = 0; k < 3; ++k) {
    auto retry = budget.try_start_retry();
    ASSERT_TRUE(retry);
    retries.push_back(std::move(*retry));
  }
  EXPECT_FALSE(budget.try_start_retry());
  retries.pop_back();
  EXPECT_TRUE(budget.try_start_retry());
}

TEST(RetryBudget, AllowsItsShareOfActiveRequests) {
  RetryBudget budget(0.2);
  std::vector<RetryBudget::ActiveRequest> requests;
  for (int k = 0; k < 100; ++k) requests.push_back(budget.start_request());
  EXPECT_EQ(budget.active_requests(), 100u);
  std::vector<RetryBudget::ActiveRetry> retries;
  while (auto retry = budget.try_start_retry()) retries.push_back(std::move(*retry));
  EXPECT_EQ(retries.size(), 20u);
  EXPECT_EQ(budget.active_retries(), 20u);
  requests.clear();
  retries.clear();
  EXPECT_EQ(budget.active_requests(), 0u);
  EXPECT_EQ(budget.active_retries(), 0u);
}
