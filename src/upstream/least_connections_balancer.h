// Power of two random choices: of two targets drawn at random, the one with fewer requests in
// flight per unit of weight (TargetState::in_flight, counted across all workers).
#pragma once

#include <cstdint>

#include "upstream/balancer.h"
#include "upstream/prng.h"

namespace portico::upstream {

class LeastConnectionsBalancer final : public Balancer {
 public:
  LeastConnectionsBalancer(std::shared_ptr<UpstreamState> state, std::uint64_t seed)
      : Balancer(std::move(state)), prng_(seed) {}

 private:
  std::size_t choose(std::uint64_t key_hash, const Eligible& eligible) override;
  // Of a and b, the one with less load per weight; a on a tie.
  std::size_t lighter(std::size_t a, std::size_t b);

  Prng prng_;
};

}  // namespace portico::upstream
