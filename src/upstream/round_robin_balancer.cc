#include "upstream/round_robin_balancer.h"

#include <numeric>

namespace portico::upstream {

RoundRobinBalancer::RoundRobinBalancer(std::shared_ptr<UpstreamState> state, std::uint64_t seed)
    : Balancer(std::move(state)), current_(this->state().size(), 0) {
  const UpstreamState& s = this->state();
  // The sequence for weights w is the one for w / gcd(w): its period is the sum of those.
  std::uint64_t divisor = 0;
  for (std::size_t i = 0; i < s.size(); ++i) divisor = std::gcd(divisor, s.target(i).weight());
  std::uint64_t period = 0;
  for (std::size_t i = 0; i < s.size(); ++i) period += s.target(i).weight() / divisor;
  if (period > max_schedule) return;
  // Run the live algorithm over one period with every target eligible.
  Eligible all(s, no_target, Clock::time_point{}, true);
  schedule_.reserve(period);
  for (std::uint64_t k = 0; k < period; ++k) {
    schedule_.push_back(static_cast<std::uint32_t>(step(all)));
  }
  cursor_ = seed % period;
}

std::size_t RoundRobinBalancer::choose(std::uint64_t, const Eligible& eligible) {
  if (schedule_.empty()) return step(eligible);
  const std::size_t start = cursor_;
  for (std::size_t walked = 0; walked < schedule_.size(); ++walked) {
    std::size_t i = schedule_[cursor_];
    if (++cursor_ == schedule_.size()) cursor_ = 0;
    if (eligible(i)) return i;
    // After a miss, make sure the walk can end well before going around the whole period.
    if (walked == 0 && !eligible.any()) break;
  }
  // Nothing chosen: the turn is not spent, so the caller's next try (panic mode, or a
  // retry's other target) continues the rotation where it stood.
  cursor_ = start;
  return no_target;
}

std::size_t RoundRobinBalancer::step(const Eligible& eligible) {
  // Each eligible target gains its weight; the one ahead is chosen and pays the total back.
  std::int64_t total = 0;
  std::size_t best = no_target;
  for (std::size_t i = 0; i < current_.size(); ++i) {
    if (!eligible(i)) continue;
    std::int64_t weight = state().target(i).weight();
    current_[i] += weight;
    total += weight;
    if (best == no_target || current_[i] > current_[best]) best = i;
  }
  if (best != no_target) current_[best] -= total;
  return best;
}

}  // namespace portico::upstream
