#include "upstream/least_connections_balancer.h"

namespace portico::upstream {

std::size_t LeastConnectionsBalancer::lighter(std::size_t a, std::size_t b) {
  const TargetState& ta = state().target(a);
  const TargetState& tb = state().target(b);
  // in_flight_a / weight_a <= in_flight_b / weight_b, without a division.
  std::uint64_t load_a = std::uint64_t{ta.in_flight()} * tb.weight();
  std::uint64_t load_b = std::uint64_t{tb.in_flight()} * ta.weight();
  return load_b < load_a ? b : a;
}

std::size_t LeastConnectionsBalancer::choose(std::uint64_t, const Eligible& eligible) {
  const std::size_t n = state().size();
  if (n == 1) return eligible(0) ? 0 : no_target;
  // Two distinct targets, uniformly.
  std::size_t a = prng_.below(n);
  std::size_t b = prng_.below(n - 1);
  if (b >= a) ++b;
  bool a_ok = eligible(a);
  bool b_ok = eligible(b);
  if (a_ok && b_ok) return lighter(a, b);
  if (a_ok) return a;
  if (b_ok) return b;
  // Both drawn targets are out: the lightest of all eligible ones (O(n), only in this case),
  // scanning from a random start so ties do not all land on the first target.
  std::size_t best = no_target;
  std::size_t start = prng_.below(n);
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t i = (start + k) % n;
    if (eligible(i)) best = best == no_target ? i : lighter(best, i);
  }
  return best;
}

}  // namespace portico::upstream
