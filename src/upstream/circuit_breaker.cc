#include "upstream/circuit_breaker.h"

#include <algorithm>

namespace portico::upstream {
namespace {

using State = CircuitBreaker::State;

constexpr std::uint64_t pack(State state, std::uint64_t payload) {
  return payload << 2 | static_cast<std::uint64_t>(state);
}
constexpr State state_of(std::uint64_t word) {
  return static_cast<State>(word & 3);
}
constexpr std::uint64_t payload_of(std::uint64_t word) {
  return word >> 2;
}

// Probe word and bucket word share one layout: a 24-bit tag over two 20-bit counters.
constexpr std::uint64_t counter_max = (1u << 20) - 1;
constexpr std::uint64_t tag_mask = (1u << 24) - 1;
constexpr std::uint64_t pack_counts(std::uint64_t tag, std::uint64_t high, std::uint64_t low) {
  return (tag & tag_mask) << 40 | high << 20 | low;
}
constexpr std::uint64_t tag_of(std::uint64_t word) {
  return word >> 40;
}
constexpr std::uint64_t high_of(std::uint64_t word) {
  return (word >> 20) & counter_max;
}
constexpr std::uint64_t low_of(std::uint64_t word) {
  return word & counter_max;
}

// Is episode `a` later than `b`? Serial-number arithmetic, so the 24-bit counter may wrap.
constexpr bool later(std::uint64_t a, std::uint64_t b) {
  std::uint64_t d = (a - b) & tag_mask;
  return d != 0 && d < (tag_mask + 1) / 2;
}

CircuitBreaker::Admission refused(std::int64_t wait_ns) {
  std::int64_t seconds = (std::max<std::int64_t>(wait_ns, 0) + 999'999'999) / 1'000'000'000;
  return {.allowed = false,
          .retry_after = std::chrono::seconds(std::max<std::int64_t>(seconds, 1))};
}

std::uint32_t clamp_count(int value, std::uint64_t high) {
  return static_cast<std::uint32_t>(std::clamp<std::int64_t>(value, 1, high));
}

}  // namespace

CircuitBreaker::CircuitBreaker(const config::CircuitBreakerConfig& config)
    : consecutive_limit_(clamp_count(config.consecutive_failures, UINT32_MAX)),
      failure_rate_(config.failure_rate),
      min_requests_(clamp_count(config.min_requests, UINT32_MAX)),
      open_for_(config.open_for),
      half_open_requests_(clamp_count(config.half_open_requests, counter_max)),
      bucket_width_(std::max<std::int64_t>(to_ticks(config.window) / bucket_count, 1)),
      max_requests_(config.max_requests.value_or(0)) {}

CircuitBreaker::State CircuitBreaker::state() const {
  return state_of(control_.load(std::memory_order_acquire));
}

// Orderings: control_ is read with acquire and changed with acq_rel CASes. close() resets the
// failure counters before its CAS to Closed, so a worker that sees Closed also sees the reset
// counters and its increments land after the reset, not under it. The counters themselves carry
// no other data and use relaxed operations.
CircuitBreaker::Admission CircuitBreaker::admit(Clock::time_point now) {
  for (;;) {
    std::uint64_t control = control_.load(std::memory_order_acquire);
    switch (state_of(control)) {
      case State::Closed:
        return {.allowed = true};
      case State::Open: {
        auto until = static_cast<std::int64_t>(payload_of(control));
        if (to_ticks(now) < until) return refused(until - to_ticks(now));
        // The episode number comes from the probe word: it moves only in half-open, and this
        // CAS fails if another worker half-opened (and maybe re-opened) meanwhile.
        std::uint64_t episode = (tag_of(probes_.load(std::memory_order_acquire)) + 1) & tag_mask;
        control_.compare_exchange_strong(control, pack(State::HalfOpen, episode),
                                         std::memory_order_acq_rel, std::memory_order_acquire);
        continue;
      }
      case State::HalfOpen: {
        bool stale = false;
        Admission admission = take_probe(static_cast<std::uint32_t>(payload_of(control)), stale);
        if (!stale) return admission;
        continue;  // the probe word is from a later episode: read the state again
      }
    }
  }
}

CircuitBreaker::Admission CircuitBreaker::take_probe(std::uint32_t episode, bool& stale) {
  // acq_rel: a worker that reads a later episode here then sees the state word that began it.
  std::uint64_t probes = probes_.load(std::memory_order_acquire);
  for (;;) {
    std::uint64_t next;
    if (tag_of(probes) == episode) {
      if (high_of(probes) >= half_open_requests_) return refused(0);  // probes are deciding
      next = probes + (std::uint64_t{1} << 20);
    } else if (later(tag_of(probes), episode)) {
      stale = true;
      return {};
    } else {
      next = pack_counts(episode, 1, 0);  // the first probe of this episode resets the counts
    }
    if (probes_.compare_exchange_weak(probes, next, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
      return {.allowed = true, .probe = true, .episode = episode};
    }
  }
}

void CircuitBreaker::record(bool success, const Admission& admission, Clock::time_point now) {
  std::uint64_t control = control_.load(std::memory_order_acquire);
  if (admission.probe) {
    if (control != pack(State::HalfOpen, admission.episode)) return;  // its episode is over
    if (!success) return open(control, now);
    std::uint64_t probes = probes_.load(std::memory_order_acquire);
    std::uint64_t next;
    do {
      if (tag_of(probes) != admission.episode) return;
      next = probes + 1;
    } while (!probes_.compare_exchange_weak(probes, next, std::memory_order_acq_rel,
                                            std::memory_order_acquire));
    if (low_of(next) >= half_open_requests_) close(control);
    return;
  }
  // Outcomes of requests admitted before the breaker opened say nothing about the next period.
  if (state_of(control) != State::Closed) return;
  if (success) {
    // Read first: a store on every success would bounce the cache line between cores.
    if (consecutive_failures_.load(std::memory_order_relaxed) != 0) {
      consecutive_failures_.store(0, std::memory_order_relaxed);
    }
  } else if (consecutive_failures_.fetch_add(1, std::memory_order_relaxed) + 1 >=
             consecutive_limit_) {
    return open(control, now);
  }
  if (!failure_rate_) return;
  count_in_window(success, to_ticks(now));
  if (!success && failure_rate_reached(to_ticks(now))) open(control, now);
}

void CircuitBreaker::count_in_window(bool success, std::int64_t now) {
  std::int64_t epoch = now / bucket_width_;
  auto& bucket = buckets_[epoch % bucket_count];
  std::uint64_t word = bucket.load(std::memory_order_relaxed);
  std::uint64_t failure = success ? 0 : 1;
  for (;;) {
    std::uint64_t next;
    if (tag_of(word) != (static_cast<std::uint64_t>(epoch) & tag_mask)) {
      next = pack_counts(epoch, 1, failure);  // left from an earlier window: start it over
    } else if (high_of(word) == counter_max) {
      return;  // saturated: the rest of this bucket is not sampled
    } else {
      next = word + (std::uint64_t{1} << 20) + failure;
    }
    if (bucket.compare_exchange_weak(word, next, std::memory_order_relaxed)) return;
  }
}

bool CircuitBreaker::failure_rate_reached(std::int64_t now) const {
  std::int64_t epoch = now / bucket_width_;
  std::uint64_t total = 0;
  std::uint64_t failures = 0;
  // The window is the current bucket and the bucket_count - 1 before it.
  for (std::int64_t e = epoch - bucket_count + 1; e <= epoch; ++e) {
    if (e < 0) continue;
    std::uint64_t word = buckets_[e % bucket_count].load(std::memory_order_relaxed);
    if (tag_of(word) != (static_cast<std::uint64_t>(e) & tag_mask)) continue;
    total += high_of(word);
    failures += low_of(word);
  }
  return total >= min_requests_ &&
         static_cast<double>(failures) >= *failure_rate_ * static_cast<double>(total);
}

void CircuitBreaker::open(std::uint64_t expected, Clock::time_point now) {
  auto until = static_cast<std::uint64_t>(std::max<std::int64_t>(to_ticks(now + open_for_), 0));
  // Fails when another worker changed the state first; its change stands.
  control_.compare_exchange_strong(expected, pack(State::Open, until), std::memory_order_acq_rel,
                                   std::memory_order_relaxed);
}

void CircuitBreaker::close(std::uint64_t expected) {
  consecutive_failures_.store(0, std::memory_order_relaxed);
  for (auto& bucket : buckets_) bucket.store(0, std::memory_order_relaxed);
  control_.compare_exchange_strong(expected, pack(State::Closed, 0), std::memory_order_acq_rel,
                                   std::memory_order_relaxed);
}

bool CircuitBreaker::try_begin() {
  if (max_requests_ == 0) return true;
  // A CAS rather than add-then-undo: a refused request never raises the count others see.
  std::uint64_t current = in_flight_.load(std::memory_order_relaxed);
  do {
    if (current >= max_requests_) return false;
  } while (!in_flight_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
  return true;
}

void CircuitBreaker::end() {
  if (max_requests_ != 0) in_flight_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace portico::upstream
