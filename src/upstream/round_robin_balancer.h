// Smooth weighted round robin (nginx): weights 1:3 give B A B B, not A B B B. One period of the
// sequence is computed up front, so a pick is a step along it; targets that cannot take the
// request are passed over and the rest keep their exact shares.
#pragma once

#include <cstdint>
#include <vector>

#include "upstream/balancer.h"

namespace portico::upstream {

class RoundRobinBalancer final : public Balancer {
 public:
  // `seed` picks where in the period this worker starts, so workers do not move in step.
  RoundRobinBalancer(std::shared_ptr<UpstreamState> state, std::uint64_t seed);

 private:
  // Periods longer than this (weights like 9999:10000) are not tabled: nginx's O(n) step runs
  // on each pick instead.
  static constexpr std::size_t max_schedule = 4096;

  std::size_t choose(std::uint64_t key_hash, const Eligible& eligible) override;
  std::size_t step(const Eligible& eligible);  // one step of nginx's algorithm

  std::vector<std::uint32_t> schedule_;  // one period; empty when too long
  std::size_t cursor_ = 0;
  std::vector<std::int64_t> current_;  // nginx's per-target running weights
};

}  // namespace portico::upstream
