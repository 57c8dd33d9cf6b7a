#include "upstream/random_balancer.h"

#include <algorithm>

namespace portico::upstream {

RandomBalancer::RandomBalancer(std::shared_ptr<UpstreamState> state, std::uint64_t seed)
    : Balancer(std::move(state)), prng_(seed) {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < this->state().size(); ++i) {
    sum += this->state().target(i).weight();
    cumulative_.push_back(sum);
  }
}

std::size_t RandomBalancer::choose(std::uint64_t, const Eligible& eligible) {
  // Drawing again after a miss keeps the weights of the eligible targets exact (rejection
  // sampling); after a few misses, draw over the eligible ones directly.
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::uint64_t r = prng_.below(cumulative_.back());
    auto i = static_cast<std::size_t>(std::upper_bound(cumulative_.begin(), cumulative_.end(), r) -
                                      cumulative_.begin());
    if (eligible(i)) return i;
  }
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < cumulative_.size(); ++i) {
    if (eligible(i)) total += state().target(i).weight();
  }
  if (total == 0) return no_target;
  std::uint64_t r = prng_.below(total);
  for (std::size_t i = 0; i < cumulative_.size(); ++i) {
    if (!eligible(i)) continue;
    std::uint64_t weight = state().target(i).weight();
    if (r < weight) return i;
    r -= weight;
  }
  return no_target;  // not reached: r < total
}

}  // namespace portico::upstream
