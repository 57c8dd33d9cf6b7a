#include "filters/rate_limit/gcra.h"

#include <gtest/gtest.h>

namespace portico::filters::rate_limit {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

GcraLimit per_second(std::uint64_t count, std::uint64_t burst) {
  return GcraLimit::of(core::Rate{count, std::chrono::seconds(1)}, burst);
}

TEST(Gcra, AdmitsTheBurstAtOnceThenRefuses) {
  GcraLimit limit = per_second(10, 5);
  std::int64_t tat = 0, now = 100 * kSecond;
  for (int i = 0; i < 5; ++i) {
    auto d = gcra_decide(tat, now, limit);
    ASSERT_TRUE(d.allowed) << i;
    EXPECT_EQ(d.remaining, 4 - i);
    tat = d.tat;
  }
  auto refused = gcra_decide(tat, now, limit);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.tat, tat);
  EXPECT_EQ(refused.retry_after, kSecond / 10);
  EXPECT_EQ(refused.reset, kSecond / 2);
}

TEST(Gcra, AdmitsOneMoreEveryInterval) {
  GcraLimit limit = per_second(4, 1);
  std::int64_t now = 10 * kSecond;
  auto first = gcra_decide(0, now, limit);
  ASSERT_TRUE(first.allowed);
  EXPECT_FALSE(gcra_decide(first.tat, now + kSecond / 4 - 1, limit).allowed);
  auto second = gcra_decide(first.tat, now + kSecond / 4, limit);
  EXPECT_TRUE(second.allowed);
  EXPECT_EQ(second.remaining, 0);
}

TEST(Gcra, AnIdleKeyIsAFullBucket) {
  GcraLimit limit = per_second(100, 200);
  auto d = gcra_decide(5 * kSecond, 60 * kSecond, limit);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 199);
  EXPECT_EQ(d.reset, kSecond / 100);
}

TEST(Gcra, PerMinuteRates) {
  GcraLimit limit = GcraLimit::of(core::Rate{60, std::chrono::minutes(1)}, 1);
  EXPECT_EQ(limit.interval, kSecond);
  auto first = gcra_decide(0, kSecond, limit);
  auto refused = gcra_decide(first.tat, kSecond + kSecond / 2, limit);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(ceil_seconds(refused.retry_after), 1);
}

TEST(Gcra, CeilSecondsRoundsUp) {
  EXPECT_EQ(ceil_seconds(0), 0);
  EXPECT_EQ(ceil_seconds(1), 1);
  EXPECT_EQ(ceil_seconds(kSecond), 1);
  EXPECT_EQ(ceil_seconds(kSecond + 1), 2);
}

}  // namespace
}  // namespace portico::filters::rate_limit
