// Weighted random: a draw over the cumulative weights, O(log n).
#pragma once

#include <cstdint>
#include <vector>

#include "upstream/balancer.h"
#include "upstream/prng.h"

namespace portico::upstream {

class RandomBalancer final : public Balancer {
 public:
  RandomBalancer(std::shared_ptr<UpstreamState> state, std::uint64_t seed);

 private:
  std::size_t choose(std::uint64_t key_hash, const Eligible& eligible) override;

  Prng prng_;
  std::vector<std::uint64_t> cumulative_;  // cumulative_[i]: sum of weights 0..i
};

}  // namespace portico::upstream
