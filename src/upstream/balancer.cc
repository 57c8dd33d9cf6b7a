#include "upstream/balancer.h"

#include <stdexcept>

#include "upstream/consistent_hash_balancer.h"
#include "upstream/least_connections_balancer.h"
#include "upstream/random_balancer.h"
#include "upstream/round_robin_balancer.h"

namespace portico::upstream {

bool Eligible::any() const {
  for (std::size_t i = 0; i < state_.size(); ++i) {
    if ((*this)(i)) return true;
  }
  return false;
}

std::size_t Balancer::pick(std::uint64_t key_hash, std::size_t avoid, Clock::time_point now) {
  if (std::size_t i = choose(key_hash, Eligible(*state_, avoid, now, false)); i != no_target) {
    return i;
  }
  // The target already tried is the only available one: better it again than a broken one.
  if (avoid < state_->size() && state_->available(avoid, now)) return avoid;
  // Nothing available: panic mode.
  if (std::size_t i = choose(key_hash, Eligible(*state_, avoid, now, true)); i != no_target) {
    return i;
  }
  return avoid < state_->size() ? avoid : 0;  // a single target, already tried
}

std::unique_ptr<Balancer> make_balancer(const config::UpstreamConfig& config,
                                        std::shared_ptr<UpstreamState> state,
                                        std::shared_ptr<const MaglevTable> table,
                                        std::uint64_t seed) {
  if (config.balance == "round_robin") {
    return std::make_unique<RoundRobinBalancer>(std::move(state), seed);
  }
  if (config.balance == "least_connections") {
    return std::make_unique<LeastConnectionsBalancer>(std::move(state), seed);
  }
  if (config.balance == "random") return std::make_unique<RandomBalancer>(std::move(state), seed);
  if (config.balance == "consistent_hash") {
    if (!table) throw std::invalid_argument("consistent_hash needs the upstream's Maglev table");
    return std::make_unique<ConsistentHashBalancer>(std::move(state), std::move(table));
  }
  throw std::invalid_argument("unknown balance \"" + config.balance + "\"");
}

std::shared_ptr<const MaglevTable> make_maglev_table(const config::UpstreamConfig& config) {
  if (config.balance != "consistent_hash") return nullptr;
  return std::make_shared<const MaglevTable>(config.targets);
}

}  // namespace portico::upstream
