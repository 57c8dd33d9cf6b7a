// Picks the target of one attempt. Each worker owns its balancers (no sharing, no locks); the
// state they read (health, ejection, load) is the upstream's shared UpstreamState.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>

#include "config/config.h"
#include "upstream/clock.h"
#include "upstream/maglev_table.h"
#include "upstream/upstream_state.h"

namespace portico::upstream {

inline constexpr std::size_t no_target = std::numeric_limits<std::size_t>::max();

// Which targets a balancer may choose: available ones other than `avoid`, or in panic mode any
// other than `avoid`.
class Eligible {
 public:
  Eligible(const UpstreamState& state, std::size_t avoid, Clock::time_point now, bool panic)
      : state_(state), avoid_(avoid), now_(now), panic_(panic) {}

  bool operator()(std::size_t i) const {
    return i != avoid_ && (panic_ || state_.available(i, now_));
  }
  // O(n): for balancers whose search would otherwise walk a long table to find nothing.
  bool any() const;

 private:
  const UpstreamState& state_;
  std::size_t avoid_;
  Clock::time_point now_;
  bool panic_;
};

class Balancer {
 public:
  virtual ~Balancer() = default;

  // The target for an attempt. `key_hash` matters to consistent_hash only (hash_bytes() of
  // the key). `avoid` is a target this request already tried (no_target for none): it is
  // skipped while another target is usable. Unavailable targets are skipped unless none is
  // available (panic mode: all count as usable). O(1) expected, no allocation, no lock.
  std::size_t pick(std::uint64_t key_hash, std::size_t avoid, Clock::time_point now);

  UpstreamState& state() { return *state_; }

 protected:
  explicit Balancer(std::shared_ptr<UpstreamState> state) : state_(std::move(state)) {}
  // The policy's choice among the eligible targets, or no_target when there is none.
  virtual std::size_t choose(std::uint64_t key_hash, const Eligible& eligible) = 0;

 private:
  std::shared_ptr<UpstreamState> state_;
};

// The worker's balancer for `config.balance`. `table` is the upstream's shared Maglev table
// (make_maglev_table) for consistent_hash, else unused. `seed` should differ between workers
// (e.g. drawn from std::random_device once per worker). Throws std::invalid_argument on an
// unknown policy or a missing table.
std::unique_ptr<Balancer> make_balancer(const config::UpstreamConfig& config,
                                        std::shared_ptr<UpstreamState> state,
                                        std::shared_ptr<const MaglevTable> table,
                                        std::uint64_t seed);

// Built once per upstream per config and shared read-only; null unless consistent_hash.
std::shared_ptr<const MaglevTable> make_maglev_table(const config::UpstreamConfig& config);

}  // namespace portico::upstream
