#include <gtest/gtest.h>

#include "proxy/worker.h"

using namespace portico::proxy;

namespace {
std::vector<TargetRuntime> targets(std::initializer_list<std::uint32_t> weights) {
  std::vector<TargetRuntime> out;
  for (auto w : weights) {
    TargetRuntime t;
    t.weight = w;
    out.push_back(t);
  }
  return out;
}
}  // namespace

TEST(RoundRobin, SplitsEquallyWeightedTargetsInTurn) {
  auto ts = targets({1, 1, 1});
  RoundRobin rr;
  std::vector<std::size_t> picks;
  for (int i = 0; i < 6; ++i) picks.push_back(rr.pick(ts));
  EXPECT_EQ(picks, (std::vector<std::size_t>{0, 1, 2, 0, 1, 2}));
}

TEST(RoundRobin, FollowsWeightsAndInterleavesThem) {
  auto ts = targets({1, 3});
  RoundRobin rr;
  int counts[2] = {0, 0};
  int longest_run = 0, run = 0;
  std::size_t last = 99;
  for (int i = 0; i < 400; ++i) {
    auto p = rr.pick(ts);
    ++counts[p];
    run = p == last ? run + 1 : 1;
    longest_run = std::max(longest_run, run);
    last = p;
  }
  EXPECT_EQ(counts[0], 100);
  EXPECT_EQ(counts[1], 300);
  EXPECT_LE(longest_run, 3);  // smooth: the light target is never starved for a long stretch
}
